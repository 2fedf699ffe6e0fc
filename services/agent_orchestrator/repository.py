"""SQL for agent definitions, runs, their tasks and their event log.

Workers coordinate only through these rows: ready tasks are claimed with FOR UPDATE SKIP LOCKED under a
lease, and every change to a run's tasks happens while holding that run's row lock, so two workers finishing
sibling tasks at once cannot both miss promoting their common dependent.
"""

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Text, and_, exists, func, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from database import models
from database.models import Agent, Approval, Run, Task, TaskExecutionLog
from shared import teams
from shared.identity import Identity
from shared.pagination import keyset

TASKS_CHANNEL = "cognitionos_tasks"
EVENTS_CHANNEL = "cognitionos_run_events"
WAITING_TASK_STATUSES = ("awaiting_approval", "awaiting_input")  # for a person: no lease, no slot held
# Those the partial index (run_id, status) holds; WAITING_TASK_STATUSES are among them.
OPEN_TASK_STATUSES = models.OPEN_TASK_STATUSES
TERMINAL_RUN_STATUSES = frozenset({"succeeded", "failed", "cancelled"})


# --- agents ---------------------------------------------------------------------------------------------


async def _visible_to(session: AsyncSession, identity: Identity) -> ColumnElement[bool]:
    """Active agents that are built in, the caller's own, or their teams'."""
    built_in = and_(Agent.owner_id.is_(None), Agent.team_id.is_(None))
    theirs = await teams.reachable(session, identity, owner=Agent.owner_id, team=Agent.team_id)
    return and_(Agent.is_active.is_(True), or_(built_in, theirs))


