"""OpenAI and any OpenAI-compatible server (Ollama, vLLM, llama.cpp server, LM Studio), via the official SDK.

Chat calls go through the SDK's documented raw request (`client.post` with `cast_to=httpx2.Response`, or an
`AsyncStream` of plain dicts): its transport, auth, timeouts and error types, without its request transforms and
response models, which cost more CPU than the rest of a proxied call (docs/benchmarks.md, the LLM path)."""

from collections.abc import AsyncIterator
from typing import Any, cast

import httpx2
import openai

from services.ai_runtime.providers.base import (
    ChatRequest,
    ChatResult,
    EmbeddingResult,
    ProviderError,
    StreamChunk,
    parse_retry_after,
)


def _error(provider: str, exc: Exception) -> ProviderError:
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError(provider, "request timed out", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError(provider, f"connection failed: {exc}", retryable=True)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        retry_after = parse_retry_after(exc.response.headers.get("retry-after"))
        message = _message(exc)
        if status == 429 or status >= 500:
            return ProviderError(provider, message, status=status, retryable=True, retry_after_seconds=retry_after)
        if status in (401, 403):
            return ProviderError(
                provider, f"rejected the API key ({status}): check the provider key setting", status=status
            )
        if status == 404:
            return ProviderError(provider, f"model not found: {message}", status=status)
        return ProviderError(provider, message, status=status, client_error=status in (400, 413, 422))
    if isinstance(exc, openai.APIResponseValidationError | ValueError):
        return ProviderError(provider, f"malformed response: {exc}", retryable=True)
    return ProviderError(provider, f"{type(exc).__name__}: {exc}", retryable=True)


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    return str(exc.message)


class OpenAIProvider:
    def __init__(self, name: str, *, api_key: str, base_url: str | None, timeout_seconds: float) -> None:
        self.name = name
        # One retry loop for the whole runtime (services.ai_runtime.fallback): the SDK's own retries are off.
        self.client = openai.AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout_seconds)

    async def aclose(self) -> None:
        await self.client.close()

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
            response = await self.client.post(
                "/chat/completions",
                body=self._arguments(request),
                cast_to=httpx2.Response,
                options={"timeout": request.timeout_seconds},
            )
            body = response.json()
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
        except (openai.OpenAIError, ValueError, IndexError, KeyError, AttributeError, TypeError) as exc:
            raise _error(self.name, exc) from exc

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        try:
            stream = await self.client.post(
                "/chat/completions",
                body={**self._arguments(request), "stream": True, "stream_options": {"include_usage": True}},
                cast_to=object,
                options={"timeout": request.timeout_seconds},
                stream=True,
                stream_cls=openai.AsyncStream[object],
            )
            async for raw in stream:
                event = cast(dict[str, Any], raw)
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
        except (openai.OpenAIError, ValueError, KeyError, AttributeError, TypeError) as exc:
            raise _error(self.name, exc) from exc

    async def embed(self, model: str, texts: list[str]) -> EmbeddingResult:
        try:
            response = await self.client.embeddings.create(model=model, input=texts)
        except (openai.OpenAIError, ValueError, AttributeError, TypeError) as exc:
            raise _error(self.name, exc) from exc
        vectors = [item.embedding for item in sorted(response.data, key=lambda item: item.index)]
        return EmbeddingResult(vectors=vectors, prompt_tokens=response.usage.prompt_tokens if response.usage else None)


def _without_none(value: dict[str, Any]) -> dict[str, Any]:
    """A streamed tool-call delta without its null fields (as the SDK's model_dump(exclude_none=True) gave)."""
    return {k: _without_none(v) if isinstance(v, dict) else v for k, v in value.items() if v is not None}
