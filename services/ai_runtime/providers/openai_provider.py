"""OpenAI and any OpenAI-compatible server (Ollama, vLLM, llama.cpp server, LM Studio), over their wire protocol.

The calls go over aiohttp, as the gateway's proxy does: this is the LLM path's hot loop, and the official SDK's
client (its request options, httpx2 and httpcore2) cost about 0.85 ms of CPU per call more than aiohttp on the same
call (docs/benchmarks.md, the LLM path), more than the rest of the ai-runtime's work on a proxied call. What the SDK
did for us here is small and kept: bearer auth, the timeouts (connect and each read), the error body's message,
retry-after, and the server-sent events of a stream."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from services.ai_runtime.providers.base import (
    ChatRequest,
    ChatResult,
    EmbeddingResult,
    ProviderError,
    StreamChunk,
    parse_retry_after,
)

OPENAI_BASE_URL = "https://api.openai.com/v1"
DRAIN_SECONDS = 0.25  # how long the end of a stream's body may take to follow its [DONE]


class UpstreamStatus(Exception):
    def __init__(self, status: int, body: bytes, retry_after: str | None) -> None:
        super().__init__(status)
        self.status, self.body, self.retry_after = status, body, retry_after


class StreamedError(Exception):
    """An error event inside a stream that began well."""


# How a call can fail: an error status, an error event, the transport, or an answer not in the protocol's shape.
FAILURES = (
    UpstreamStatus,
    StreamedError,
    aiohttp.ClientError,
    TimeoutError,
    ValueError,
    KeyError,
    IndexError,
    AttributeError,
    TypeError,
)


def _error(provider: str, exc: Exception) -> ProviderError:
    if isinstance(exc, TimeoutError):  # aiohttp's own timeouts are TimeoutErrors too
        return ProviderError(provider, "request timed out", retryable=True)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return ProviderError(provider, f"malformed response: {exc}", retryable=True)
    if isinstance(exc, aiohttp.ClientError):
        return ProviderError(provider, f"connection failed: {exc}", retryable=True)
    if isinstance(exc, UpstreamStatus):
        status, message = exc.status, _message(exc.body, exc.status)
        if status == 429 or status >= 500:
            return ProviderError(
                provider, message, status=status, retryable=True, retry_after_seconds=parse_retry_after(exc.retry_after)
            )
        if status in (401, 403):
            return ProviderError(
                provider, f"rejected the API key ({status}): check the provider key setting", status=status
            )
        if status == 404:
            return ProviderError(provider, f"model not found: {message}", status=status)
        return ProviderError(provider, message, status=status, client_error=status in (400, 413, 422))
    if isinstance(exc, ValueError | KeyError | IndexError | AttributeError | TypeError):
        return ProviderError(provider, f"malformed response: {exc}", retryable=True)
    return ProviderError(provider, f"{type(exc).__name__}: {exc}", retryable=True)


def _message(body: bytes, status: int) -> str:
    """The error's own message (OpenAI's {"error": {"message": …}}, or a bare {"message": …}), else the text."""
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        error = parsed.get("error", parsed)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    text = body.decode("utf-8", "replace").strip()[:500]
    return f"Error code: {status}" + (f" - {text}" if text else "")


async def _events(response: aiohttp.ClientResponse) -> AsyncIterator[dict[str, Any]]:
    """The JSON payload of each server-sent event until [DONE]: data lines joined, comments and other fields
    skipped."""
    data: list[str] = []
    async for raw in response.content:
        line = raw.decode("utf-8").rstrip("\r\n")
        if line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
            continue
        if line or not data:
            continue
        payload, data = "\n".join(data), []
        if payload.startswith("[DONE]"):
            await _read_to_the_end(response)
            return
        event = json.loads(payload)
        if isinstance(event, dict) and event.get("error"):
            error = event["error"]
            raise StreamedError(error.get("message", str(error)) if isinstance(error, dict) else str(error))
        yield event


async def _read_to_the_end(response: aiohttp.ClientResponse) -> None:
    """What follows [DONE] (the end of the chunked body, sent with it or just after), read and dropped, so that the
    connection goes back to the pool: left unread, aiohttp closes it, and the next call pays for a new connection
    (measured: a third of streamed calls opened one). An upstream that holds the body open is cut after a moment."""
    with contextlib.suppress(TimeoutError, aiohttp.ClientError):
        async with asyncio.timeout(DRAIN_SECONDS):
            while await response.content.readany():
                pass


class OpenAIProvider:
    def __init__(self, name: str, *, api_key: str, base_url: str | None, timeout_seconds: float) -> None:
        self.name = name
        self.base_url = (base_url or OPENAI_BASE_URL).rstrip("/")
        self.headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        self.timeout_seconds = timeout_seconds
        self._session: aiohttp.ClientSession | None = None  # made in the event loop, on the first call

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            # One retry loop for the whole runtime (services.ai_runtime.fallback): no retries here.
            self._session = aiohttp.ClientSession(
                headers=self.headers, connector=aiohttp.TCPConnector(limit=1000), raise_for_status=False
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

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

    def _post(self, path: str, body: dict[str, Any], timeout_seconds: float) -> Any:
        """The request as an async context manager; the timeout bounds the connection and each read, as the SDK's
        did, so a long stream that keeps sending is never cut."""
        timeout = aiohttp.ClientTimeout(total=None, connect=timeout_seconds, sock_read=timeout_seconds)
        return self.session.post(f"{self.base_url}{path}", data=json.dumps(body), timeout=timeout)

    @staticmethod
    async def _checked(response: aiohttp.ClientResponse) -> None:
        if response.status >= 400:
            raise UpstreamStatus(response.status, await response.read(), response.headers.get("retry-after"))

    async def complete(self, request: ChatRequest) -> ChatResult:
        try:
            async with self._post("/chat/completions", self._arguments(request), request.timeout_seconds) as response:
                await self._checked(response)
                body = json.loads(await response.read())
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
            raise _error(self.name, exc) from exc

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        body = {**self._arguments(request), "stream": True, "stream_options": {"include_usage": True}}
        try:
            async with self._post("/chat/completions", body, request.timeout_seconds) as response:
                await self._checked(response)
                async for event in _events(response):
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
            raise _error(self.name, exc) from exc

    async def embed(self, model: str, texts: list[str]) -> EmbeddingResult:
        body = {"model": model, "input": texts, "encoding_format": "float"}
        try:
            async with self._post("/embeddings", body, self.timeout_seconds) as response:
                await self._checked(response)
                answer = json.loads(await response.read())
            vectors = [item["embedding"] for item in sorted(answer["data"], key=lambda item: item["index"])]
            usage = answer.get("usage") or {}
        except FAILURES as exc:
            raise _error(self.name, exc) from exc
        return EmbeddingResult(vectors=vectors, prompt_tokens=usage.get("prompt_tokens"))


def _without_none(value: dict[str, Any]) -> dict[str, Any]:
    """A streamed tool-call delta without its null fields (as the SDK's model_dump(exclude_none=True) gave)."""
    return {k: _without_none(v) if isinstance(v, dict) else v for k, v in value.items() if v is not None}
