"""The LLM gateway's rules: which model answers, within which budget, at what cost, recorded where."""

import asyncio
import json
import logging
import math
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from database.models import ApiKey
from services.ai_runtime import repository
from services.ai_runtime.budget import MICROS, BudgetCounters, BudgetExceeded, Reservation
from services.ai_runtime.cache import ResponseCache, cache_key
from services.ai_runtime.catalog import Catalog, ModelInfo
from services.ai_runtime.config import AIRuntimeSettings
from services.ai_runtime.fallback import AllDeploymentsFailed, FallbackChain
from services.ai_runtime.ledger import UsageLedger
from services.ai_runtime.prompts import PromptLibrary
from services.ai_runtime.providers.base import ChatRequest, ChatResult, EmbeddingResult, ProviderError, StreamChunk
from services.ai_runtime.spending_limits import SpendingLimits
from services.ai_runtime.tokens import count_chat_tokens, count_text_tokens
from shared import metrics
from shared.errors import (
    AppError,
    BadRequestError,
    ForbiddenError,
    NotFoundError,
    ServiceUnavailableError,
    TooManyRequestsError,
)
from shared.identity import Identity
from shared.otel import record_finished_span
from shared.redis import run_model_progress_key

logger = logging.getLogger(__name__)
OWNED_RUNS_KEPT = 4096
PROGRESS_TTL_SECONDS = 3  # a run's model progress outlives a missed watch or two, not its generation


class PaymentRequiredError(AppError):
    status_code, code = 402, "budget_exceeded"


@dataclass(kw_only=True)
class Generation:
    """One chat call, whatever API shape it came in."""

    messages: list[dict[str, str]]
    chain: list[ModelInfo]
    max_tokens: int
    temperature: float
    response_format: dict[str, Any] | None
    use_cache: bool
    user_id: str | None
    shared_cache: bool = False
    run_id: str | None = None
    task_id: str | None = None
    agent_id: str | None = None
    prompt_version: str | None = None
    request_id: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    api_key_id: str | None = None  # the virtual key it came with: its limits apply, its spend is recorded
    team_id: str | None = None  # the team it is made for (a team's key or run): its budget applies, spend is its
    role: str | None = None  # the agent role whose prompt it uses (planner, executor, ...)


@dataclass(kw_only=True)
class GenerationResult:
    content: str
    model: ModelInfo
    prompt_tokens: int
    completion_tokens: int
    cost: Decimal
    latency_ms: float
    finish_reason: str | None
    cached: bool
    fallbacks_tried: list[str] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] | None = None


@dataclass
class StreamedGeneration:
    model: ModelInfo
    chunks: AsyncIterator[StreamChunk]
    result: GenerationResult  # filled in as the stream ends


