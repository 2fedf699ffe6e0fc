"""ai-runtime routes: /complete, /embed, /models, the OpenAI-compatible /v1 API, and budget admin."""

import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from services.ai_runtime import repository
from services.ai_runtime.budget import period_limits
from services.ai_runtime.providers.base import ProviderError
from services.ai_runtime.schemas import (
    AnthropicCountTokensRequest,
    AnthropicMessagesRequest,
    BudgetRequest,
    BudgetResponse,
    BudgetUsage,
    CompleteRequest,
    CompleteResponse,
    EmbedRequest,
    EmbedResponse,
    ModelEntry,
    ModelsResponse,
    OpenAIChatRequest,
    OpenAICompletionRequest,
    OpenAIEmbeddingsRequest,
    SpendResponse,
    SpendRow,
)
from services.ai_runtime.service import AIRuntime, Generation, GenerationResult, format_sse
from shared.app import DbSession, service_state
from shared.disconnect import unless_disconnected
from shared.errors import BadRequestError, ForbiddenError, NotFoundError
from shared.identity import AdminIdentity, CurrentIdentity, Identity, acting_user_id

router = APIRouter(tags=["ai-runtime"])
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def get_runtime(request: Request) -> AIRuntime:
    return service_state(request.app, AIRuntime)


Runtime = Annotated[AIRuntime, Depends(get_runtime)]


def use_cache(runtime: AIRuntime, asked: bool | None, temperature: float) -> bool:
    if asked is not None:
        return asked
    return runtime.settings.cache_enabled and temperature == 0


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
        use_cache=use_cache(runtime, body.cache, body.temperature),
        user_id=acting_user_id(identity, body.user_id),
        api_key_id=identity.api_key_id,
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


