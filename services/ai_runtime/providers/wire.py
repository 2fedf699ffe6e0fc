"""What the HTTP providers (OpenAI and compatible servers, Anthropic) share on the wire: one aiohttp session each,
the timeouts, error statuses mapped to ProviderError, and server-sent events.

The calls go over aiohttp, as the gateway's proxy does: this is the LLM path's hot loop, and an official SDK's client
(its request options, httpx2 and httpcore2) costs about 0.85 ms of CPU per call more than aiohttp on the same call
(docs/benchmarks.md, the LLM path), more than the rest of the ai-runtime's work on a proxied call. What the SDKs did
for us here is small and kept: the auth headers, the timeouts (connect and each read), the error body's message,
retry-after, and the server-sent events of a stream."""

import asyncio
import contextlib
import json
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from services.ai_runtime.providers.base import ProviderError, parse_retry_after

DRAIN_SECONDS = 0.25  # how long the end of a stream's body may take to follow its last event


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


def provider_error(provider: str, exc: Exception, *, key_setting: str) -> ProviderError:
    """One of FAILURES as the fallback chain reads it; `key_setting` names what to fix when the key is refused."""
    if isinstance(exc, TimeoutError):  # aiohttp's own timeouts are TimeoutErrors too
        return ProviderError(provider, "request timed out", retryable=True)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return ProviderError(provider, f"malformed response: {exc}", retryable=True)
    if isinstance(exc, aiohttp.ClientError):
        return ProviderError(provider, f"connection failed: {exc}", retryable=True)
    if isinstance(exc, UpstreamStatus):
        status, message = exc.status, _message(exc.body, exc.status)
        if status == 429 or status >= 500:  # Anthropic's 529 (overloaded) among them
            return ProviderError(
                provider, message, status=status, retryable=True, retry_after_seconds=parse_retry_after(exc.retry_after)
            )
        if status in (401, 403):
            return ProviderError(provider, f"rejected the API key ({status}): check {key_setting}", status=status)
        if status == 404:
            return ProviderError(provider, f"model not found: {message}", status=status)
        return ProviderError(provider, message, status=status, client_error=status in (400, 413, 422))
    if isinstance(exc, ValueError | KeyError | IndexError | AttributeError | TypeError):
        return ProviderError(provider, f"malformed response: {exc}", retryable=True)
    return ProviderError(provider, f"{type(exc).__name__}: {exc}", retryable=True)


def _message(body: bytes, status: int) -> str:
    """The error's own message (both vendors' {"error": {"message": …}}, or a bare {"message": …}), else the text."""
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


async def sse_events(
    response: aiohttp.ClientResponse, *, last_type: str | None = None
) -> AsyncIterator[dict[str, Any]]:
    """The JSON payload of each server-sent event: data lines joined, comments and other fields skipped. It ends at
    OpenAI's [DONE], at an event whose "type" is `last_type` (Anthropic's message_stop, yielded), or with the body.
    An event carrying "error" raises StreamedError."""
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
        if last_type is not None and event.get("type") == last_type:
            await _read_to_the_end(response)
            return


async def _read_to_the_end(response: aiohttp.ClientResponse) -> None:
    """What follows the last event (the end of the chunked body, sent with it or just after), read and dropped, so
    that the connection goes back to the pool: left unread, aiohttp closes it, and the next call pays for a new
    connection (measured: a third of streamed calls opened one). An upstream that holds the body open is cut after a
    moment."""
    with contextlib.suppress(TimeoutError, aiohttp.ClientError):
        async with asyncio.timeout(DRAIN_SECONDS):
            while await response.content.readany():
                pass


class Upstream:
    """One provider's base URL and headers over one aiohttp session, made in the event loop on the first call."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {**headers, "Content-Type": "application/json"}
        self.proxy = environment_proxy(self.base_url)
        self._session: aiohttp.ClientSession | None = None

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

    async def answer(self, path: str, body: dict[str, Any], timeout_seconds: float) -> Any:
        """The JSON answer to one POST, or UpstreamStatus for an error status."""
        async with self._post(path, body, timeout_seconds) as response:
            return json.loads(await (await _checked(response)).read())

    @contextlib.asynccontextmanager
    async def events(
        self, path: str, body: dict[str, Any], timeout_seconds: float, *, last_type: str | None = None
    ) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        """The streamed answer to one POST, as sse_events reads it, or UpstreamStatus for an error status. A context
        manager, so that a caller who stops early hands the connection back at once."""
        async with self._post(path, body, timeout_seconds) as response:
            yield sse_events(await _checked(response), last_type=last_type)

    def _post(self, path: str, body: dict[str, Any], timeout_seconds: float) -> Any:
        """The request as an async context manager; the timeout bounds the connection and each read, as the SDKs'
        did, so a long stream that keeps sending is never cut."""
        timeout = aiohttp.ClientTimeout(total=None, connect=timeout_seconds, sock_read=timeout_seconds)
        return self.session.post(f"{self.base_url}{path}", data=json.dumps(body), timeout=timeout, proxy=self.proxy)


def environment_proxy(url: str) -> str | None:
    """The outbound proxy HTTPS_PROXY / HTTP_PROXY name for `url` (None when NO_PROXY covers its host), read once,
    when the provider is made, as the SDKs' clients did. Not aiohttp's trust_env: that reads the environment and
    ~/.netrc again in a worker thread on every request."""
    parts = urllib.parse.urlsplit(url)
    if parts.hostname and urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme)


async def _checked(response: aiohttp.ClientResponse) -> aiohttp.ClientResponse:
    """The response, or UpstreamStatus for an error status (its body read for the message)."""
    if response.status >= 400:
        raise UpstreamStatus(response.status, await response.read(), response.headers.get("retry-after"))
    return response
