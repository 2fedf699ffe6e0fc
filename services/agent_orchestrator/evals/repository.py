"""SQL of evals: their rows, the claim of pending cases under a lease (any number of orchestrator processes work
one eval, each case once), and what a finished case records."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Integer, and_, cast, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import Eval, EvalResult, Run, Task, TaskExecutionLog
from shared.pagination import keyset

OPEN_RESULT_STATUSES = ("pending", "running")


async def get_eval(session: AsyncSession, eval_id: uuid.UUID) -> Eval | None:
    return await session.get(Eval, eval_id)


async def list_evals(
    session: AsyncSession, user_id: uuid.UUID, *, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[Eval]:
    query = keyset(select(Eval).where(Eval.user_id == user_id), Eval, after=after, limit=limit, newest_first=True)
    return list((await session.execute(query)).scalars())


async def results_of(session: AsyncSession, eval_ids: Sequence[uuid.UUID]) -> list[EvalResult]:
    if not eval_ids:
        return []
    query = select(EvalResult).where(EvalResult.eval_id.in_(eval_ids)).order_by(EvalResult.position, EvalResult.arm)
    return list((await session.execute(query)).scalars())


@dataclass(frozen=True, kw_only=True)
class Tally:
    """What an arm's summary reads of one case: a list of evals reads no more than this of each (not the cases'
    definitions, nor the code and answers their details keep)."""

    eval_id: uuid.UUID
    arm: str
    status: str
    cost_usd: Decimal
    tokens: int
    wall_ms: int | None
    models: list[str]
    prompt_versions: dict[str, str]

    @classmethod
    def of(cls, result: EvalResult) -> "Tally":
        return cls(
            eval_id=result.eval_id,
            arm=result.arm,
            status=result.status,
            cost_usd=result.cost_usd,
            tokens=result.tokens,
            wall_ms=result.wall_ms,
            models=result.detail.get("models") or [],
            prompt_versions=result.detail.get("prompt_versions") or {},
        )


async def tallies(session: AsyncSession, eval_ids: Sequence[uuid.UUID]) -> list[Tally]:
    if not eval_ids:
        return []
    rows = await session.execute(
        select(
            EvalResult.eval_id,
            EvalResult.arm,
            EvalResult.status,
            EvalResult.cost_usd,
            EvalResult.tokens,
            EvalResult.wall_ms,
            EvalResult.detail["models"],
            EvalResult.detail["prompt_versions"],
        ).where(EvalResult.eval_id.in_(eval_ids))
    )
    return [
        Tally(
            eval_id=eval_id,
            arm=arm,
            status=status,
            cost_usd=cost_usd,
            tokens=tokens,
            wall_ms=wall_ms,
            models=models or [],
            prompt_versions=prompt_versions or {},
        )
        for eval_id, arm, status, cost_usd, tokens, wall_ms, models, prompt_versions in rows
    ]


async def claim(session: AsyncSession, *, most: int, lease_seconds: float) -> list[EvalResult]:
    """Up to `most` cases of running evals, each eval kept within its concurrency across every process (its row
    is locked while its cases are counted and claimed): pending ones, and running ones whose lease lapsed (their
    process died). Commits."""
    now = func.now()
    evals = (
        await session.execute(
            select(Eval)
            .where(Eval.status == "running")
            .order_by(Eval.created_at)
            .limit(32)
            .with_for_update(skip_locked=True)
        )
    ).scalars()
    claimed: list[EvalResult] = []
    for evaluation in list(evals):
        live = await session.scalar(
            select(func.count()).where(
                EvalResult.eval_id == evaluation.id, EvalResult.status == "running", EvalResult.lease_expires_at > now
            )
        )
        room = min(evaluation.concurrency - (live or 0), most - len(claimed))
        if room <= 0:
            continue
        claimable = or_(
            EvalResult.status == "pending",
            and_(EvalResult.status == "running", EvalResult.lease_expires_at <= now),
        )
        rows = (
            await session.execute(
                select(EvalResult)
                .where(EvalResult.eval_id == evaluation.id, claimable)
                .order_by(EvalResult.position, EvalResult.arm)
                .limit(room)
                .with_for_update(skip_locked=True)
            )
        ).scalars()
        for row in rows:
            row.status = "running"
            row.lease_expires_at = now + timedelta(seconds=lease_seconds)
            row.started_at = row.started_at or now
            claimed.append(row)
        if evaluation.started_at is None and claimed:
            evaluation.started_at = now
    await session.commit()
    for row in claimed:
        await session.refresh(row)
    return claimed


async def lock_eval(session: AsyncSession, eval_id: uuid.UUID) -> None:
    await session.execute(select(Eval.id).where(Eval.id == eval_id).with_for_update())


async def renew(session: AsyncSession, result_id: uuid.UUID, *, lease_seconds: float) -> bool:
    """Extends the lease of a case still running; False when it no longer is (its eval was cancelled)."""
    renewed = await session.execute(
        update(EvalResult)
        .where(EvalResult.id == result_id, EvalResult.status == "running")
        .values(lease_expires_at=func.now() + timedelta(seconds=lease_seconds))
        .returning(EvalResult.id)
    )
    await session.commit()
    return renewed.first() is not None


async def set_run(session: AsyncSession, result_id: uuid.UUID, run_id: uuid.UUID) -> None:
    await session.execute(update(EvalResult).where(EvalResult.id == result_id).values(run_id=run_id))


async def finish(
    session: AsyncSession,
    result_id: uuid.UUID,
    *,
    passed: bool,
    cost_usd: Decimal,
    tokens: int,
    detail: dict[str, Any],
) -> bool:
    """Records a checked case, unless it stopped running meanwhile (cancelled): False then."""
    finished = await session.execute(
        update(EvalResult)
        .where(EvalResult.id == result_id, EvalResult.status == "running")
        .values(
            status="passed" if passed else "failed",
            cost_usd=cost_usd,
            tokens=tokens,
            detail=detail,
            finished_at=func.now(),
            wall_ms=cast(func.extract("epoch", func.now() - EvalResult.started_at) * 1000, Integer),
            lease_expires_at=None,
        )
        .returning(EvalResult.id)
    )
    return finished.first() is not None


async def close_if_done(session: AsyncSession, eval_id: uuid.UUID) -> bool:
    """The eval succeeds once none of its cases is pending or running; True for the one call that closed it."""
    still_open = (
        select(EvalResult.id).where(EvalResult.eval_id == eval_id, EvalResult.status.in_(OPEN_RESULT_STATUSES)).exists()
    )
    closed = await session.execute(
        update(Eval)
        .where(Eval.id == eval_id, Eval.status == "running", ~still_open)
        .values(status="succeeded", finished_at=func.now())
        .returning(Eval.id)
    )
    return closed.first() is not None


async def cancel_open_results(session: AsyncSession, eval_id: uuid.UUID) -> list[uuid.UUID]:
    """Cancels the eval's pending and running cases; the runs of those that had started one."""
    cancelled = await session.execute(
        update(EvalResult)
        .where(EvalResult.eval_id == eval_id, EvalResult.status.in_(OPEN_RESULT_STATUSES))
        .values(status="cancelled", finished_at=func.now(), lease_expires_at=None)
        .returning(EvalResult.run_id)
    )
    return [run_id for (run_id,) in cancelled if run_id is not None]


