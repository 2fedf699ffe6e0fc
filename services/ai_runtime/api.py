"""ai-runtime's own routes: /complete (by role or model), /embed and /models. The compatible APIs are in
openai_api.py, anthropic_api.py and responses_api.py; budgets and spend in budgets_api.py."""

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from services.ai_runtime.deps import SSE_HEADERS, Runtime
from services.ai_runtime.providers.base import ProviderError
from services.ai_runtime.schemas import (
    CompleteRequest,
    CompleteResponse,
    EmbedRequest,
    EmbedResponse,
    ModelEntry,
    ModelsResponse,
)
from services.ai_runtime.service import AIRuntime, Generation, GenerationResult, format_sse
from shared.disconnect import unless_disconnected
from shared.identity import CurrentIdentity, Identity, acting_user_id

router = APIRouter(tags=["ai-runtime"])


def _complete_response(result: GenerationResult, prompt_version: str | None) -> CompleteResponse:
    return CompleteResponse(
        content=result.content,
        model_used=result.model.name,
        provider=result.model.provider,
        tokens_used=result.prompt_tokens + result.completion_tokens,
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        cost_usd=float(result.cost),
        latency_ms=round(result.latency_ms, 3),
        finish_reason=result.finish_reason,
        cached=result.cached,
        prompt_version=prompt_version,
        fallbacks_tried=result.fallbacks_tried,
        tool_calls=result.tool_calls,
    )


def _generation_from_complete(
    runtime: AIRuntime, body: CompleteRequest, *, identity: Identity, request: Request
) -> Generation:
    messages, prompt = runtime.build_messages(
        body.role,
        version=body.prompt_version,
        context=[m.model_dump(exclude_none=True) for m in body.context],
        prompt=body.prompt,
        system_context=body.system_context,
    )
    response_format: dict[str, Any] | None = None
    if body.response_format == "json":
        if prompt is None or prompt.output_schema is None:
            response_format = {"type": "json_object"}
        else:
            response_format = {
                "type": "json_schema",
                "json_schema": {"name": prompt.role, "schema": prompt.output_schema},
            }
    elif body.response_format is not None and body.response_format.type != "text":
        response_format = body.response_format.model_dump(exclude_none=True)
    return Generation(
        messages=messages,
        chain=runtime.chat_chain(body.model, body.role),
        max_tokens=body.max_tokens or runtime.settings.default_max_tokens,
        temperature=body.temperature,
        response_format=response_format,
        use_cache=runtime.caches(asked=body.cache, temperature=body.temperature),
        user_id=acting_user_id(identity, body.user_id),
        api_key_id=identity.api_key_id,
        team_id=identity.team_id,
        shared_cache=body.cache_namespace == "shared",
        run_id=str(body.run_id) if body.run_id else None,
        task_id=str(body.task_id) if body.task_id else None,
        agent_id=str(body.agent_id) if body.agent_id else None,
        role=body.role,
        prompt_version=prompt.id if prompt else None,
        request_id=request.state.request_id,
        tools=[t.model_dump() for t in body.tools] if body.tools else None,
        tool_choice=body.tool_choice,
    )


@router.post(
    "/complete",
    response_model=CompleteResponse,
    summary="Chat completion by role or model, with budgets, fallback and cost",
    responses={
        402: {"description": "Budget exceeded"},
        503: {"description": "No model could answer"},
        200: {"content": {"text/event-stream": {}}},
    },
)
async def complete(body: CompleteRequest, identity: CurrentIdentity, runtime: Runtime, request: Request) -> Any:
    generation = _generation_from_complete(runtime, body, identity=identity, request=request)
    if not body.stream:
        return _complete_response(
            await unless_disconnected(request, runtime.generate(generation)), generation.prompt_version
        )
    streamed = await runtime.generate_stream(generation)

    async def events() -> AsyncIterator[str]:
        try:
            async for chunk in streamed.chunks:
                if chunk.delta:
                    yield format_sse("chunk", {"delta": chunk.delta})
                if chunk.tool_calls:
                    yield format_sse("chunk", {"delta": "", "tool_calls": chunk.tool_calls})
        except ProviderError as exc:
            yield format_sse("error", {"error": {"code": "provider_failed", "message": str(exc), "details": {}}})
            return
        final = _complete_response(streamed.result, generation.prompt_version)
        yield format_sse("done", final.model_dump())

    return StreamingResponse(events(), media_type="text/event-stream", headers=SSE_HEADERS)


@router.post(
    "/embed",
    response_model=EmbedResponse,
    summary="Embed texts (local MiniLM by default, 384 dimensions)",
    responses={402: {"description": "Budget exceeded"}},
)
async def embed(body: EmbedRequest, identity: CurrentIdentity, runtime: Runtime, request: Request) -> EmbedResponse:
    model, result, cost = await runtime.embed(
        body.texts,
        model_name=body.model,
        user_id=acting_user_id(identity, body.user_id),
        run_id=str(body.run_id) if body.run_id else None,
        request_id=request.state.request_id,
        api_key_id=identity.api_key_id,
        team_id=identity.team_id,
    )
    return EmbedResponse(
        embeddings=result.vectors,
        model_used=model.name,
        dimensions=len(result.vectors[0]) if result.vectors else (model.dimensions or 0),
        tokens_used=result.prompt_tokens or 0,
        cost_usd=float(cost),
    )


@router.get(
    "/models",
    response_model=ModelsResponse,
    summary="Models with prices, context windows, availability and role assignments",
)
async def list_models(_: CurrentIdentity, runtime: Runtime) -> ModelsResponse:
    roles_of: dict[str, list[str]] = {}
    for role, names in runtime.settings.role_models.items():
        for name in names:
            roles_of.setdefault(runtime.settings.model_aliases.get(name, name), []).append(role)
    entries = [
        ModelEntry(
            name=m.name,
            provider=m.provider,
            kind=m.kind,
            available=runtime.is_available(m),
            input_usd_per_mtok=float(m.input_per_mtok),
            output_usd_per_mtok=float(m.output_per_mtok),
            context_window=m.context_window,
            dimensions=m.dimensions,
            roles=roles_of.get(m.name, []),
        )
        for m in runtime.catalog.models.values()
    ]
    return ModelsResponse(
        price_table_version=runtime.catalog.version,
        models=entries,
        aliases=runtime.settings.model_aliases,
        role_models=runtime.settings.role_models,
        role_assignments=runtime.settings.role_models,
        providers=runtime.provider_status,
    )
