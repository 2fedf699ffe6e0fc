"""OpenAI and any OpenAI-compatible server (Ollama, vLLM, llama.cpp server, LM Studio), over their wire protocol
with aiohttp (services.ai_runtime.providers.wire says why not the SDK)."""

from collections.abc import AsyncIterator
from typing import Any

from services.ai_runtime.providers.base import ChatRequest, ChatResult, EmbeddingResult, StreamChunk
from services.ai_runtime.providers.wire import FAILURES, Upstream, provider_error

OPENAI_BASE_URL = "https://api.openai.com/v1"
KEY_SETTING = "the provider key setting"


class OpenAIProvider:
    def __init__(self, name: str, *, api_key: str, base_url: str | None, timeout_seconds: float) -> None:
        self.name = name
        self.upstream = Upstream(base_url or OPENAI_BASE_URL, {"Authorization": f"Bearer {api_key}"})
        self.timeout_seconds = timeout_seconds

    async def aclose(self) -> None:
        await self.upstream.aclose()

    def _arguments(self, request: ChatRequest) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "model": request.model,
            "messages": request.messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.response_format:
            arguments["response_format"] = request.response_format
        if request.tools:
            arguments["tools"] = request.tools
            if request.tool_choice is not None:
                arguments["tool_choice"] = request.tool_choice
        return arguments

    async def complete(self, request: ChatRequest) -> ChatResult:
        try:
            body = await self.upstream.answer("/chat/completions", self._arguments(request), request.timeout_seconds)
            choice = body["choices"][0]
            message = choice["message"]
            usage = body.get("usage") or {}
            tool_calls = [
                {key: call[key] for key in ("id", "type", "function") if key in call}
                for call in message.get("tool_calls") or []
            ]
            return ChatResult(
                content=message.get("content") or "",
                finish_reason=choice.get("finish_reason"),
                prompt_tokens=usage.get("prompt_tokens"),
                completion_tokens=usage.get("completion_tokens"),
                tool_calls=tool_calls or None,
            )
        except FAILURES as exc:
            raise provider_error(self.name, exc, key_setting=KEY_SETTING) from exc

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        body = {**self._arguments(request), "stream": True, "stream_options": {"include_usage": True}}
        try:
            async with self.upstream.events("/chat/completions", body, request.timeout_seconds) as events:
                async for event in events:
                    if usage := event.get("usage"):
                        yield StreamChunk(
                            prompt_tokens=usage.get("prompt_tokens"), completion_tokens=usage.get("completion_tokens")
                        )
                    for choice in event.get("choices") or []:
                        delta = choice.get("delta") or {}
                        calls = delta.get("tool_calls")
                        yield StreamChunk(
                            delta=delta.get("content") or "",
                            finish_reason=choice.get("finish_reason"),
                            tool_calls=[_without_none(call) for call in calls] if calls else None,
                        )
        except FAILURES as exc:
            raise provider_error(self.name, exc, key_setting=KEY_SETTING) from exc

    async def embed(self, model: str, texts: list[str]) -> EmbeddingResult:
        body = {"model": model, "input": texts, "encoding_format": "float"}
        try:
            answer = await self.upstream.answer("/embeddings", body, self.timeout_seconds)
            vectors = [item["embedding"] for item in sorted(answer["data"], key=lambda item: item["index"])]
            usage = answer.get("usage") or {}
        except FAILURES as exc:
            raise provider_error(self.name, exc, key_setting=KEY_SETTING) from exc
        return EmbeddingResult(vectors=vectors, prompt_tokens=usage.get("prompt_tokens"))


def _without_none(value: dict[str, Any]) -> dict[str, Any]:
    """A streamed tool-call delta without its null fields (as the SDK's model_dump(exclude_none=True) gave)."""
    return {k: _without_none(v) if isinstance(v, dict) else v for k, v in value.items() if v is not None}