async def run_status(session: AsyncSession, run_id: uuid.UUID) -> str | None:
    return await session.scalar(select(Run.status).where(Run.id == run_id).execution_options(populate_existing=True))


async def succeeded_outputs(session: AsyncSession, run_id: uuid.UUID) -> list[dict[str, Any]]:
    """The outputs of the run's succeeded tasks, in the order they finished."""
    rows = await session.execute(
        select(Task.output)
        .where(Task.run_id == run_id, Task.status == "succeeded", Task.output.is_not(None))
        .order_by(Task.finished_at, Task.task_key)
    )
    return [output for (output,) in rows if isinstance(output, dict)]


async def llm_events(session: AsyncSession, run_id: uuid.UUID) -> list[dict[str, Any]]:
    """The data of the run's model calls (planning and the agents' calls): tokens, model, role, prompt version."""
    rows = await session.execute(
        select(TaskExecutionLog.data).where(
            TaskExecutionLog.run_id == run_id, TaskExecutionLog.event_type.in_(("llm_call", "plan_created"))
        )
    )
    return [data for (data,) in rows]


async def note_error(session: AsyncSession, eval_id: uuid.UUID, error: str) -> None:
    await session.execute(update(Eval).where(Eval.id == eval_id).values(error=error[:4000]))
    await session.commit()