async def list_visible(
    session: AsyncSession, identity: Identity, *, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[Agent]:
    """Oldest first (the built-in ones, then yours); `after` is the last (created_at, id) of the previous page."""
    query = keyset(
        select(Agent).where(await _visible_to(session, identity)), Agent, after=after, limit=limit, newest_first=False
    )
    return list((await session.execute(query)).scalars())


async def get_by_name(session: AsyncSession, name: str) -> Agent | None:
    return (await session.execute(select(Agent).where(Agent.name == name))).scalars().first()


async def add(session: AsyncSession, agent: Agent) -> Agent:
    session.add(agent)
    await session.flush()
    await session.refresh(agent)
    return agent


# --- runs and tasks -------------------------------------------------------------------------------------


async def get_run(session: AsyncSession, run_id: uuid.UUID) -> Run | None:
    return await session.get(Run, run_id)


async def run_by_idempotency_key(session: AsyncSession, user_id: uuid.UUID, key: str) -> Run | None:
    query = select(Run).where(Run.user_id == user_id, Run.idempotency_key == key)
    return (await session.execute(query)).scalars().first()


async def lock_run(session: AsyncSession, run_id: uuid.UUID) -> Run | None:
    query = select(Run).where(Run.id == run_id).with_for_update().execution_options(populate_existing=True)
    return (await session.execute(query)).scalars().first()


async def list_tasks(session: AsyncSession, run_id: uuid.UUID) -> list[Task]:
    query = select(Task).where(Task.run_id == run_id).order_by(Task.created_at, Task.task_key)
    return list((await session.execute(query)).scalars())


async def list_runs(
    session: AsyncSession, identity: Identity, *, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[Run]:
    """Yours and your teams', newest first; `after` is the last (created_at, id) of the previous page."""
    reachable = await teams.reachable(session, identity, owner=Run.user_id, team=Run.team_id)
    mine = select(Run).where(reachable, Run.eval_id.is_(None))  # an eval's runs are shown by the eval
    query = keyset(mine, Run, after=after, limit=limit, newest_first=True)
    return list((await session.execute(query)).scalars())


async def task_outputs(
    session: AsyncSession, run_id: uuid.UUID, keys: Sequence[str]
) -> dict[str, dict[str, Any] | None]:
    if not keys:
        return {}
    rows = await session.execute(
        select(Task.task_key, Task.output).where(Task.run_id == run_id, Task.task_key.in_(keys))
    )
    return dict(rows.all())


DependencyOutputs = dict[uuid.UUID, dict[str, dict[str, Any] | None]]  # task id -> {dependency key: its output}


async def dependency_outputs(session: AsyncSession, tasks: Sequence[Task]) -> DependencyOutputs:
    """What each task's dependencies produced, read for many tasks at once (one query per run)."""
    wanted: dict[uuid.UUID, set[str]] = {}
    for task in tasks:
        wanted.setdefault(task.run_id, set()).update(task.depends_on or ())
    found = {run_id: await task_outputs(session, run_id, sorted(keys)) for run_id, keys in wanted.items()}
    return {
        task.id: {key: found[task.run_id][key] for key in task.depends_on or () if key in found[task.run_id]}
        for task in tasks
    }


async def succeeded_keys(session: AsyncSession, run_id: uuid.UUID) -> list[str]:
    rows = await session.execute(select(Task.task_key).where(Task.run_id == run_id, Task.status == "succeeded"))
    return list(rows.scalars())


_LOCK_CLAIMABLE_RUNS = text("""
SELECT r.id FROM runs r
WHERE r.status = 'running' AND (CAST(:run_id AS uuid) IS NULL OR r.id = CAST(:run_id AS uuid)) AND r.id IN (
    SELECT t.run_id FROM tasks t
    WHERE (t.status = 'ready' AND t.available_at <= clock_timestamp()) OR (t.status = 'running' AND
        t.lease_expires_at < clock_timestamp()))
ORDER BY r.created_at
LIMIT :run_limit
FOR UPDATE OF r SKIP LOCKED
""")

_CLAIM = text("""
WITH picked AS (
    SELECT t.id FROM runs c
    CROSS JOIN LATERAL (
        SELECT t.id FROM tasks t
        WHERE t.run_id = c.id AND t.id <> ALL(CAST(:still_running AS uuid[]))
          AND ((t.status = 'ready' AND t.available_at <= clock_timestamp()) OR (t.status = 'running' AND
              t.lease_expires_at < clock_timestamp()))
        ORDER BY t.available_at
        LIMIT GREATEST(0, c.max_parallel - (
            SELECT count(*) FROM tasks busy WHERE busy.run_id = c.id AND busy.status = 'running' AND
                busy.lease_expires_at >= clock_timestamp()))
        FOR UPDATE OF t SKIP LOCKED
    ) t
    WHERE c.id = ANY(CAST(:run_ids AS uuid[]))
    ORDER BY c.created_at
    LIMIT :limit
)
UPDATE tasks SET status = 'running', lease_owner = :worker, lease_expires_at = clock_timestamp() + make_interval(secs
    => :lease),
    attempts = tasks.attempts + 1, started_at = coalesce(tasks.started_at, clock_timestamp()), updated_at =
        clock_timestamp()
FROM picked WHERE tasks.id = picked.id
RETURNING tasks.*
""")


async def claim_ready_tasks(
    session: AsyncSession,
    *,
    worker_id: str,
    limit: int,
    lease_seconds: float,
    run_id: uuid.UUID | None = None,
    still_running: Sequence[uuid.UUID] = (),
) -> list[Task]:
    """Ready tasks (and running ones whose lease lapsed) of running runs, or of one run, within each run's max_parallel.
    A run this transaction has locked already is not skipped: its own locks never block it. Times compare with
    clock_timestamp(), not now(): tasks this same transaction just made ready count as ready. `still_running` are the
    caller's own tasks in progress: one whose lease lapsed while its worker was busy is not started a second time
    there.

    The runs are locked in a statement of their own: under READ COMMITTED each statement reads from the moment it
    starts, so a claim counting a run's busy tasks after the lock sees every claim committed before it was granted.
    Counted in the locking statement, a claim that committed meanwhile went unseen and max_parallel was exceeded."""
    locked = await session.execute(_LOCK_CLAIMABLE_RUNS.bindparams(run_id=run_id, run_limit=limit))
    run_ids = list(locked.scalars())
    if not run_ids:
        return []
    bound = _CLAIM.bindparams(
        worker=worker_id,
        limit=limit,
        lease=lease_seconds,
        run_ids=run_ids,
        still_running=list(still_running),
    )
    statement = select(Task).from_statement(bound)
    return list((await session.execute(statement, execution_options={"populate_existing": True})).scalars())


async def extend_leases(
    session: AsyncSession, *, worker_id: str, task_ids: Iterable[uuid.UUID], lease_seconds: float
) -> set[uuid.UUID]:
    """Extends this worker's leases; returns the tasks that are no longer its own (cancelled, superseded, taken
    over). Rows another transaction is changing right now are skipped, not waited for (a cancel locking many rows
    in another order would otherwise deadlock with this): they count as still held until the next heartbeat."""
    ids = list(task_ids)
    if not ids:
        return set()
    mine = (
        select(Task.id)
        .where(Task.id.in_(ids), Task.lease_owner == worker_id, Task.status == "running")
        .with_for_update(skip_locked=True)
    )
    await session.execute(
        update(Task)
        .where(Task.id.in_(mine.scalar_subquery()))
        .values(lease_expires_at=func.clock_timestamp() + func.make_interval(0, 0, 0, 0, 0, 0, lease_seconds))
        .execution_options(synchronize_session=False)
    )
    lost = select(Task.id).where(
        Task.id.in_(ids), or_(Task.lease_owner.is_distinct_from(worker_id), Task.status != "running")
    )
    return set((await session.execute(lost)).scalars())


_RELEASE_SUCCEEDED = text("""
UPDATE tasks SET status = 'succeeded', output = CAST(finished.output AS jsonb), error = NULL, lease_owner = NULL,
    lease_expires_at = NULL,
    finished_at = clock_timestamp(), updated_at = clock_timestamp()
FROM unnest(CAST(:ids AS uuid[]), CAST(:outputs AS text[])) AS finished(id, output)
WHERE tasks.id = finished.id AND tasks.lease_owner = :worker AND tasks.status = 'running'
RETURNING tasks.id, tasks.task_key
""")


async def release_succeeded(
    session: AsyncSession, worker_id: str, outputs: dict[uuid.UUID, dict[str, Any]]
) -> dict[uuid.UUID, str]:
    """Records many finished tasks in one statement; returns the keys of those this worker still held."""
    if not outputs:
        return {}
    params = {"ids": list(outputs), "outputs": [json.dumps(o) for o in outputs.values()], "worker": worker_id}
    return dict((await session.execute(_RELEASE_SUCCEEDED, params)).all())


async def release_task(session: AsyncSession, task_id: uuid.UUID, worker_id: str, **values: Any) -> str | None:
    """Moves a task this worker holds out of running; None when it no longer holds it (cancelled, superseded, lease
    lost)."""
    result = await session.execute(
        update(Task)
        .where(Task.id == task_id, Task.lease_owner == worker_id, Task.status == "running")
        .values(lease_owner=None, lease_expires_at=None, updated_at=func.clock_timestamp(), **values)
        .returning(Task.task_key)
    )
    return result.scalars().first()


async def release_all_held(session: AsyncSession, worker_id: str) -> int:
    """On a clean shutdown, hands this worker's running tasks back at once instead of waiting for their leases."""
    result = await session.execute(
        update(Task)
        .where(Task.lease_owner == worker_id, Task.status == "running")
        .values(status="ready", lease_owner=None, lease_expires_at=None, available_at=func.clock_timestamp())
    )
    return result.rowcount or 0  # type: ignore[attr-defined]


# A large run's promotions stay on the indexes made for them, whatever the statistics (which may not have seen the
# run yet) say. A finished task's dependents come from the GIN index of pending tasks' dependencies, the run tested
# after ("IS TRUE": no index serves it, so the planner does not AND in a read of all the run's tasks); and each
# dependency's status is read by (run_id, task_key). Asked as "a done task with this key", the planner read every
# done task of the run for each promotion: at 50,000 tasks, 31 ms against 2 ms.
_PROMOTE = """
UPDATE tasks t SET status = 'ready', available_at = clock_timestamp(), updated_at = clock_timestamp()
WHERE {in_run} AND t.status = 'pending' {only_dependents_of}
  AND NOT EXISTS (
    SELECT 1 FROM jsonb_array_elements_text(t.depends_on) AS dependency(key)
    WHERE coalesce((SELECT done.status FROM tasks done WHERE done.run_id = :run_id AND done.task_key = dependency.key),
        'missing') NOT IN ('succeeded', 'skipped'))
RETURNING t.id
"""
_PROMOTE_ALL = text(_PROMOTE.format(in_run="t.run_id = :run_id", only_dependents_of=""))
_PROMOTE_DEPENDENTS = text(
    _PROMOTE.format(
        in_run="(t.run_id = :run_id) IS TRUE", only_dependents_of="AND t.depends_on ?| CAST(:task_keys AS text[])"
    )
)


async def promote_ready(
    session: AsyncSession, run_id: uuid.UUID, finished_keys: Sequence[str] | None = None
) -> set[uuid.UUID]:
    """Pending tasks whose dependencies all succeeded (or were skipped) become ready: all of the run's, or only
    dependents of the tasks just finished. The caller holds the run lock. Returns the ids made ready."""
    if finished_keys is None:
        result = await session.execute(_PROMOTE_ALL, {"run_id": run_id})
    else:
        result = await session.execute(_PROMOTE_DEPENDENTS, {"run_id": run_id, "task_keys": list(finished_keys)})
    return {row[0] for row in result.all()}


# A new run: every task pending, none succeeded, so exactly those that depend on none are ready (_PROMOTE's rule,
# without looking up each dependency). Made ready in one short statement: each row's available_at is stamped as it
# is updated, and _PROMOTE went on through every other task's dependencies after stamping the first ones (about
# 10 ms of their wait at 1,000 tasks).
_PROMOTE_FIRST = text("""
UPDATE tasks SET status = 'ready', available_at = clock_timestamp(), updated_at = clock_timestamp()
WHERE run_id = :run_id AND status = 'pending' AND depends_on = '[]'::jsonb
RETURNING id
""")


async def promote_first(session: AsyncSession, run_id: uuid.UUID) -> set[uuid.UUID]:
    """A run just created (its tasks all pending): its tasks without dependencies become ready. Returns their ids."""
    return {row[0] for row in (await session.execute(_PROMOTE_FIRST, {"run_id": run_id})).all()}


async def refresh_task_statistics(session: AsyncSession) -> None:
    """The statistics of the columns the claim and promotion plans filter and sort on (autovacuum's own ANALYZE
    covers the rest). Every column also read each sampled row's inputs and outputs: twice the time, which the
    creating request's answer waits for, beside the new run's first claim on the same cores."""
    await session.execute(text("ANALYZE tasks (run_id, status, available_at, lease_expires_at, task_key, depends_on)"))


async def has_open_tasks(session: AsyncSession, run_id: uuid.UUID) -> bool:
    """Whether any task of the run is still to finish: stops at the first (a count read all of a large run's)."""
    query = select(exists().where(Task.run_id == run_id, Task.status.in_(OPEN_TASK_STATUSES)))
    return bool((await session.execute(query)).scalar_one())


async def close_open_tasks(session: AsyncSession, run_id: uuid.UUID, *, status: str, rename: bool = False) -> list[str]:
    """Ends every open task of a run (running ones too: their workers see it at the next heartbeat and stop).
    Renamed tasks free their key for a new plan's task of the same id."""
    values: dict[str, Any] = {
        "status": status,
        "lease_owner": None,
        "lease_expires_at": None,
        "finished_at": func.clock_timestamp(),
    }
    if rename:
        values["task_key"] = _freed_key()
    result = await session.execute(
        update(Task)
        .where(Task.run_id == run_id, Task.status.in_(OPEN_TASK_STATUSES))
        .values(**values)
        .returning(Task.task_key)
    )
    await session.execute(
        update(Approval)
        .where(Approval.run_id == run_id, Approval.status == "pending")
        .values(status="cancelled", decided_at=func.clock_timestamp(), updated_at=func.clock_timestamp())
    )
    return list(result.scalars())


async def rename_task(session: AsyncSession, task_id: uuid.UUID) -> None:
    await session.execute(update(Task).where(Task.id == task_id).values(task_key=_freed_key()))


def _freed_key() -> ColumnElement[str]:
    """The task's key with a random suffix, so a new plan may reuse the key (still within the column's 64
    characters)."""
    return func.left(Task.task_key, 50) + "~" + func.left(func.md5(func.random().cast(Text)), 8)


async def reopen_for_revision(session: AsyncSession, run_id: uuid.UUID, *, keys: Sequence[str], feedback: str) -> None:
    """A critic asked for changes: the reviewed tasks run again with its feedback among their inputs."""
    await session.execute(
        update(Task)
        .where(Task.run_id == run_id, Task.task_key.in_(keys))
        .values(
            status="ready",
            attempts=0,
            available_at=func.clock_timestamp(),
            finished_at=None,
            error=None,
            inputs=Task.inputs.op("||")(func.jsonb_build_object("critic_feedback", feedback)),
        )
    )


async def add_spend(session: AsyncSession, run_id: uuid.UUID, cost_usd: Decimal) -> None:
    await session.execute(update(Run).where(Run.id == run_id).values(spent_usd=Run.spent_usd + cost_usd))


async def waiting_run_ids(session: AsyncSession, run_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """The runs among these with a task waiting for a person."""
    if not run_ids:
        return set()
    query = select(Task.run_id).where(Task.run_id.in_(run_ids), Task.status.in_(WAITING_TASK_STATUSES)).distinct()
    return set((await session.execute(query)).scalars())


async def runs_derived_from(session: AsyncSession, run_id: uuid.UUID) -> list[Run]:
    query = select(Run).where(Run.parent_run_id == run_id).order_by(Run.created_at)
    return list((await session.execute(query)).scalars())


# --- approvals ------------------------------------------------------------------------------------------


async def add_approval(session: AsyncSession, values: dict[str, Any]) -> Approval | None:
    """The held call's approval; None when this attempt already asked about the very same parameters."""
    statement = (
        pg_insert(Approval)
        .values(id=uuid.uuid4(), **values)
        .on_conflict_do_nothing(index_elements=["task_id", "attempt", "parameters_hash"])
        .returning(Approval)
    )
    return (await session.execute(statement)).scalars().first()


async def decided_approval(session: AsyncSession, task_id: uuid.UUID, attempt: int) -> Approval | None:
    """The latest decision about a call of this attempt of the task (the attempt resumes with it)."""
    query = (
        select(Approval)
        .where(Approval.task_id == task_id, Approval.attempt == attempt, Approval.status != "pending")
        .order_by(Approval.decided_at.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalars().first()


async def lock_approval(session: AsyncSession, approval_id: uuid.UUID) -> Approval | None:
    query = (
        select(Approval).where(Approval.id == approval_id).with_for_update().execution_options(populate_existing=True)
    )
    return (await session.execute(query)).scalars().first()


async def get_approval(session: AsyncSession, approval_id: uuid.UUID) -> Approval | None:
    return await session.get(Approval, approval_id)


async def list_approvals(
    session: AsyncSession,
    *,
    user_id: uuid.UUID | None,
    run_id: uuid.UUID | None = None,
    status: str | None = None,
    after: tuple[datetime, uuid.UUID] | None = None,
    limit: int,
) -> list[Approval]:
    """Newest first; a run's, or a user's across runs (None: everyone's, for an admin)."""
    query = select(Approval)
    if user_id is not None:
        query = query.where(Approval.user_id == user_id)
    if run_id is not None:
        query = query.where(Approval.run_id == run_id)
    if status is not None:
        query = query.where(Approval.status == status)
    return list((await session.execute(keyset(query, Approval, after=after, limit=limit, newest_first=True))).scalars())


async def overdue_approvals(session: AsyncSession, *, limit: int) -> list[Approval]:
    """Pending approvals past their expiry, unlocked: the caller locks each one's run first, then the approval, the
    order every writer takes."""
    query = (
        select(Approval)
        .where(Approval.status == "pending", Approval.expires_at < func.clock_timestamp())
        .order_by(Approval.expires_at)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def chat_approvals(
    session: AsyncSession, conversation_id: uuid.UUID, call_ids: Sequence[str]
) -> dict[str, Approval]:
    """A conversation's approvals of these tool calls, by call id (the latest for each)."""
    query = (
        select(Approval)
        .where(Approval.conversation_id == conversation_id, Approval.tool_call_id.in_(list(call_ids)))
        .order_by(Approval.created_at)
    )
    return {a.tool_call_id: a for a in (await session.execute(query)).scalars() if a.tool_call_id}


async def resume_waiting_task(session: AsyncSession, task_id: uuid.UUID) -> str | None:
    """A task whose held call was decided is ready again; None when it no longer waits (its run ended)."""
    result = await session.execute(
        update(Task)
        .where(Task.id == task_id, Task.status.in_(WAITING_TASK_STATUSES))
        .values(status="ready", available_at=func.clock_timestamp(), updated_at=func.clock_timestamp())
        .returning(Task.task_key)
    )
    return result.scalars().first()


# --- events ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewEvent:
    run_id: uuid.UUID
    event_type: str
    message: str | None = None
    task_id: uuid.UUID | None = None
    data: dict[str, Any] | None = None
    level: str = "info"
    cost_usd: Decimal | None = None


FINISHED_TASK_EVENTS = {"task_succeeded": "succeeded", "task_failed": "failed", "task_skipped": "skipped"}
FINISHED_RUN_EVENTS = {"run_succeeded": "succeeded", "run_failed": "failed", "run_cancelled": "cancelled"}


async def add_events(session: AsyncSession, events: Sequence[NewEvent], *, wake_workers: bool = False) -> None:
    """Appends to the run log and, when the transaction commits, tells listeners (SSE streams, idle workers).

    The caller holds the run's row lock: event ids of one run are then taken and committed in the same
    order, so a stream resuming after id N can never miss a later-committed event with a smaller id."""
    if events:
        rows = [
            {
                "run_id": e.run_id,
                "task_id": e.task_id,
                "event_type": e.event_type,
                "message": e.message,
                "data": e.data or {},
                "level": e.level,
                "cost_usd": e.cost_usd,
            }
            for e in events
        ]
        await session.execute(insert(TaskExecutionLog), rows)
        for run_id in {e.run_id for e in events}:
            await session.execute(
                text("SELECT pg_notify(:channel, :payload)"), {"channel": EVENTS_CHANNEL, "payload": str(run_id)}
            )
    if wake_workers:
        await session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": TASKS_CHANNEL})


async def list_events(session: AsyncSession, run_id: uuid.UUID, *, after_id: int, limit: int) -> list[TaskExecutionLog]:
    query = (
        select(TaskExecutionLog)
        .where(TaskExecutionLog.run_id == run_id, TaskExecutionLog.id > after_id)
        .order_by(TaskExecutionLog.id)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def count_events(session: AsyncSession, run_id: uuid.UUID, event_type: str) -> int:
    query = (
        select(func.count())
        .select_from(TaskExecutionLog)
        .where(TaskExecutionLog.run_id == run_id, TaskExecutionLog.event_type == event_type)
    )
    return int((await session.execute(query)).scalar_one())


async def agents_for_role(session: AsyncSession, role: str, identity: Identity) -> list[Agent]:
    query = select(Agent).where(Agent.role == role, await _visible_to(session, identity))
    return list((await session.execute(query)).scalars())
