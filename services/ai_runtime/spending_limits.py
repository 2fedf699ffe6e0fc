"""The spending limits of a call and the budgets behind them: a user's and a run's budgets and an API key's own
limits, read through a short cache, the counters seeded from the ledger when Redis lost them, and the reports of
budgets and spend."""

import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from database.models import ApiKey, Budget
from services.ai_runtime import repository
from services.ai_runtime.budget import BudgetCounters, Limit, period_limits
from services.ai_runtime.config import AIRuntimeSettings
from services.ai_runtime.ledger import UsageLedger
from services.ai_runtime.schemas import BudgetRequest, BudgetResponse, BudgetUsage, SpendResponse, SpendRow
from shared import audit
from shared.identity import Identity


class SpendingLimits:
    def __init__(
        self,
        *,
        settings: AIRuntimeSettings,
        sessionmaker: async_sessionmaker[AsyncSession],
        counters: BudgetCounters,
        ledger: UsageLedger,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.counters = counters
        self.ledger = ledger
        # (scope, id) -> (valid until, limits row or None): a budget or an API key's limits. Saves a query per call;
        # admin budget changes clear it (a key's limits never change after it is made).
        self._limit_rows: dict[tuple[str, str], tuple[float, Any]] = {}

    async def find_budget(self, scope: str, scope_id: str) -> Budget | None:
        async with self.sessionmaker() as session:
            return await repository.get_budget(session, scope, scope_id)

    async def budget_report(self, budget: Budget) -> BudgetResponse:
        """The budget's limits and, for each period, what is spent and reserved against it now."""
        usage = []
        for limit in period_limits(
            scope=budget.scope,
            scope_id=budget.scope_id,
            daily=(budget.daily_usd, budget.daily_tokens),
            monthly=(budget.monthly_usd, budget.monthly_tokens),
            total=(budget.total_usd, budget.total_tokens),
        ):
            spent, tokens, reserved, reserved_tokens = await self.counters.usage(limit)
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
        limits = {name: getattr(budget, name) for name in BudgetRequest.model_fields}
        return BudgetResponse(scope=budget.scope, scope_id=budget.scope_id, usage=usage, **limits)

    async def spend_report(
        self,
        *,
        group_by: Literal["user", "model", "day", "api_key", "team"],
        since: date | None,
        user_id: uuid.UUID | None,
        team_id: uuid.UUID | None = None,
    ) -> SpendResponse:
        """Spend from the ledger (the rows still batched in memory written first): one user's, one team's, or
        everyone's."""
        await self.ledger.flush()
        async with self.sessionmaker() as session:
            rows = await repository.spend_by(session, group_by, since, user_id=user_id, team_id=team_id)
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

    async def set_budget(self, actor: Identity, *, scope: str, scope_id: str, values: dict[str, object]) -> Budget:
        async with self.sessionmaker.begin() as session:
            before = await repository.get_budget(session, scope, scope_id)
            shown_before = {k: getattr(before, k) for k in values} if before is not None else None
            budget = await repository.upsert_budget(session, scope=scope, scope_id=scope_id, values=values)
            details = {"scope": scope, "before": shown_before, "after": values}
            await audit.record(
                session, actor, "budget.set", target_type=f"{scope}_budget", target_id=scope_id, details=details
            )
        self._limit_rows.pop((scope, scope_id), None)
        return budget

    async def _limit_row(self, key: tuple[str, str], load: Callable[[], Awaitable[Any]]) -> Any:
        now = time.monotonic()
        cached = self._limit_rows.get(key)
        if cached and cached[0] > now:
            return cached[1]
        row = await load()
        self._limit_rows[key] = (now + self.settings.budget_cache_seconds, row)
        return row

    async def _budget_row(self, scope: str, scope_id: str) -> Budget | None:
        async def load() -> Budget | None:
            async with self.sessionmaker() as session:
                return await repository.get_budget(session, scope, scope_id)

        return await self._limit_row((scope, scope_id), load)

    async def of_call(
        self, user_id: str | None, run_id: str | None, *, api_key: ApiKey | None = None, team_id: str | None = None
    ) -> tuple[list[Limit], str]:
        limits: list[Limit] = key_limits(api_key) if api_key is not None else []
        policy = self.settings.budget_policy
        for scope, scope_id in (("user", user_id), ("run", run_id), ("team", team_id)):
            if not scope_id:
                continue
            budget = await self._budget_row(scope, scope_id)
            if budget is None:
                continue
            if budget.policy == "downgrade":
                policy = "downgrade"
            limits += period_limits(
                scope=scope,
                scope_id=scope_id,
                daily=(budget.daily_usd, budget.daily_tokens),
                monthly=(budget.monthly_usd, budget.monthly_tokens),
                total=(budget.total_usd, budget.total_tokens),
            )
        if limits:
            await self._seed_missing_counters(limits)
        return limits, policy

    async def _seed_missing_counters(self, limits: list[Limit]) -> None:
        missing = await self.counters.missing(limits)
        if not missing:
            return
        async with self.sessionmaker() as session:
            for limit in missing:
                spent, tokens = await repository.ledger_spend(
                    session, scope=limit.scope, scope_id=limit.scope_id, since=limit.since
                )
                await self.counters.seed(limit, spent, tokens)

    async def key_row(self, api_key_id: str | None) -> ApiKey | None:
        if api_key_id is None:
            return None
        key_id = uuid.UUID(api_key_id)

        async def load() -> ApiKey | None:
            async with self.sessionmaker() as session:
                return await session.get(ApiKey, key_id)

        row: ApiKey | None = await self._limit_row(("api_key", api_key_id), load)
        return row


def key_limits(api_key: ApiKey) -> list[Limit]:
    """A virtual key's budget over its whole life, and its tokens per minute, as budget counters."""
    limits = period_limits(
        scope="api_key",
        scope_id=str(api_key.id),
        daily=(None, None),
        monthly=(None, None),
        total=(api_key.max_budget_usd, None),
    )
    if api_key.tpm_limit:
        minute = datetime.now(UTC).replace(second=0, microsecond=0)
        limits.append(
            Limit(
                key=f"budget:api_key:{api_key.id}:min:{minute:%Y%m%d%H%M}",
                scope="api_key",
                scope_id=str(api_key.id),
                period="minute",
                since=minute,
                usd=None,
                tokens=api_key.tpm_limit,
                ttl_seconds=120,
            )
        )
    return limits