# --- OpenAI-compatible API ----------------------------------------------------------------------


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
    generation = client_generation(
        runtime,
        identity,
        request,
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
    generation = client_generation(
        runtime,
        identity,
        request,
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


ANTHROPIC_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}


def _anthropic_generation(
    runtime: AIRuntime, identity: Identity, request: Request, body: AnthropicCountTokensRequest, *, max_tokens: int
) -> Generation:
    return client_generation(
        runtime,
        identity,
        request,
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


def client_generation(
    runtime: AIRuntime,
    identity: Identity,
    request: Request,
    *,
    model: str | None,
    messages: list[dict[str, Any]],
    max_tokens: int,
    temperature: float,
    response_format: dict[str, Any] | None = None,
    tools: list[dict[str, Any]] | None = None,
    tool_choice: Any = None,
) -> Generation:
    """A call in a client API's shape (OpenAI chat completions and responses, legacy completions, Anthropic
    messages): the caller's own, with their virtual key's limits."""
    return Generation(
        messages=messages,
        chain=runtime.chat_chain(model, None),
        max_tokens=max_tokens,
        temperature=temperature,
        response_format=response_format,
        use_cache=use_cache(runtime, None, temperature),
        user_id=identity.user_id,
        api_key_id=identity.api_key_id,
        request_id=request.state.request_id,
        tools=tools,
        tool_choice=tool_choice,
    )


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


# --- budgets and spend (admin) ------------------------------------------------------------------


async def _budget_response(runtime: AIRuntime, budget: Any) -> BudgetResponse:
    usage = []
    for limit in period_limits(
        scope=budget.scope,
        scope_id=budget.scope_id,
        daily=(budget.daily_usd, budget.daily_tokens),
        monthly=(budget.monthly_usd, budget.monthly_tokens),
        total=(budget.total_usd, budget.total_tokens),
    ):
        spent, tokens, reserved, reserved_tokens = await runtime.counters.usage(limit)
        usage.append(
            BudgetUsage(
                period=limit.period,
                spent_usd=float(spent),
                reserved_usd=float(reserved),
                tokens=tokens,
                reserved_tokens=reserved_tokens,
                limit_usd=float(limit.usd) if limit.usd is not None else None,
                limit_tokens=limit.tokens,
            )
        )
    fields = BudgetRequest.model_fields
    return BudgetResponse(
        scope=budget.scope, scope_id=budget.scope_id, usage=usage, **{name: getattr(budget, name) for name in fields}
    )


ScopeParam = Annotated[Literal["user", "run"], Path(description="user or run")]


@router.put(
    "/admin/budgets/{scope}/{scope_id}",
    response_model=BudgetResponse,
    summary="Set a user's or a run's budget (admin)",
    tags=["admin"],
)
async def set_budget(
    scope: ScopeParam,
    scope_id: uuid.UUID,
    body: BudgetRequest,
    _: AdminIdentity,
    runtime: Runtime,
) -> BudgetResponse:
    budget = await runtime.set_budget(scope=scope, scope_id=str(scope_id), values=body.model_dump())
    return await _budget_response(runtime, budget)


@router.get(
    "/admin/budgets/{scope}/{scope_id}",
    response_model=BudgetResponse,
    summary="A budget and what has been spent against it (admin)",
    tags=["admin"],
)
async def get_budget(
    scope: ScopeParam, scope_id: uuid.UUID, _: AdminIdentity, runtime: Runtime, session: DbSession
) -> BudgetResponse:
    budget = await repository.get_budget(session, scope, str(scope_id))
    if budget is None:
        raise NotFoundError(f"No budget for {scope} {scope_id}")
    return await _budget_response(runtime, budget)


@router.get(
    "/admin/spend",
    response_model=SpendResponse,
    summary="Spend by user, model or day from the ledger (admin)",
    tags=["admin"],
)
async def spend(
    _: AdminIdentity,
    runtime: Runtime,
    session: DbSession,
    group_by: Annotated[Literal["user", "model", "day", "api_key"], Query()] = "model",
    since: Annotated[date | None, Query()] = None,
) -> SpendResponse:
    return await _spend(runtime, session, group_by=group_by, since=since, user_id=None)


@router.get(
    "/spend",
    response_model=SpendResponse,
    summary="Your spend by model, day or API key, from the ledger (admins: everyone's with everyone=true)",
)
async def own_spend(
    identity: CurrentIdentity,
    runtime: Runtime,
    session: DbSession,
    group_by: Annotated[Literal["model", "day", "api_key", "user"], Query()] = "model",
    since: Annotated[date | None, Query()] = None,
    everyone: Annotated[bool, Query(description="Admins: every user's spend, not only yours")] = False,
) -> SpendResponse:
    if (everyone or group_by == "user") and not identity.is_admin:
        raise ForbiddenError("Only admins see other users' spend", code="forbidden")
    owner = None if everyone else uuid.UUID(identity.user_id)
    return await _spend(runtime, session, group_by=group_by, since=since, user_id=owner)


@router.get(
    "/budget",
    response_model=BudgetResponse | None,
    summary="Your own budget and what is spent against it (null when no budget is set)",
)
async def own_budget(identity: CurrentIdentity, runtime: Runtime, session: DbSession) -> BudgetResponse | None:
    budget = await repository.get_budget(session, "user", identity.user_id)
    return None if budget is None else await _budget_response(runtime, budget)


async def _spend(
    runtime: AIRuntime,
    session: AsyncSession,
    *,
    group_by: Literal["user", "model", "day", "api_key"],
    since: date | None,
    user_id: uuid.UUID | None,
) -> SpendResponse:
    await runtime.ledger.flush()
    rows = await repository.spend_by(session, group_by, since, user_id=user_id)
    return SpendResponse(
        group_by=group_by,
        since=since,
        rows=[
            SpendRow(
                key=str(k),
                calls=int(c),
                prompt_tokens=int(p or 0),
                completion_tokens=int(o or 0),
                cost_usd=float(cost or 0),
            )
            for k, c, p, o, cost in rows
        ],
    )
