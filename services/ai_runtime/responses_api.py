"""OpenAI's Responses API, the subset the official SDK's `responses.create` uses for text, streaming and function
tools: `POST /v1/responses` (through the gateway: /v1/responses). Stateless: earlier turns come in `input`
(`store` and `previous_response_id` are not kept). Any configured model answers, with budgets and fallback as
everywhere else."""

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from services.ai_runtime.deps import SSE_HEADERS, Runtime
from services.ai_runtime.providers.base import ProviderError
from services.ai_runtime.service import GenerationResult
from shared.disconnect import unless_disconnected
from shared.errors import BadRequestError
from shared.identity import CurrentIdentity

router = APIRouter(tags=["openai-compatible"])

MAX_INPUT_ITEMS = 1024
MAX_TEXT = 1_000_000


class FunctionTool(BaseModel):
    type: Literal["function"]
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str | None = Field(default=None, max_length=4096)
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ResponsesRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(max_length=128)
    input: str | list[dict[str, Any]] = Field(max_length=MAX_INPUT_ITEMS)
    instructions: str | None = Field(default=None, max_length=MAX_TEXT)
    max_output_tokens: int | None = Field(default=None, ge=1, le=32_000)
    temperature: float = Field(default=1.0, ge=0, le=2)
    tools: list[FunctionTool] | None = Field(default=None, max_length=128)
    tool_choice: Literal["auto", "none", "required"] | dict[str, Any] | None = None
    stream: bool = False


def _text(content: Any) -> str:
    """An input item's content: a string, or parts of which the text ones count."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and "text" in p)
    raise BadRequestError("content must be a string or a list of text parts", code="invalid_input")


def chat_messages(body: ResponsesRequest) -> list[dict[str, Any]]:
    """The Responses `input` (and `instructions`) as chat messages: messages, function calls and their outputs."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": body.instructions}] if body.instructions else []
    items = [{"role": "user", "content": body.input}] if isinstance(body.input, str) else body.input
    for item in items:
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "assistant", "system", "developer"):
                raise BadRequestError(f"Unknown message role {role!r}", code="invalid_input")
            messages.append({"role": "system" if role == "developer" else role, "content": _text(item.get("content"))})
        elif kind == "function_call":
            call = {
                "id": str(item["call_id"]),
                "type": "function",
                "function": {"name": item["name"], "arguments": item.get("arguments", "{}")},
            }
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            messages.append(
                {"role": "tool", "tool_call_id": str(item["call_id"]), "content": str(item.get("output", ""))}
            )
        else:
            raise BadRequestError(f"Input items of type {kind!r} are not supported", code="unsupported_input")
    return messages


def _tool_choice(choice: Any) -> Any:
    """Responses names a forced function flat ({"type": "function", "name"}); chat nests it."""
    if isinstance(choice, dict) and choice.get("type") == "function" and "name" in choice:
        return {"type": "function", "function": {"name": choice["name"]}}
    return choice


def _usage(result: GenerationResult) -> dict[str, Any]:
    return {
        "input_tokens": result.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": result.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": result.prompt_tokens + result.completion_tokens,
    }


def _message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": []}] if status == "completed" else []
    return {"type": "message", "id": item_id, "status": status, "role": "assistant", "content": content}


def _response(
    response_id: str,
    created: int,
    model: str,
    *,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "status": status,
        "model": model,
        "output": output,
        "usage": usage,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "metadata": {},
        "parallel_tool_calls": False,
        "temperature": None,
        "tool_choice": "auto",
        "tools": [],
        "top_p": None,
    }


def _output(result: GenerationResult) -> list[dict[str, Any]]:
    calls = [
        {
            "type": "function_call",
            "id": f"fc_{uuid.uuid4().hex}",
            "call_id": call["id"],
            "name": call["function"]["name"],
            "arguments": call["function"]["arguments"],
            "status": "completed",
        }
        for call in result.tool_calls or []
    ]
    return calls or [_message_item(f"msg_{uuid.uuid4().hex}", result.content)]


@router.post("/v1/responses", summary="OpenAI-compatible Responses API (text, streaming, function tools)")
async def create_response(body: ResponsesRequest, identity: CurrentIdentity, runtime: Runtime, request: Request) -> Any:
    generation = runtime.client_generation(
        identity,
        request_id=request.state.request_id,
        model=body.model,
        messages=chat_messages(body),
        max_tokens=body.max_output_tokens or runtime.settings.default_max_tokens,
        temperature=body.temperature,
        tools=[
            {"type": "function", "function": t.model_dump(exclude={"type", "strict"}, exclude_none=True)}
            for t in body.tools
        ]
        if body.tools
        else None,
        tool_choice=_tool_choice(body.tool_choice),
    )
    response_id, created = f"resp_{uuid.uuid4().hex}", int(time.time())
    if not body.stream:
        result = await unless_disconnected(request, runtime.generate(generation))
        return _response(
            response_id, created, result.model.name, status="completed", output=_output(result), usage=_usage(result)
        )
    streamed = await runtime.generate_stream(generation)
    return StreamingResponse(
        _events(streamed, response_id, created), media_type="text/event-stream", headers=SSE_HEADERS
    )


async def _events(streamed: Any, response_id: str, created: int) -> AsyncIterator[str]:
    """The event sequence the SDK's stream reader expects, numbered."""
    sequence = iter(range(1_000_000))
    model = streamed.model.name

    def event(kind: str, **fields: Any) -> str:
        return f"event: {kind}\ndata: {json.dumps({'type': kind, 'sequence_number': next(sequence), **fields})}\n\n"

    item_id = f"msg_{uuid.uuid4().hex}"
    yield event(
        "response.created", response=_response(response_id, created, model, status="in_progress", output=[], usage=None)
    )
    yield event(
        "response.in_progress",
        response=_response(response_id, created, model, status="in_progress", output=[], usage=None),
    )
    yield event("response.output_item.added", output_index=0, item=_message_item(item_id, "", status="in_progress"))
    part = {"type": "output_text", "text": "", "annotations": []}
    yield event("response.content_part.added", item_id=item_id, output_index=0, content_index=0, part=part)
    text = []
    try:
        async for chunk in streamed.chunks:
            if chunk.delta:
                text.append(chunk.delta)
                yield event(
                    "response.output_text.delta",
                    item_id=item_id,
                    output_index=0,
                    content_index=0,
                    delta=chunk.delta,
                    logprobs=[],
                )
    except ProviderError as exc:
        yield event("error", code="provider_failed", message=str(exc), param=None)
        return
    whole = "".join(text)
    yield event("response.output_text.done", item_id=item_id, output_index=0, content_index=0, text=whole, logprobs=[])
    yield event(
        "response.content_part.done", item_id=item_id, output_index=0, content_index=0, part={**part, "text": whole}
    )
    item = _message_item(item_id, whole)
    yield event("response.output_item.done", output_index=0, item=item)
    final = _response(response_id, created, model, status="completed", output=[item], usage=_usage(streamed.result))
    yield event("response.completed", response=final)
