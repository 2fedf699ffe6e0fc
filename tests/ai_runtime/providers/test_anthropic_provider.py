"""Anthropic's Messages API as the provider speaks it (aiohttp, no SDK), against a local server that answers as the
API does: named events, pings, an error event inside a stream, error statuses with their JSON bodies."""

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from services.ai_runtime.providers.anthropic_provider import API_VERSION, AnthropicProvider
from services.ai_runtime.providers.base import ChatRequest, ProviderError, StreamChunk
from tests.ai_runtime.providers.support import against, stream_of

REQUEST = ChatRequest(model="claude-test", messages=[{"role": "user", "content": "hi"}], max_tokens=8, temperature=0)


def event(name: str, **data: Any) -> str:
    return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n"


def text_stream(*words: str) -> list[str]:
    usage = {"input_tokens": 4, "output_tokens": 1}
    return [
        event("message_start", message={"id": "msg_1", "role": "assistant", "content": [], "usage": usage}),
        event("content_block_start", index=0, content_block={"type": "text", "text": ""}),
        event("ping"),
        *(event("content_block_delta", index=0, delta={"type": "text_delta", "text": word}) for word in words),
        event("content_block_stop", index=0),
        event("message_delta", delta={"stop_reason": "end_turn"}, usage={"output_tokens": len(words)}),
        event("message_stop"),
    ]


def messages_api(answer: Callable[[dict[str, Any]], Awaitable[Response]]) -> FastAPI:
    """POST /v1/messages answered by `answer`; what each call sent is kept in app.state.received."""
    app = FastAPI()
    app.state.received = []

    @app.post("/v1/messages")
    async def messages(request: Request) -> Response:
        sent = {
            "body": await request.json(),
            "headers": dict(request.headers),
            "port": request.client.port if request.client else None,
        }
        app.state.received.append(sent)
        return await answer(sent)

    return app


def sse(events: list[str], *, then_wait: float = 0) -> Callable[[dict[str, Any]], Awaitable[Response]]:
    async def answer(_: dict[str, Any]) -> Response:
        async def body() -> AsyncIterator[str]:
            yield "".join(events)
            await asyncio.sleep(then_wait)  # the body's end comes after the last event, in its own packet

        return StreamingResponse(body(), media_type="text/event-stream")

    return answer


def status(
    code: int, error: dict[str, Any], headers: dict[str, str] | None = None
) -> Callable[..., Awaitable[Response]]:
    async def answer(_: dict[str, Any]) -> Response:
        return JSONResponse({"type": "error", "error": error}, status_code=code, headers=headers)

    return answer


def anthropic(url: str) -> AnthropicProvider:
    return AnthropicProvider("sk-ant-test", url, timeout_seconds=5)


async def streamed(provider: AnthropicProvider) -> list[StreamChunk]:
    return await stream_of(provider, REQUEST)


def test_a_stream_of_named_events_with_pings_gives_the_text_the_stop_reason_and_the_usage() -> None:
    app = messages_api(sse(text_stream("Hello ", "world")))
    pieces = against(app, anthropic, streamed)
    assert "".join(p.delta for p in pieces) == "Hello world"
    last = pieces[-1]
    assert (last.finish_reason, last.prompt_tokens, last.completion_tokens) == ("stop", 4, 2)
    sent = app.state.received[0]
    assert sent["body"]["stream"] is True and sent["body"]["temperature"] == 0
    assert (sent["headers"]["x-api-key"], sent["headers"]["anthropic-version"]) == ("sk-ant-test", API_VERSION)


def test_streams_reuse_one_upstream_connection_when_the_body_ends_after_message_stop() -> None:
    app = messages_api(sse(text_stream("Hi"), then_wait=0.05))

    async def five_streams(provider: AnthropicProvider) -> None:
        for _ in range(5):
            assert "".join(p.delta for p in await streamed(provider)) == "Hi"

    against(app, anthropic, five_streams)
    assert len({sent["port"] for sent in app.state.received}) == 1


def test_an_upstream_that_holds_its_body_open_after_message_stop_does_not_hold_the_caller() -> None:
    app = messages_api(sse(text_stream("Hi"), then_wait=30))

    async def timed(provider: AnthropicProvider) -> tuple[str, float]:
        started = asyncio.get_running_loop().time()
        text = "".join(p.delta for p in await streamed(provider))
        return text, asyncio.get_running_loop().time() - started

    text, seconds = against(app, anthropic, timed)
    assert text == "Hi" and seconds < 2


def test_an_overloaded_event_inside_a_stream_is_a_retryable_failure_not_a_silent_end() -> None:
    overloaded = event("error", error={"type": "overloaded_error", "message": "Overloaded"})
    app = messages_api(sse([*text_stream("Hel")[:4], overloaded]))
    with pytest.raises(ProviderError) as failure:
        against(app, anthropic, streamed)
    assert failure.value.retryable and "Overloaded" in failure.value.message


def test_an_overloaded_api_is_retried_after_the_time_it_asks_for() -> None:
    app = messages_api(status(529, {"type": "overloaded_error", "message": "Overloaded"}, {"retry-after": "3"}))
    with pytest.raises(ProviderError) as failure:
        against(app, anthropic, lambda provider: provider.complete(REQUEST))
    assert (failure.value.status, failure.value.retryable, failure.value.retry_after_seconds) == (529, True, 3)
    assert failure.value.message == "Overloaded"


def test_a_rejected_anthropic_key_names_the_setting_to_fix_and_is_not_retried() -> None:
    app = messages_api(status(401, {"type": "authentication_error", "message": "invalid x-api-key"}))
    with pytest.raises(ProviderError) as failure:
        against(app, anthropic, lambda provider: provider.complete(REQUEST))
    assert (failure.value.status, failure.value.retryable) == (401, False)
    assert "ANTHROPIC_API_KEY" in failure.value.message


def test_a_request_the_api_refuses_is_the_callers_error_with_the_apis_message() -> None:
    app = messages_api(status(400, {"type": "invalid_request_error", "message": "max_tokens: too large"}))
    with pytest.raises(ProviderError) as failure:
        against(app, anthropic, lambda provider: provider.complete(REQUEST))
    assert (failure.value.client_error, failure.value.message) == (True, "max_tokens: too large")


def test_an_answer_not_in_the_messages_shape_is_a_retryable_malformed_response() -> None:
    async def answer(_: dict[str, Any]) -> Response:
        return JSONResponse({"id": "msg_1", "content": "not a list of blocks"})

    with pytest.raises(ProviderError) as failure:
        against(messages_api(answer), anthropic, lambda provider: provider.complete(REQUEST))
    assert failure.value.retryable and "malformed response" in failure.value.message
