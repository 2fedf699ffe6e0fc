"""The OpenAI wire protocol as the provider speaks it (aiohttp, no SDK), against a local server that answers as
OpenAI-compatible servers do, including the parts of server-sent events and errors a plain happy path never shows."""

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from services.ai_runtime.providers.base import ChatRequest, ProviderError, StreamChunk
from services.ai_runtime.providers.openai_provider import OpenAIProvider
from tests.ai_runtime.providers.support import against, stream_of, used_once
from tests.support import free_port

REQUEST = ChatRequest(model="m", messages=[{"role": "user", "content": "hi"}], max_tokens=8, temperature=0)


def upstream(events: list[str] | None = None, *, status: int = 200, body: Any = None) -> FastAPI:
    """A server answering every chat call with `events` (raw SSE text) or with `status` and a JSON `body`; it keeps
    what it was sent."""
    app = FastAPI()
    app.state.received = []

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        app.state.received.append(
            {
                "body": await request.json(),
                "authorization": request.headers["authorization"],
            }
        )
        if events is None:
            return JSONResponse(body, status_code=status)

        async def stream() -> AsyncIterator[str]:
            for event in events:
                yield event

        return StreamingResponse(stream(), media_type="text/event-stream")

    return app


def chunk(content: str) -> str:
    return json.dumps({"choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]})


def compatible(url: str) -> OpenAIProvider:
    return OpenAIProvider("openai_compatible", api_key="sk-test", base_url=f"{url}/v1", timeout_seconds=5)


def call(app: FastAPI, use: Callable[[OpenAIProvider], Awaitable[Any]]) -> Any:
    return against(app, compatible, use)


async def streamed(provider: OpenAIProvider) -> list[StreamChunk]:
    return await stream_of(provider, REQUEST)


def test_a_stream_with_comments_fields_and_split_data_lines_is_read_as_the_protocol_defines() -> None:
    split = chunk("world").replace(', "finish_reason"', '\ndata: , "finish_reason"')
    events = [
        ": keep-alive comment\n\n",
        f"event: message\nid: 1\ndata: {chunk('Hello ')}\r\n\r\n",
        f"data: {split}\n\n",
        "retry: 1000\n\n",
        "data: [DONE]\n\n",
        f"data: {chunk('after the end')}\n\n",
    ]
    pieces = call(upstream(events), streamed)
    assert "".join(p.delta for p in pieces) == "Hello world"


def test_streams_reuse_one_upstream_connection_instead_of_opening_one_per_call() -> None:
    app = FastAPI()
    app.state.received = []

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        app.state.received.append({"client_port": request.client.port if request.client else None})

        async def stream() -> AsyncIterator[str]:
            yield f"data: {chunk('Hi')}\n\ndata: [DONE]\n\n"
            await asyncio.sleep(0.05)  # the body's end comes a moment after [DONE], in its own packet

        return StreamingResponse(stream(), media_type="text/event-stream")

    async def five_streams(provider: OpenAIProvider) -> None:
        for _ in range(5):
            assert "".join(p.delta for p in await streamed(provider)) == "Hi"

    call(app, five_streams)
    assert len({received["client_port"] for received in app.state.received}) == 1


def test_an_upstream_that_holds_its_body_open_after_done_does_not_hold_the_caller() -> None:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat() -> Response:
        async def stream() -> AsyncIterator[str]:
            yield f"data: {chunk('Hi')}\n\ndata: [DONE]\n\n"
            await asyncio.sleep(30)

        return StreamingResponse(stream(), media_type="text/event-stream")

    async def timed(provider: OpenAIProvider) -> tuple[str, float]:
        started = asyncio.get_running_loop().time()
        text = "".join(p.delta for p in await streamed(provider))
        return text, asyncio.get_running_loop().time() - started

    text, seconds = call(app, timed)
    assert text == "Hi" and seconds < 2


def test_an_error_event_inside_a_stream_is_a_retryable_failure_not_a_silent_end() -> None:
    events = [f"data: {chunk('Hel')}\n\n", 'data: {"error": {"message": "upstream overloaded"}}\n\n']
    with pytest.raises(ProviderError) as failure:
        call(upstream(events), streamed)
    assert failure.value.retryable and "upstream overloaded" in failure.value.message


def test_a_rejected_provider_key_is_reported_as_a_setting_to_fix_and_not_retried() -> None:
    app = upstream(status=401, body={"error": {"message": "Incorrect API key provided"}})
    with pytest.raises(ProviderError) as failure:
        call(app, lambda provider: provider.complete(REQUEST))
    assert (failure.value.status, failure.value.retryable) == (401, False)
    assert "provider key setting" in failure.value.message
    assert app.state.received[0]["authorization"] == "Bearer sk-test"


def test_an_error_body_that_is_not_json_keeps_its_text() -> None:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat() -> Response:
        return Response("<html>bad gateway</html>", status_code=502, media_type="text/html")

    with pytest.raises(ProviderError) as failure:
        call(app, lambda provider: provider.complete(REQUEST))
    assert (failure.value.status, failure.value.retryable) == (502, True)
    assert "bad gateway" in failure.value.message


def test_an_upstream_that_is_down_is_a_retryable_connection_failure() -> None:
    provider = compatible(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ProviderError) as failure:
        used_once(provider, lambda provider: provider.complete(REQUEST))
    assert failure.value.retryable and "connection failed" in failure.value.message
