"""Local servers that speak the real OpenAI and Anthropic wire protocols (JSON and SSE), so the official SDKs
run unmodified in tests. Each keeps the requests it saw and plays a script of faults: 429 with Retry-After,
5xx, slow answers (timeouts) and malformed bodies."""

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse


class Script:
    """Faults to play, in order, before answering normally: ("status", code[, retry_after]), ("slow", seconds),
    ("malformed",)."""

    def __init__(self) -> None:
        self.steps: list[tuple[Any, ...]] = []
        self.always: tuple[Any, ...] | None = None

    def next(self) -> tuple[Any, ...] | None:
        if self.steps:
            return self.steps.pop(0)
        return self.always


async def _fault(step: tuple[Any, ...] | None, error_body: dict[str, Any]) -> Response | None:
    if step is None:
        return None
    kind = step[0]
    if kind == "status":
        headers = {"retry-after": str(step[2])} if len(step) > 2 else {}
        return JSONResponse(error_body, status_code=step[1], headers=headers)
    if kind == "slow":
        await asyncio.sleep(step[1])
        return None
    if kind == "malformed":
        return PlainTextResponse("{this is not json", media_type="application/json")
    raise ValueError(step)


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]


async def _streamed_calls(
    base: dict[str, Any], calls: list[dict[str, Any]], usage: dict[str, int]
) -> AsyncIterator[str]:
    """Tool calls as OpenAI streams them: the id and name first, then the arguments in pieces."""

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        return f"data: {json.dumps({**base, 'object': 'chat.completion.chunk', 'choices': [choice]})}\n\n"

    yield chunk({"role": "assistant", "content": None})
    for index, call in enumerate(calls):
        start = {"index": index, "id": f"call_{index + 1}", "type": "function"}
        yield chunk({"tool_calls": [{**start, "function": {"name": call["name"], "arguments": ""}}]})
        arguments = json.dumps(call["arguments"])
        for piece in (arguments[: len(arguments) // 2], arguments[len(arguments) // 2 :]):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield chunk({}, "tool_calls")
    yield f"data: {json.dumps({**base, 'object': 'chat.completion.chunk', 'choices': [], 'usage': usage})}\n\n"
    yield "data: [DONE]\n\n"


def create_fake_openai(reply: str = "Hello from the OpenAI test server") -> FastAPI:
    app = FastAPI()
    app.state.script = Script()
    app.state.requests = []
    app.state.reply = reply
    app.state.replies = []  # answered first, one per call, before falling back to `reply`
    app.state.responder = None  # or a function of the request body answering (a str) before `replies`

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        body = await request.json()
        app.state.requests.append({"body": body, "headers": dict(request.headers), "at": time.monotonic()})
        fault = await _fault(
            app.state.script.next(), {"error": {"message": "scripted failure", "type": "server_error", "code": None}}
        )
        if fault is not None:
            return fault
        scripted = app.state.responder(body) if app.state.responder else None
        text = scripted
        if text is None:
            text = app.state.replies.pop(0) if app.state.replies else app.state.reply
        usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
        base = {"id": "chatcmpl-test", "created": int(time.time()), "model": body["model"], "system_fingerprint": None}
        # A responder scripts tool calls as {"tool_calls": [{"name", "arguments"}]}; with none scripted, a request
        # offering tools gets a call of the first one.
        calls = scripted.get("tool_calls") if isinstance(scripted, dict) else None
        if calls is None and scripted is None and body.get("tools") and body.get("tool_choice") != "none":
            calls = [{"name": body["tools"][0]["function"]["name"], "arguments": {"n": 10}}]
        if calls and body.get("stream"):
            return StreamingResponse(_streamed_calls(base, calls, usage), media_type="text/event-stream")
        if calls:
            return JSONResponse(
                {
                    **base,
                    "object": "chat.completion",
                    "usage": usage,
                    "choices": [
                        {
                            "index": 0,
                            "message": {
                                "role": "assistant",
                                "content": None,
                                "tool_calls": [
                                    {
                                        "id": f"call_{i + 1}",
                                        "type": "function",
                                        "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])},
                                    }
                                    for i, c in enumerate(calls)
                                ],
                            },
                            "finish_reason": "tool_calls",
                            "logprobs": None,
                        }
                    ],
                }
            )
        if not body.get("stream"):
            return JSONResponse(
                {
                    **base,
                    "object": "chat.completion",
                    "usage": usage,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                            "logprobs": None,
                        }
                    ],
                }
            )

        async def events() -> AsyncIterator[str]:
            chunk = {**base, "object": "chat.completion.chunk"}
            yield (
                "data: "
                + json.dumps(
                    {
                        **chunk,
                        "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
                    }
                )
                + "\n\n"
            )
            for word in _words(text):
                yield (
                    "data: "
                    + json.dumps(
                        {**chunk, "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]}
                    )
                    + "\n\n"
                )
            yield (
                "data: "
                + json.dumps({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                + "\n\n"
            )
            if (body.get("stream_options") or {}).get("include_usage"):
                yield "data: " + json.dumps({**chunk, "choices": [], "usage": usage}) + "\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> Response:
        body = await request.json()
        app.state.requests.append({"body": body, "headers": dict(request.headers), "at": time.monotonic()})
        fault = await _fault(
            app.state.script.next(), {"error": {"message": "scripted failure", "type": "server_error"}}
        )
        if fault is not None:
            return fault
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [
            {"object": "embedding", "index": i, "embedding": [b / 255 for b in hashlib.sha256(t.encode()).digest()[:8]]}
            for i, t in enumerate(texts)
        ]
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": 5 * len(texts), "total_tokens": 5 * len(texts)},
            }
        )

    return app


def create_fake_anthropic(reply: str = "Hello from the Anthropic test server") -> FastAPI:
    app = FastAPI()
    app.state.script = Script()
    app.state.requests = []
    app.state.reply = reply

    @app.post("/v1/messages")
    async def messages(request: Request) -> Response:
        body = await request.json()
        app.state.requests.append({"body": body, "headers": dict(request.headers), "at": time.monotonic()})
        fault = await _fault(
            app.state.script.next(),
            {"type": "error", "error": {"type": "overloaded_error", "message": "scripted failure"}},
        )
        if fault is not None:
            return fault
        text = app.state.reply
        message = {
            "id": "msg_test",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "stop_sequence": None,
        }
        if body.get("tools") and not body.get("stream"):
            use = {"type": "tool_use", "id": "toolu_1", "name": body["tools"][0]["name"], "input": {"n": 10}}
            return JSONResponse(
                {
                    **message,
                    "content": [use],
                    "stop_reason": "tool_use",
                    "usage": {"input_tokens": 13, "output_tokens": 9},
                }
            )
        if not body.get("stream"):
            return JSONResponse(
                {
                    **message,
                    "content": [{"type": "text", "text": text}],
                    "stop_reason": "end_turn",
                    "usage": {"input_tokens": 13, "output_tokens": 9},
                }
            )

        def event(name: str, data: dict[str, Any]) -> str:
            return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n"

        async def events() -> AsyncIterator[str]:
            yield event(
                "message_start",
                {
                    "message": {
                        **message,
                        "content": [],
                        "stop_reason": None,
                        "usage": {"input_tokens": 13, "output_tokens": 1},
                    }
                },
            )
            if body.get("tools"):  # a tool_use block, its input streamed as JSON pieces
                use = {"type": "tool_use", "id": "toolu_1", "name": body["tools"][0]["name"], "input": {}}
                yield event("content_block_start", {"index": 0, "content_block": use})
                for piece in ('{"n": ', "10}"):
                    delta = {"type": "input_json_delta", "partial_json": piece}
                    yield event("content_block_delta", {"index": 0, "delta": delta})
                stop_reason = "tool_use"
            else:
                yield event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
                for word in _words(text):
                    yield event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": word}})
                stop_reason = "end_turn"
            yield event("content_block_stop", {"index": 0})
            yield event(
                "message_delta",
                {"delta": {"stop_reason": stop_reason, "stop_sequence": None}, "usage": {"output_tokens": 9}},
            )
            yield event("message_stop", {})

        return StreamingResponse(events(), media_type="text/event-stream")

    return app
