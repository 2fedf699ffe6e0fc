"""The OpenAI-compatible API: chat completions (tools and streaming), legacy completions, embeddings and the model
list, as the official `openai` SDK calls them, answered by any configured model."""

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from services.ai_runtime.deps import SSE_HEADERS, Runtime
from services.ai_runtime.providers.base import ProviderError
from services.ai_runtime.schemas import OpenAIChatRequest, OpenAICompletionRequest, OpenAIEmbeddingsRequest
from services.ai_runtime.service import GenerationResult
from shared.disconnect import unless_disconnected
from shared.errors import BadRequestError
from shared.identity import CurrentIdentity

router = APIRouter(tags=["openai-compatible"])


def _chat_completion(result: GenerationResult, completion_id: str, created: int) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": result.model.name,
        "choices": [
            {
                "index": 0,
                "finish_reason": result.finish_reason or "stop",
                "logprobs": None,
                "message": {
                    "role": "assistant",
                    "content": result.content or (None if result.tool_calls else ""),
                    **({"tool_calls": result.tool_calls} if result.tool_calls else {}),
                },
            }
        ],
        "usage": _usage(result),
        "system_fingerprint": None,
    }


@router.post(
    "/v1/chat/completions",
    summary="OpenAI-compatible chat completions (stream: true supported)",
    tags=["openai-compatible"],
)
async def openai_chat_completions(
    body: OpenAIChatRequest, identity: CurrentIdentity, runtime: Runtime, request: Request
) -> Any:
    response_format = (
        body.response_format.model_dump(exclude_none=True)
        if body.response_format and body.response_format.type != "text"
        else None
    )
    generation = runtime.client_generation(
        identity,
        request_id=request.state.request_id,
        model=body.model,
        messages=[m.model_dump(exclude_none=True) for m in body.messages],
        max_tokens=body.max_completion_tokens or body.max_tokens or runtime.settings.default_max_tokens,
        temperature=body.temperature,
        response_format=response_format,
        tools=[t.model_dump() for t in body.tools] if body.tools else None,
        tool_choice=body.tool_choice,
    )
    completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    if not body.stream:
        # Already plain JSON types: handed to the response as is, skipping FastAPI's encoder walk of a return value.
        return JSONResponse(
            _chat_completion(await unless_disconnected(request, runtime.generate(generation)), completion_id, created)
        )
    streamed = await runtime.generate_stream(generation)

    def chunk(delta: dict[str, Any], finish_reason: str | None = None, usage: dict[str, int] | None = None) -> str:
        payload: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": streamed.model.name,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
        }
        if usage is not None:
            payload["usage"] = usage
        return f"data: {json.dumps(payload)}\n\n"

    async def events() -> AsyncIterator[str]:
        yield chunk({"role": "assistant", "content": ""})
        try:
            async for part in streamed.chunks:
                if part.delta:
                    yield chunk({"content": part.delta})
                if part.tool_calls:
                    yield chunk({"tool_calls": part.tool_calls})
        except ProviderError as exc:
            yield f"data: {json.dumps({'error': {'message': str(exc), 'type': 'provider_error'}})}\n\n"
            return
        result = streamed.result
        usage = {
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.completion_tokens,
            "total_tokens": result.prompt_tokens + result.completion_tokens,
        }
        # Events made at the same moment leave in one write: each write is a packet the gateway and the client wake for.
        yield chunk({}, result.finish_reason or "stop", usage) + "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers=SSE_HEADERS)


@router.post("/v1/completions", summary="OpenAI-compatible (legacy) text completions", tags=["openai-compatible"])
async def openai_completions(
    body: OpenAICompletionRequest, identity: CurrentIdentity, runtime: Runtime, request: Request
) -> Any:
    generation = runtime.client_generation(
        identity,
        request_id=request.state.request_id,
        model=body.model,
        messages=[{"role": "user", "content": body.text}],
        max_tokens=body.max_tokens or runtime.settings.default_max_tokens,
        temperature=body.temperature,
    )
    completion_id, created = f"cmpl-{uuid.uuid4().hex}", int(time.time())

    def completion(model: str, text: str, finish_reason: str | None, usage: dict[str, int] | None) -> dict[str, Any]:
        return {
            "id": completion_id,
            "object": "text_completion",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}],
            **({"usage": usage} if usage is not None else {}),
        }

    if not body.stream:
        result = await unless_disconnected(request, runtime.generate(generation))
        return completion(result.model.name, result.content, result.finish_reason or "stop", _usage(result))
    streamed = await runtime.generate_stream(generation)

    async def events() -> AsyncIterator[str]:
        try:
            async for part in streamed.chunks:
                if part.delta:
                    yield f"data: {json.dumps(completion(streamed.model.name, part.delta, None, None))}\n\n"
        except ProviderError as exc:
            yield f"data: {json.dumps({'error': {'message': str(exc), 'type': 'api_error'}})}\n\n"
            return
        result = streamed.result
        final = completion(result.model.name, "", result.finish_reason or "stop", _usage(result))
        yield f"data: {json.dumps(final)}\n\ndata: [DONE]\n\n"  # one write, as in chat completions

    return StreamingResponse(events(), media_type="text/event-stream", headers=SSE_HEADERS)


def _usage(result: GenerationResult) -> dict[str, int]:
    return {
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "total_tokens": result.prompt_tokens + result.completion_tokens,
    }


@router.post("/v1/embeddings", summary="OpenAI-compatible embeddings", tags=["openai-compatible"])
async def openai_embeddings(
    body: OpenAIEmbeddingsRequest, identity: CurrentIdentity, runtime: Runtime, request: Request
) -> dict[str, Any]:
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts or any(not t.strip() for t in texts):
        raise BadRequestError("input must be a non-empty string or list of non-empty strings", code="invalid_input")
    model, result, _ = await runtime.embed(
        texts,
        model_name=body.model,
        user_id=identity.user_id,
        run_id=None,
        request_id=request.state.request_id,
        api_key_id=identity.api_key_id,
        team_id=identity.team_id,
    )
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(result.vectors)],
        "model": model.name,
        "usage": {"prompt_tokens": result.prompt_tokens or 0, "total_tokens": result.prompt_tokens or 0},
    }


@router.get("/v1/models", summary="OpenAI-compatible model list (available models only)", tags=["openai-compatible"])
async def openai_models(_: CurrentIdentity, runtime: Runtime) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {"id": m.name, "object": "model", "created": 0, "owned_by": m.provider}
            for m in runtime.catalog.models.values()
            if runtime.is_available(m)
        ],
    }