class AIRuntime:
    def __init__(
        self,
        *,
        settings: AIRuntimeSettings,
        catalog: Catalog,
        chat_providers: dict[str, Any],
        embedding_providers: dict[str, Any],
        provider_status: dict[str, str],
        fallback: FallbackChain,
        ledger: UsageLedger,
        counters: BudgetCounters,
        cache: ResponseCache,
        prompts: PromptLibrary,
        sessionmaker: async_sessionmaker[AsyncSession],
        redis: Redis,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.catalog = catalog
        self.chat_providers = chat_providers
        self.embedding_providers = embedding_providers
        self.provider_status = provider_status
        self.fallback = fallback
        self.ledger = ledger
        self.counters = counters
        self.cache = cache
        self.prompts = prompts
        self.sessionmaker = sessionmaker
        self.limits = SpendingLimits(settings=settings, sessionmaker=sessionmaker, counters=counters, ledger=ledger)
        # (run id, user id) pairs checked: a run's owner never changes, so a pair that matched once always does.
        self._owned_runs: OrderedDict[tuple[str, str | None], None] = OrderedDict()

    async def check_run_owner(self, run_id: str | None, user_id: str | None) -> None:
        """A call may charge only a run of the user it acts for: a run's budget and ledger are its owner's."""
        if run_id is None or (run_id, user_id) in self._owned_runs:
            return
        async with self.sessionmaker() as session:
            owner = await repository.run_owner(session, uuid.UUID(run_id))
        if owner is None or str(owner) != user_id:
            raise NotFoundError(f"No run {run_id}", code="run_not_found", details={"run_id": run_id})
        self._owned_runs[(run_id, user_id)] = None
        if len(self._owned_runs) > OWNED_RUNS_KEPT:
            self._owned_runs.popitem(last=False)

    async def watch_local_lane(self) -> None:
        """The embedded model's lane lets go of runs that ended (a cancel above all): their queued and running
        generations stop within a token instead of finishing minutes later for nobody. For the runs still in it,
        it says where their call stands (waiting, how many ahead, tokens so far) for their event streams."""
        local = self.chat_providers.get("local")
        if local is None or not (waiting := local.runs_in_lane()):
            return
        async with self.sessionmaker() as session:
            ended = await repository.ended_runs(session, [uuid.UUID(run_id) for run_id in waiting])
        for run_id in ended:
            logger.info("stopping the generations of an ended run", extra={"run_id": str(run_id)})
            local.cancel_run(str(run_id))
        async with self.redis.pipeline(transaction=False) as pipe:
            for run_id, progress in local.progress().items():
                pipe.set(run_model_progress_key(run_id), json.dumps(progress), ex=PROGRESS_TTL_SECONDS)
            await pipe.execute()

    # --- model resolution -----------------------------------------------------------------------

    def is_available(self, model: ModelInfo) -> bool:
        providers = self.chat_providers if model.kind == "chat" else self.embedding_providers
        return model.provider in providers

    def _how_to_enable(self, model: ModelInfo) -> str:
        return {
            "openai": "set OPENAI_API_KEY",
            "anthropic": "set ANTHROPIC_API_KEY",
            "openai_compatible": "set OPENAI_COMPATIBLE_BASE_URL and list it in OPENAI_COMPATIBLE_MODELS",
            "local": self.provider_status.get("local", "install the local model packages (scripts/bootstrap.sh)"),
        }[model.provider]

    def model_info(self, name: str, kind: str) -> ModelInfo:
        resolved = self.settings.model_aliases.get(name, name)
        model = self.catalog.get(resolved)
        if model is None or model.kind != kind:
            known = sorted(m.name for m in self.catalog.models.values() if m.kind == kind)
            raise BadRequestError(
                f"Unknown {kind} model {name!r}", code="unknown_model", details={"model": name, "known": known}
            )
        return model

    def chat_chain(self, model_name: str | None, role: str | None) -> list[ModelInfo]:
        if model_name:
            primary = self.model_info(model_name, "chat")
            if not self.is_available(primary):
                raise ServiceUnavailableError(
                    f"Model {primary.name} is not enabled: {self._how_to_enable(primary)}",
                    code="model_unavailable",
                    details={"model": primary.name, "provider": primary.provider},
                )
            fallbacks = [self.catalog.get(n) for n in self.settings.fallbacks.get(primary.name, [])]
            return [primary, *(m for m in fallbacks if m is not None and self.is_available(m) and m != primary)]
        names = self.settings.role_models.get(role or "", []) or [self.settings.model_aliases.get("default", "")]
        chain = [
            m
            for m in (self.catalog.get(self.settings.model_aliases.get(n, n)) for n in names)
            if m and self.is_available(m)
        ]
        if not chain:
            raise ServiceUnavailableError(
                "No configured model can serve this request",
                code="no_model_available",
                details={
                    "tried": names,
                    "providers": self.provider_status,
                    "fix": "set OPENAI_API_KEY or ANTHROPIC_API_KEY, or install the local model",
                },
            )
        return chain

    # --- building a generation from the /complete request ------------------------------------------

    def build_messages(
        self,
        role: str | None,
        *,
        version: str | None,
        context: list[dict[str, str]],
        prompt: str | None,
        system_context: str | None = None,
    ) -> tuple[list[dict[str, str]], Any]:
        """Messages with the role's versioned system prompt first (unless the context brings its own), and
        `system_context` added to whichever system prompt leads; returns them and the prompt used."""
        role_prompt = None
        if role:
            role_prompt = self.prompts.get(role, version)
            if role_prompt is None:
                raise BadRequestError(
                    f"No prompt {role}/{version or 'latest'}",
                    code="unknown_prompt_version",
                    details={"role": role, "versions": self.prompts.versions(role)},
                )
        messages = list(context)
        if role_prompt and not any(m["role"] == "system" for m in messages):
            messages.insert(0, {"role": "system", "content": role_prompt.system})
        if system_context:
            if messages and messages[0]["role"] == "system":
                messages[0] = {**messages[0], "content": f"{messages[0]['content']}\n\n{system_context}"}
            else:
                messages.insert(0, {"role": "system", "content": system_context})
        if prompt:
            messages.append({"role": "user", "content": prompt})
        return messages, role_prompt

    # --- budgets --------------------------------------------------------------------------------

    async def _estimate(self, generation: Generation) -> tuple[Decimal, int, int]:
        """Worst case over the chain: each model's prompt counted as that model will count it, and every
        completion token allowed, so concurrent reservations can never add up past a hard cap."""
        prompts = [(model, await self._prompt_tokens_on(generation, model)) for model in generation.chain]
        prompt_tokens = max(tokens for _, tokens in prompts)
        cost = max(model.cost(tokens, generation.max_tokens) for model, tokens in prompts)
        return cost, prompt_tokens + generation.max_tokens, prompt_tokens

    def caches(self, *, asked: bool | None, temperature: float) -> bool:
        """Whether a call may be answered from the response cache: as asked, else only deterministic calls
        (temperature 0) where the cache is on."""
        if asked is not None:
            return asked
        return self.settings.cache_enabled and temperature == 0

    def client_generation(
        self,
        identity: Identity,
        *,
        request_id: str | None,
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
            chain=self.chat_chain(model, None),
            max_tokens=max_tokens,
            temperature=temperature,
            response_format=response_format,
            use_cache=self.caches(asked=None, temperature=temperature),
            user_id=identity.user_id,
            api_key_id=identity.api_key_id,
            team_id=identity.team_id,
            request_id=request_id,
            tools=tools,
            tool_choice=tool_choice,
        )

    async def count_prompt_tokens(self, generation: Generation) -> int:
        """The prompt's tokens as the first model of the chain counts them (its own tokenizer where it has one)."""
        return await self._prompt_tokens_on(generation, generation.chain[0])

    async def _prompt_tokens_on(self, generation: Generation, model: ModelInfo) -> int:
        provider = self.chat_providers.get(model.provider)
        exact = getattr(provider, "count_prompt_tokens", None)
        if exact is not None:
            # The model's own chat template and tokenizer (the embedded model): off the event loop.
            return int(await asyncio.to_thread(exact, self._request(generation, model)))
        encoding = model.tokenizer or "cl100k_base"
        tools = count_text_tokens(json.dumps(generation.tools), encoding) if generation.tools else 0
        return count_chat_tokens(generation.messages, encoding) + tools

    async def _reserve(self, generation: Generation, api_key: ApiKey | None) -> Reservation:
        limits, policy = await self.limits.of_call(
            generation.user_id, generation.run_id, api_key=api_key, team_id=generation.team_id
        )
        if not limits:
            return Reservation((), 0, 0)
        cost, tokens, _ = await self._estimate(generation)
        try:
            return await self.counters.reserve(limits, cost, tokens)
        except BudgetExceeded as exceeded:
            downgrade = self.catalog.get(self.settings.downgrade_model)
            if policy == "downgrade" and downgrade and self.is_available(downgrade) and generation.chain != [downgrade]:
                logger.info("budget reached; downgrading", extra={"to": downgrade.name, **exceeded.describe()})
                generation.chain = [downgrade]
                cost, tokens, _ = await self._estimate(generation)
                try:
                    return await self.counters.reserve(limits, cost, tokens)
                except BudgetExceeded as still:
                    exceeded = still
            raise _over_budget(exceeded, estimated_cost_usd=str(cost), estimated_tokens=tokens) from exceeded

    async def _api_key(self, generation: Generation) -> ApiKey | None:
        """The virtual key's limits row (cached like budget rows), and its model allowlist applied to the chain."""
        api_key = await self.limits.key_row(generation.api_key_id)
        if api_key is None or api_key.allowed_models is None:
            return api_key
        allowed = {self.settings.model_aliases.get(name, name) for name in api_key.allowed_models}
        permitted = [m for m in generation.chain if m.name in allowed]
        if not permitted:
            raise ForbiddenError(
                f"This API key may not use {generation.chain[0].name}",
                code="model_not_allowed",
                details={"model": generation.chain[0].name, "allowed_models": sorted(api_key.allowed_models)},
            )
        generation.chain = permitted
        return api_key

    # --- chat -----------------------------------------------------------------------------------

    def _request(self, generation: Generation, model: ModelInfo) -> ChatRequest:
        return ChatRequest(
            model=model.name,
            messages=generation.messages,
            max_tokens=generation.max_tokens,
            temperature=generation.temperature,
            response_format=generation.response_format,
            timeout_seconds=self.settings.request_timeout_seconds,
            tools=generation.tools,
            tool_choice=generation.tool_choice,
            run_id=generation.run_id,
            task_id=generation.task_id,
            role=generation.role,
        )

    def _usage(
        self, generation: Generation, *, model: ModelInfo, content: str, reported: ChatResult | StreamChunk | None
    ) -> tuple[int, int]:
        """Provider-reported usage wins; otherwise count with the model's tokenizer."""
        if reported and reported.prompt_tokens is not None and reported.completion_tokens is not None:
            return reported.prompt_tokens, reported.completion_tokens
        if model.provider == "local" and "local" in self.chat_providers:
            local = self.chat_providers["local"]
            return local.count_tokens("".join(m["content"] for m in generation.messages)), local.count_tokens(content)
        encoding = model.tokenizer or "cl100k_base"
        return count_chat_tokens(generation.messages, encoding), count_text_tokens(content, encoding)

    def _record(
        self,
        generation: Generation,
        *,
        model: ModelInfo | None,
        prompt_tokens: int,
        completion_tokens: int,
        cost: Decimal,
        latency_ms: float,
        cached: bool,
        status: str,
        operation: str = "complete",
        error: str | None = None,
    ) -> None:
        self.ledger.record(
            {
                "user_id": _uuid(generation.user_id),
                "run_id": _uuid(generation.run_id),
                "api_key_id": _uuid(generation.api_key_id),
                "team_id": _uuid(generation.team_id),
                "task_id": _uuid(generation.task_id),
                "agent_id": _uuid(generation.agent_id),
                "model": model.name if model else generation.chain[0].name,
                "provider": model.provider if model else generation.chain[0].provider,
                "operation": operation,
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "cost_usd": cost,
                "latency_ms": round(latency_ms, 3),
                "cached": cached,
                "status": status,
                "prompt_version": generation.prompt_version,
                "request_id": generation.request_id,
                "error": error,
            }
        )
        name, provider = (model.name, model.provider) if model else (generation.chain[0].name, "none")
        record_finished_span(
            f"llm.{operation} {name}",
            duration_ms=latency_ms,
            attributes={
                "gen_ai.operation.name": operation,
                "gen_ai.system": provider,
                "gen_ai.request.model": generation.chain[0].name,
                "gen_ai.response.model": name,
                "gen_ai.usage.input_tokens": prompt_tokens,
                "gen_ai.usage.output_tokens": completion_tokens,
                "cognitionos.cost_usd": float(cost),
                "cognitionos.cached": cached,
                "cognitionos.status": status,
            },
        )
        metrics.LLM_CALLS.labels(name, provider, "cached" if cached else status).inc()
        metrics.LLM_TOKENS.labels(name, provider, "prompt").inc(prompt_tokens)
        metrics.LLM_TOKENS.labels(name, provider, "completion").inc(completion_tokens)
        metrics.LLM_COST.labels(name, provider).inc(float(cost))
        if cached:
            metrics.LLM_CACHE_HITS.inc()

    def _cache_key(self, generation: Generation) -> str:
        # One user's cached answer is never another's, unless both asked for the shared namespace.
        namespace = "shared" if generation.shared_cache else f"user:{generation.user_id}"
        return cache_key(
            namespace=namespace,
            model_chain=[m.name for m in generation.chain],
            messages=generation.messages,
            max_tokens=generation.max_tokens,
            temperature=generation.temperature,
            response_format=generation.response_format,
        )

    async def generate(self, generation: Generation) -> GenerationResult:
        await self.check_run_owner(generation.run_id, generation.user_id)
        api_key = await self._api_key(generation)
        started = time.perf_counter()
        if generation.use_cache and (hit := await self.cache.get(self._cache_key(generation))):
            model = self.catalog.get(hit["model"]) or generation.chain[0]
            latency = (time.perf_counter() - started) * 1000
            self._record(
                generation,
                model=model,
                prompt_tokens=hit["prompt_tokens"],
                completion_tokens=hit["completion_tokens"],
                cost=Decimal(0),
                latency_ms=latency,
                cached=True,
                status="success",
            )
            return GenerationResult(
                content=hit["content"],
                model=model,
                prompt_tokens=hit["prompt_tokens"],
                completion_tokens=hit["completion_tokens"],
                cost=Decimal(0),
                latency_ms=latency,
                finish_reason=hit["finish_reason"],
                cached=True,
            )
        reservation = await self._reserve(generation, api_key)
        try:
            model, result = await self.fallback.run(
                generation.chain, lambda m: self.chat_providers[m.provider].complete(self._request(generation, m))
            )
        except (AllDeploymentsFailed, ProviderError) as exc:
            raise await self._failed(generation, reservation=reservation, started=started, exc=exc) from exc
        except asyncio.CancelledError:
            await asyncio.shield(self._abandoned(generation, reservation=reservation, started=started))
            raise
        prompt_tokens, completion_tokens = self._usage(generation, model=model, content=result.content, reported=result)
        cost = model.cost(prompt_tokens, completion_tokens)
        await self.counters.settle(reservation, cost, prompt_tokens + completion_tokens)
        latency = (time.perf_counter() - started) * 1000
        self._record(
            generation,
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost=cost,
            latency_ms=latency,
            cached=False,
            status="success",
        )
        tried = [m.name for m in generation.chain[: generation.chain.index(model)]]
        if tried:
            metrics.LLM_FALLBACKS.inc()
        outcome = GenerationResult(
            content=result.content,
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost=cost,
            latency_ms=latency,
            finish_reason=result.finish_reason,
            cached=False,
            fallbacks_tried=tried,
            tool_calls=result.tool_calls,
        )
        if generation.use_cache and not result.tool_calls:
            await self.cache.put(
                self._cache_key(generation),
                {
                    "content": result.content,
                    "model": model.name,
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "finish_reason": result.finish_reason,
                },
            )
        return outcome

    async def _failed(
        self, generation: Generation, *, reservation: Reservation, started: float, exc: Exception
    ) -> AppError:
        """Every chain member failed: release the reservation, record the failed call, and say why to the caller."""
        await self.counters.settle(reservation, Decimal(0), 0)
        self._record(
            generation,
            model=None,
            prompt_tokens=0,
            completion_tokens=0,
            cost=Decimal(0),
            latency_ms=(time.perf_counter() - started) * 1000,
            cached=False,
            status="error",
            error=str(exc),
        )
        return _provider_failure(exc)

    async def _abandoned(self, generation: Generation, *, reservation: Reservation, started: float) -> None:
        """The caller went away mid-call: a provider may bill what it already did, so the reservation (the most the
        call could cost) is charged, and the call is recorded as cancelled. The embedded model costs nothing."""
        await self.counters.settle(reservation, Decimal(reservation.cost_micros) / MICROS, reservation.tokens)
        self._record(
            generation,
            model=None,
            prompt_tokens=0,
            completion_tokens=0,
            cost=Decimal(reservation.cost_micros) / MICROS,
            latency_ms=(time.perf_counter() - started) * 1000,
            cached=False,
            status="cancelled",
            error="the caller disconnected",
        )

    async def generate_stream(self, generation: Generation) -> StreamedGeneration:
        """Reserve, open the stream (retries and fallback until the first chunk), then relay; settle at the end."""
        await self.check_run_owner(generation.run_id, generation.user_id)
        api_key = await self._api_key(generation)
        started = time.perf_counter()
        reservation = await self._reserve(generation, api_key)
        try:
            model, first, rest = await self.fallback.stream(
                generation.chain, lambda m: self.chat_providers[m.provider].stream(self._request(generation, m))
            )
        except (AllDeploymentsFailed, ProviderError) as exc:
            raise await self._failed(generation, reservation=reservation, started=started, exc=exc) from exc
        metrics.LLM_FIRST_TOKEN.labels(model.name).observe(time.perf_counter() - started)
        result = GenerationResult(
            content="",
            model=model,
            prompt_tokens=0,
            completion_tokens=0,
            cost=Decimal(0),
            latency_ms=0.0,
            finish_reason=None,
            cached=False,
        )

        async def relay() -> AsyncIterator[StreamChunk]:
            parts: list[str] = []
            usage: StreamChunk | None = None
            status, error = "success", None
            try:
                async for chunk in _prepend(first, rest):
                    if chunk.prompt_tokens is not None:
                        usage = chunk
                    if chunk.finish_reason:
                        result.finish_reason = chunk.finish_reason
                    if chunk.delta:
                        parts.append(chunk.delta)
                    if chunk.tool_calls:
                        result.tool_calls = merge_tool_call_deltas(result.tool_calls or [], chunk.tool_calls)
                    yield chunk
            except ProviderError as exc:
                status, error = "error", str(exc)
                raise
            finally:
                # Runs on normal end, provider failure and client disconnect alike: the budget is always settled.
                result.content = "".join(parts)
                result.prompt_tokens, result.completion_tokens = self._usage(
                    generation, model=model, content=result.content, reported=usage
                )
                result.cost = model.cost(result.prompt_tokens, result.completion_tokens)
                result.latency_ms = (time.perf_counter() - started) * 1000
                self._record(
                    generation,
                    model=model,
                    prompt_tokens=result.prompt_tokens,
                    completion_tokens=result.completion_tokens,
                    cost=result.cost,
                    latency_ms=result.latency_ms,
                    cached=False,
                    status=status,
                    error=error,
                )
                # Shielded: a client that disconnects cancels this task, but the budget must still be settled.
                await asyncio.shield(
                    self.counters.settle(reservation, result.cost, result.prompt_tokens + result.completion_tokens)
                )

        return StreamedGeneration(model, relay(), result)

    # --- embeddings ----------------------------------------------------------------------------

    async def embed(
        self,
        texts: list[str],
        *,
        model_name: str | None,
        user_id: str | None,
        run_id: str | None,
        request_id: str | None,
        api_key_id: str | None = None,
        team_id: str | None = None,
    ) -> tuple[ModelInfo, EmbeddingResult, Decimal]:
        """Embeddings are charged to the run and API key they came with, within the key's token and budget limits
        (its model allowlist names chat models: memory keeps working under a key limited to one chat model)."""
        model = self.model_info(model_name or self.settings.default_embedding_model, "embedding")
        if not self.is_available(model):
            raise ServiceUnavailableError(
                f"Embedding model {model.name} is not enabled: {self._how_to_enable(model)}",
                code="model_unavailable",
                details={"model": model.name, "provider": model.provider},
            )
        generation = Generation(
            messages=[{"role": "user", "content": t} for t in texts],
            chain=[model],
            max_tokens=0,
            temperature=0.0,
            response_format=None,
            use_cache=False,
            user_id=user_id,
            run_id=run_id,
            request_id=request_id,
            api_key_id=api_key_id,
            team_id=team_id,
        )
        await self.check_run_owner(run_id, user_id)
        started = time.perf_counter()
        key = await self.limits.key_row(api_key_id)
        limits, _ = await self.limits.of_call(user_id, run_id, api_key=key, team_id=team_id)
        estimate_tokens = sum(count_text_tokens(t, model.tokenizer or "cl100k_base") for t in texts)
        try:
            reservation = await self.counters.reserve(limits, model.cost(estimate_tokens, 0), estimate_tokens)
        except BudgetExceeded as exceeded:
            raise _over_budget(exceeded) from exceeded
        try:
            _, result = await self.fallback.run(
                [model], lambda m: self.embedding_providers[m.provider].embed(m.name, texts)
            )
        except (AllDeploymentsFailed, ProviderError) as exc:
            await self.counters.settle(reservation, Decimal(0), 0)
            raise _provider_failure(exc) from exc
        tokens = result.prompt_tokens if result.prompt_tokens is not None else estimate_tokens
        cost = model.cost(tokens, 0)
        await self.counters.settle(reservation, cost, tokens)
        self._record(
            generation,
            model=model,
            prompt_tokens=tokens,
            completion_tokens=0,
            cost=cost,
            latency_ms=(time.perf_counter() - started) * 1000,
            cached=False,
            status="success",
            operation="embed",
        )
        return model, result, cost


def _over_budget(exceeded: BudgetExceeded, **details: object) -> AppError:
    """402 for a spent budget; 429 with Retry-After for a key's tokens per minute (it frees up within the minute)."""
    limit = exceeded.limit
    metrics.LLM_BUDGET_REJECTIONS.labels(limit.scope).inc()
    if limit.period == "minute":
        wait = 60 - datetime.now(UTC).second
        return TooManyRequestsError(
            "This API key's tokens-per-minute limit is reached",
            code="tpm_limit_exceeded",
            details={**exceeded.describe(), "retry_after_seconds": wait},
            headers={"Retry-After": str(wait)},
        )
    return PaymentRequiredError(
        f"Budget exceeded: {limit.scope} {limit.period} {exceeded.kind} limit",
        details={**exceeded.describe(), **details},
    )


def _provider_failure(exc: Exception) -> AppError:
    if isinstance(exc, ProviderError) and exc.client_error:
        return BadRequestError(
            f"The model provider rejected the request: {exc.message}",
            code="provider_rejected",
            details={"provider": exc.provider},
        )
    if isinstance(exc, AllDeploymentsFailed) and exc.attempts and all(a.busy for a in exc.attempts):
        wait = math.ceil(min(a.retry_after_seconds or 1.0 for a in exc.attempts))
        return TooManyRequestsError(
            "The model is busy: more is queued than you should wait for; retry after the Retry-After seconds",
            code="model_busy",
            details={"retry_after_seconds": wait, "models": [a.model for a in exc.attempts]},
            headers={"Retry-After": str(wait)},
        )
    if isinstance(exc, AllDeploymentsFailed):
        attempts = [
            {"model": a.model, "provider": a.provider, "error": a.error, "status": a.status} for a in exc.attempts
        ]
        return ServiceUnavailableError(
            "Every model in the chain failed",
            code="providers_unavailable",
            details={"attempts": attempts, "cooling_down": exc.skipped},
        )
    return ServiceUnavailableError(str(exc), code="providers_unavailable")


async def _prepend(first: StreamChunk, rest: AsyncIterator[StreamChunk]) -> AsyncIterator[StreamChunk]:
    yield first
    async for chunk in rest:
        yield chunk


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def format_sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n"


def merge_tool_call_deltas(calls: list[dict[str, Any]], deltas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Streamed tool-call pieces, by index, into whole calls: the id, type and name once, the arguments appended."""
    merged = dict(enumerate(calls))
    for delta in deltas:
        index = int(delta.get("index", 0))
        call = merged.setdefault(index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
        call["id"] = delta.get("id") or call["id"]
        function = delta.get("function") or {}
        call["function"]["name"] = function.get("name") or call["function"]["name"]
        call["function"]["arguments"] += function.get("arguments") or ""
    return [merged[i] for i in sorted(merged)]
