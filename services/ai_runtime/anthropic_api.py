"""The Anthropic-compatible Messages API: messages (text and client tools, streamed or not) and count_tokens, as the
official `anthropic` SDK calls them, answered by any configured model through the same provider path."""

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from services.ai_runtime.deps import SSE_HEADERS, Runtime
from services.ai_runtime.providers.base import ProviderError
from services.ai_runtime.schemas import AnthropicCountTokensRequest, AnthropicMessagesRequest
from services.ai_runtime.service import AIRuntime, Generation, GenerationResult
from shared.disconnect import unless_disconnected
from shared.identity import CurrentIdentity, Identity

router = APIRouter(tags=["anthropic-compatible"])


ANTHROPIC_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}


def _anthropic_generation(
    runtime: AIRuntime, identity: Identity, request: Request, body: AnthropicCountTokensRequest, *, max_tokens: int
) -> Generation:
    return runtime.client_generation(
        identity,
        request_id=request.state.request_id,
        model=body.model,
        messages=body.chat_messages(),
        max_tokens=max_tokens,
        temperature=body.temperature if isinstance(body, AnthropicMessagesRequest) else 1.0,
        tools=body.chat_tools(),
        tool_choice=body.chat_tool_choice(),
    )


def _tool_use_blocks(result: GenerationResult, *, one: bool) -> list[dict[str, Any]]:
    """The answer's tool calls as Anthropic tool_use blocks (only the first when parallel use is disabled)."""
    blocks = []
    for call in (result.tool_calls or [])[: 1 if one else None]:
        try:
            arguments = json.loads(call["function"].get("arguments") or "{}")
        except ValueError:
            arguments = None
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id") or f"toolu_{uuid.uuid4().hex}",
                "name": call["function"]["name"],
                # Anthropic's input is an object: arguments that are not one are handed over as they came.
                "input": arguments if isinstance(arguments, dict) else {"arguments": call["function"].get("arguments")},
            }
        )
    return blocks


def _stop_reason(result: GenerationResult) -> str:
    if result.tool_calls:
        return "tool_use"
    return ANTHROPIC_STOP_REASONS.get(result.finish_reason or "stop", "end_turn")


@router.post(
    "/v1/messages",
    summary="Anthropic-compatible Messages API (text and client tools; stream: true supported), any configured model",
    tags=["anthropic-compatible"],
)
async def anthropic_messages(
    body: AnthropicMessagesRequest, identity: CurrentIdentity, runtime: Runtime, request: Request
) -> Any:
    generation = _anthropic_generation(runtime, identity, request, body, max_tokens=body.max_tokens)
    one_tool = bool(body.tool_choice and body.tool_choice.disable_parallel_tool_use)
    message_id = f"msg_{uuid.uuid4().hex}"
    if not body.stream:
        result = await unless_disconnected(request, runtime.generate(generation))
        content = ([{"type": "text", "text": result.content}] if result.content else []) + _tool_use_blocks(
            result, one=one_tool
        )
        return {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": result.model.name,
            "content": content or [{"type": "text", "text": ""}],
            "stop_reason": _stop_reason(result),
            "stop_sequence": None,
            "usage": {"input_tokens": result.prompt_tokens, "output_tokens": result.completion_tokens},
        }
    streamed = await runtime.generate_stream(generation)

    def event(kind: str, payload: dict[str, Any]) -> str:
        return f"event: {kind}\ndata: {json.dumps({'type': kind, **payload})}\n\n"

    async def events() -> AsyncIterator[str]:
        start: dict[str, Any] = {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": streamed.model.name,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        yield event("message_start", {"message": start})
        blocks = 0  # content blocks opened so far: the text block opens with the first text
        try:
            async for part in streamed.chunks:
                if part.delta:
                    opening = (
                        event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
                        if not blocks
                        else ""
                    )
                    blocks = blocks or 1
                    yield opening + event(
                        "content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": part.delta}}
                    )
        except ProviderError as exc:
            yield event("error", {"error": {"type": "api_error", "message": str(exc)}})
            return
        result = streamed.result
        closing = event("content_block_stop", {"index": 0}) if blocks else ""
        # Tool calls are known whole once the stream ends: each is a tool_use block with its input in one delta.
        for block in _tool_use_blocks(result, one=one_tool):
            arguments = json.dumps(block["input"])
            closing += (
                event("content_block_start", {"index": blocks, "content_block": {**block, "input": {}}})
                + event(
                    "content_block_delta",
                    {"index": blocks, "delta": {"type": "input_json_delta", "partial_json": arguments}},
                )
                + event("content_block_stop", {"index": blocks})
            )
            blocks += 1
        message_delta = {
            "delta": {"stop_reason": _stop_reason(result), "stop_sequence": None},
            "usage": {"input_tokens": result.prompt_tokens, "output_tokens": result.completion_tokens},
        }
        yield closing + event("message_delta", message_delta) + event("message_stop", {})

    return StreamingResponse(events(), media_type="text/event-stream", headers=SSE_HEADERS)


@router.post(
    "/v1/messages/count_tokens",
    summary="Anthropic-compatible token count of a Messages API request, as the model that would answer counts it",
    tags=["anthropic-compatible"],
)
async def anthropic_count_tokens(
    body: AnthropicCountTokensRequest, identity: CurrentIdentity, runtime: Runtime, request: Request
) -> dict[str, int]:
    generation = _anthropic_generation(runtime, identity, request, body, max_tokens=1)
    return {"input_tokens": await runtime.count_prompt_tokens(generation)}
