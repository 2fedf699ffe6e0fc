"""SQL for budgets and the usage ledger."""

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from sqlalchemy import cast, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import Date, String

from database.models import Budget, LlmUsage, Run


async def get_budget(session: AsyncSession, scope: str, scope_id: str) -> Budget | None:
    query = select(Budget).where(Budget.scope == scope, Budget.scope_id == scope_id)
    return (await session.execute(query)).scalars().first()


async def run_owner(session: AsyncSession, run_id: uuid.UUID) -> uuid.UUID | None:
    return (await session.execute(select(Run.user_id).where(Run.id == run_id))).scalar_one_or_none()


async def ended_runs(session: AsyncSession, run_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    """Those of `run_ids` that are no longer running (cancelled, failed, finished or gone)."""
    running = set((await session.execute(select(Run.id).where(Run.id.in_(run_ids), Run.status == "running"))).scalars())
    return [run_id for run_id in run_ids if run_id not in running]


async def upsert_budget(session: AsyncSession, *, scope: str, scope_id: str, values: dict[str, object]) -> Budget:
    statement = (
        insert(Budget)
        .values(id=uuid.uuid4(), scope=scope, scope_id=scope_id, **values)
        .on_conflict_do_update(constraint="uq_budgets_scope", set_={**values, "updated_at": func.now()})
        .returning(Budget)
    )
    return (await session.execute(statement)).scalars().one()


async def ledger_spend(
    session: AsyncSession, *, scope: str, scope_id: str, since: datetime | None
) -> tuple[Decimal, int]:
    """What the ledger says this user/run has spent since a moment (None: ever)."""
    column = {
        "user": LlmUsage.user_id,
        "run": LlmUsage.run_id,
        "api_key": LlmUsage.api_key_id,
        "team": LlmUsage.team_id,
    }[scope]
    query = select(
        func.coalesce(func.sum(LlmUsage.cost_usd), 0),
        func.coalesce(func.sum(LlmUsage.prompt_tokens + LlmUsage.completion_tokens), 0),
    ).where(column == uuid.UUID(scope_id))
    if since is not None:
        query = query.where(LlmUsage.created_at >= since)
    cost, tokens = (await session.execute(query)).one()
    return Decimal(cost), int(tokens)


async def spend_by(
    session: AsyncSession,
    group_by: Literal["user", "model", "day", "api_key", "team"],
    since: date | None,
    *,
    user_id: uuid.UUID | None = None,
    team_id: uuid.UUID | None = None,
) -> list[tuple[str, int, int, int, Decimal]]:
    """Spend grouped by user, model, day, key or team, for everyone, one user (user_id) or one team (team_id)."""
    key = {
        "team": cast(LlmUsage.team_id, String),
        "user": cast(LlmUsage.user_id, String),
        "model": LlmUsage.model,
        "day": cast(cast(LlmUsage.created_at, Date), String),
        "api_key": cast(LlmUsage.api_key_id, String),
    }[group_by]
    query = (
        select(
            func.coalesce(key, "unknown"),
            func.count(),
            func.sum(LlmUsage.prompt_tokens),
            func.sum(LlmUsage.completion_tokens),
            func.sum(LlmUsage.cost_usd),
        )
        .group_by(key)
        .order_by(func.sum(LlmUsage.cost_usd).desc())
    )
    if since is not None:
        query = query.where(LlmUsage.created_at >= since)
    if user_id is not None:
        query = query.where(LlmUsage.user_id == user_id)
    if team_id is not None:
        query = query.where(LlmUsage.team_id == team_id)
    return [tuple(row) for row in (await session.execute(query)).all()]  # type: ignore[misc]
