"""The durable task worker: claims ready tasks under a lease, runs them, and records what happened.

Any number of orchestrator processes run one worker each against the same database. A task is only ever
changed by the worker holding its lease (or by a run-wide cancel/replan, which the holder notices at its
next heartbeat and stops); a process that dies loses nothing: its leases lapse and another worker claims
the tasks again.
"""

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from database.models import Agent, Approval, Run, Task
from services.agent_orchestrator import approvals, repository, run_log
from services.agent_orchestrator.approvals import (
    ASK_USER,
    ApprovalRequired,
    calls_it_may_hold,
    is_gated,
    parameters_hash,
)
from services.agent_orchestrator.config import OrchestratorSettings
from services.agent_orchestrator.execution import Outcome, TaskContext, TaskError, TaskExecutor, critic_round
from services.agent_orchestrator.repository import DependencyOutputs, NewEvent
from services.agent_orchestrator.service import choose_agent, tasks_from_plan
from services.agent_orchestrator.verification import Verification, verification_of
from shared import metrics
from shared.background import BackgroundComponent, PeriodicTask
from shared.identity import Identity

logger = logging.getLogger(__name__)

SUCCESS_BATCH = 200
AGENT_CACHE_SECONDS = 5.0
RUN_CACHE_SIZE = 1000


@dataclass(frozen=True)
class RunBasics:
    user_id: uuid.UUID
    goal: str
    api_key_id: uuid.UUID | None
    require_approval: tuple[str, ...]
    model: str | None = None
    prompt_version: str | None = None
    agent: str | None = None
    eval_id: uuid.UUID | None = None
    input_files: tuple[dict[str, Any], ...] = ()
    team_id: uuid.UUID | None = None

    @property
    def identity(self) -> Identity:
        """Who chooses the run's agents: its starter, for its team when it is a team's run."""
        team = str(self.team_id) if self.team_id else None
        return Identity(user_id=str(self.user_id), username="run", role="user", auth_method="jwt", team_id=team)


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker(BackgroundComponent):
    def __init__(
        self, settings: OrchestratorSettings, sessionmaker: async_sessionmaker[AsyncSession], executor: TaskExecutor
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.executor = executor
        self.worker_id = new_worker_id()
        self.running: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._claim_loop_job: asyncio.Task[None] | None = None
        self._paused = False
        self._successes: asyncio.Queue[tuple[Task, Outcome]] = asyncio.Queue()
        self._committer: asyncio.Task[None] | None = None
        self._agents: dict[tuple[str, uuid.UUID, uuid.UUID | None], tuple[float, list[Agent]]] = {}
        self._runs: dict[uuid.UUID, RunBasics] = {}
        self._heartbeat = PeriodicTask("lease-heartbeat", min(settings.lease_seconds / 3, 2.0), self._extend_leases)
        self._expiry = PeriodicTask("approval-expiry", settings.approval_sweep_seconds, self._expire_approvals)

    def wake(self) -> None:
        """Something may be ready (a notification, a finished task): claim now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        self._committer = asyncio.create_task(self._commit_successes(), name="task-successes")
        self.resume()
        self._heartbeat.start()
        self._expiry.start()

    def pause(self) -> None:
        """Stops claiming new tasks (a drain before maintenance); the running ones go on to the end."""
        self._paused = True
        if self._claim_loop_job:
            self._claim_loop_job.cancel()
            self._claim_loop_job = None

    def resume(self) -> None:
        self._paused = False
        if self._claim_loop_job is None:
            self._claim_loop_job = asyncio.create_task(self._claim_loop(), name="task-worker")

    async def stop(self) -> None:
        await self._heartbeat.stop()
        await self._expiry.stop()
        self.pause()
        for task in self.running.values():
            task.cancel()
        await asyncio.gather(*self.running.values(), return_exceptions=True)
        deadline = time.monotonic() + 2.0
        while not self._successes.empty() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)  # let finished work be recorded rather than done again elsewhere
        if self._committer:
            self._committer.cancel()
            await asyncio.gather(self._committer, return_exceptions=True)
        with contextlib.suppress(OSError, SQLAlchemyError):
            async with self.sessionmaker.begin() as session:
                await repository.release_all_held(session, self.worker_id)
                await run_log.record(session, [], wake_workers=True)

    # --- claiming ---------------------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        while True:
            self._wake.clear()
            free = self.settings.worker_concurrency - len(self.running)
            claimed: list[Task] = []
            if free > 0:
                try:
                    claimed, outputs = await self._claim(free)
                except Exception:  # the loop must outlive any failure: a dead claim loop would strand every run
                    logger.exception("claiming tasks failed; trying again shortly")
                    await asyncio.sleep(self.settings.worker_poll_seconds)
                else:
                    self._spawn(claimed, outputs)
            if claimed:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.worker_poll_seconds)

    async def _claim(self, limit: int) -> tuple[list[Task], DependencyOutputs]:
        """Claimed tasks with their dependencies' outputs, read in the same transaction: a task then starts with no
        database round trip of its own (at 200 tasks at once, one each overflowed the connection pool)."""
        async with self.sessionmaker.begin() as session:
            tasks = await repository.claim_ready_tasks(
                session,
                worker_id=self.worker_id,
                limit=limit,
                lease_seconds=self.settings.lease_seconds,
                still_running=list(self.running),
            )
            outputs = await repository.dependency_outputs(session, tasks)
            await run_log.record(session, self._started_events(tasks))
        now = datetime.now(UTC)
        for claimed in tasks:
            metrics.CLAIM_LATENCY.observe(max((now - claimed.available_at).total_seconds(), 0.0))
        return tasks, outputs

    def _started_events(self, tasks: list[Task]) -> list[NewEvent]:
        return [
            NewEvent(
                t.run_id,
                "task_started",
                f"{t.name} started (attempt {t.attempts})",
                task_id=t.id,
                data={
                    "task": t.task_key,
                    "name": t.name,
                    "attempt": t.attempts,
                    "worker": self.worker_id,
                    "role": t.agent_role,
                    "tool": t.tool,
                },
            )
            for t in tasks
        ]

    def _spawn(self, tasks: list[Task], outputs: DependencyOutputs) -> None:
        for task in tasks:
            self.running[task.id] = asyncio.create_task(
                self._run_task(task, outputs[task.id]), name=f"task-{task.task_key}"
            )

    async def _extend_leases(self) -> None:
        asked = list(self.running)
        async with self.sessionmaker.begin() as session:
            lost = await repository.extend_leases(
                session, worker_id=self.worker_id, task_ids=asked, lease_seconds=self.settings.lease_seconds
            )
        # Only tasks this heartbeat asked about: one started while it waited for the database is not "lost".
        for task_id in lost:
            task = self.running.get(task_id)
            if task is not None and not task.done():
                logger.info("task %s was cancelled, superseded or taken over: stopping it", task_id)
                task.cancel()

    # --- running one task -------------------------------------------------------------------------------

    async def _run_task(self, task: Task, dependency_outputs: dict[str, Any]) -> None:
        try:
            ctx = await self._context(task, dependency_outputs)
            if task.attempts > task.max_attempts:
                raise TaskError(
                    f"The task lost its worker {task.attempts - 1} times", code="lease_lost", retryable=False
                )
            outcome = await self.executor.execute(ctx)
        except ApprovalRequired as held:
            await self._settle(self._await_approval(task, held))
        except TaskError as error:
            await self._settle(self._on_failure(task, error))
        except asyncio.CancelledError:
            raise
        except Exception as error:
            logger.exception("task %s failed unexpectedly", task.task_key)
            await self._settle(self._on_failure(task, TaskError(f"Unexpected error: {type(error).__name__}: {error}")))
        else:
            self._successes.put_nowait((task, outcome))
        finally:
            self.running.pop(task.id, None)
            self.wake()

    async def _await_approval(self, task: Task, held: ApprovalRequired) -> None:
        """Parks the task until a person decides: the approval, the task's release (no lease, no slot held while it
        waits; the attempt is given back, as the one that resumes is the same attempt) and the event, together."""
        asked = parameters_hash(held.parameters)
        async with self.sessionmaker.begin() as session:
            run = await repository.lock_run(session, task.run_id)
            if run is None:
                return
            approval = await repository.add_approval(
                session,
                {
                    "run_id": run.id,
                    "task_id": task.id,
                    "attempt": task.attempts,
                    "user_id": run.user_id,
                    "tool": held.tool,
                    "parameters": held.parameters,
                    "parameters_hash": asked,
                    "context": held.context,
                    "expires_at": datetime.now(UTC) + timedelta(seconds=self.settings.approval_expiry_seconds),
                },
            )
            key = None
            if approval is not None:
                key = await repository.release_task(
                    session,
                    task.id,
                    self.worker_id,
                    status="awaiting_input" if held.tool == ASK_USER else "awaiting_approval",
                    attempts=task.attempts - 1,
                )
            if approval is not None and key is not None:
                await run_log.record(session, [self._approval_requested(task, key, approval)])
                return
        if approval is None:  # the attempt asked again for a call already decided: it would wait forever
            error = TaskError(
                f"{held.tool} was asked for twice with the same parameters", code="approval_repeated", retryable=False
            )
            await self._on_failure(task, error)

    @staticmethod
    def _approval_requested(task: Task, key: str, approval: Approval) -> NewEvent:
        if approval.tool == ASK_USER:
            return NewEvent(
                task.run_id,
                "input_requested",
                f"{task.name} asks you: {approval.parameters['question']}"[:2000],
                task_id=task.id,
                level="warning",
                data={
                    "approval_id": str(approval.id),
                    "task": key,
                    "question": approval.parameters["question"],
                    "expires_at": approval.expires_at.isoformat(),
                },
            )
        return NewEvent(
            task.run_id,
            "approval_requested",
            f"{task.name}: {approval.tool} waits for your approval",
            task_id=task.id,
            level="warning",
            data={
                "approval_id": str(approval.id),
                "task": key,
                "tool": approval.tool,
                "parameters": _excerpt(approval.parameters),
                "context": _excerpt(approval.context),
                "expires_at": approval.expires_at.isoformat(),
            },
        )

    async def _expire_approvals(self) -> None:
        async with self.sessionmaker.begin() as session:
            await approvals.settle_overdue(session)

    async def _settle(self, transition: Any) -> None:
        try:
            await transition
        except (OSError, SQLAlchemyError):
            # The lease lapses and another worker runs the task again.
            logger.exception("recording a task's outcome failed")

    async def _agents_for(self, session: AsyncSession, role: str, run: RunBasics) -> list[Agent]:
        """Agent definitions change rarely; each process reads them at most every few seconds per user, team and
        role."""
        key = (role, run.user_id, run.team_id)
        cached = self._agents.get(key)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        agents = await repository.agents_for_role(session, role, run.identity)
        self._agents[key] = (time.monotonic() + AGENT_CACHE_SECONDS, agents)
        return agents

    async def _run_basics(self, session: AsyncSession, run_id: uuid.UUID) -> RunBasics:
        """A run's user, goal and key never change: read once per process."""
        basics = self._runs.get(run_id)
        if basics is None:
            run = await repository.get_run(session, run_id)
            if run is None:
                raise TaskError("The run is gone", code="run_deleted", retryable=False)
            basics = self._runs[run_id] = RunBasics(
                run.user_id,
                run.goal,
                run.api_key_id,
                tuple(run.require_approval or ()),
                model=run.model,
                prompt_version=run.prompt_version,
                agent=run.agent,
                eval_id=run.eval_id,
                input_files=tuple(run.input_files or ()),
                team_id=run.team_id,
            )
            if len(self._runs) > RUN_CACHE_SIZE:
                self._runs.pop(next(iter(self._runs)))
        return basics

    @staticmethod
    async def _verification_so_far(session: AsyncSession, task: Task) -> Verification:
        """What checked the run's work before its summary (the summary itself checks nothing)."""
        tasks = await repository.list_tasks(session, task.run_id)
        return verification_of((t.agent_role, t.output) for t in tasks if t.status == "succeeded" and t.id != task.id)

    async def _context(self, task: Task, dependency_outputs: dict[str, Any]) -> TaskContext:
        async with self.sessionmaker() as session:  # connects only when a cache below misses
            run = await self._run_basics(session, task.run_id)
            candidates = await self._agents_for(session, task.agent_role, run)
            if run.agent is not None and task.agent_role == "executor":
                candidates = [a for a in candidates if a.name == run.agent]
            agent = choose_agent(candidates, task)
            verification = await self._verification_so_far(session, task) if task.agent_role == "summarizer" else None
            gated = (
                *self.settings.approval_default_tools,
                *run.require_approval,
                *(agent.approval_tools if agent else ()),
            )
            held = task.tool == ASK_USER or any(is_gated(gated, tool) for tool in calls_it_may_hold(task))
            approval = await repository.decided_approval(session, task.id, task.attempts) if held else None
        if agent is None:
            raise TaskError(f"No agent has the role {task.agent_role!r}", code="no_agent", retryable=False)
        return TaskContext(
            approval_tools=gated,
            approval=approval,
            verification=verification,
            run_id=task.run_id,
            user_id=run.user_id,
            goal=run.goal,
            task=task,
            agent=agent,
            dependency_outputs=dependency_outputs,
            api_key_id=run.api_key_id,
            model=run.model,
            prompt_version=run.prompt_version,
            eval_id=run.eval_id,
            input_files=list(run.input_files or ()),
            team_id=run.team_id,
        )

    async def _commit_successes(self) -> None:
        """Records finished tasks in batches, one transaction per run: what finished meanwhile is committed
        together, and the tasks this makes ready are claimed in the same transaction (no round trip, no wait
        for the run lock the next claim would otherwise skip)."""
        while True:
            batch = [await self._successes.get()]
            while not self._successes.empty() and len(batch) < SUCCESS_BATCH:
                batch.append(self._successes.get_nowait())
            by_run: dict[uuid.UUID, list[tuple[Task, Outcome]]] = {}
            for task, outcome in batch:
                by_run.setdefault(task.run_id, []).append((task, outcome))
            for run_id, finished in by_run.items():
                try:
                    claimed, outputs = await self._record_successes(run_id, finished)
                except Exception:  # as for the claim loop: log, and let the leases lapse so the tasks run again
                    logger.exception("recording finished tasks failed; their leases lapse and they run again")
                    continue
                self._spawn(claimed, outputs)

    async def _record_successes(
        self, run_id: uuid.UUID, finished: list[tuple[Task, Outcome]]
    ) -> tuple[list[Task], DependencyOutputs]:
        async with self.sessionmaker.begin() as session:
            run = await repository.lock_run(session, run_id)
            if run is None:
                return [], {}
            events: list[NewEvent] = []
            new_tasks = False
            for task, outcome in finished:
                if outcome.revise:
                    events += await self._request_revision(session, task, outcome)
                    new_tasks = True
            done = [(task, outcome) for task, outcome in finished if not outcome.revise]
            # Tasks no longer held (cancelled or taken over meanwhile) are left out: their outcome is not ours to
            # record.
            held = await repository.release_succeeded(
                session, self.worker_id, {task.id: outcome.output for task, outcome in done}
            )
            keys = list(held.values())
            for task, outcome in done:
                if task.id not in held:
                    continue
                events.append(
                    NewEvent(
                        run.id,
                        "task_succeeded",
                        f"{task.name} succeeded",
                        task_id=task.id,
                        data={"task": held[task.id], "output": _excerpt(outcome.output)},
                    )
                )
                if outcome.new_plan is not None:
                    run.plan_id = uuid.UUID(outcome.new_plan["id"])
                    session.add_all(tasks_from_plan(run, outcome.new_plan["tasks"], self.settings.default_max_attempts))
                    await session.flush()
                    new_tasks = True
            if new_tasks:
                await repository.promote_ready(session, run.id)
            elif keys:
                await repository.promote_ready(session, run.id, keys)
            events += await self._finish_if_done(session, run)
            claimed: list[Task] = []
            free = self.settings.worker_concurrency - len(self.running)
            if run.status == "running" and free > 0 and not self._paused:
                claimed = await repository.claim_ready_tasks(
                    session,
                    worker_id=self.worker_id,
                    limit=free,
                    lease_seconds=self.settings.lease_seconds,
                    run_id=run.id,
                    still_running=list(self.running),
                )
                events += self._started_events(claimed)
            outputs = await repository.dependency_outputs(session, claimed)
            await run_log.record(session, events, wake_workers=bool(keys) or new_tasks)
            return claimed, outputs

    async def _request_revision(self, session: AsyncSession, task: Task, outcome: Outcome) -> list[NewEvent]:
        inputs = {**task.inputs, "critic_round": critic_round(task) + 1}
        key = await repository.release_task(
            session, task.id, self.worker_id, status="pending", output=outcome.output, inputs=inputs, attempts=0
        )
        if key is None:
            return []
        await repository.reopen_for_revision(session, task.run_id, keys=outcome.revise, feedback=outcome.feedback)
        return [
            NewEvent(
                task.run_id,
                "revision_requested",
                f"The critic asked to revise {', '.join(outcome.revise)}",
                task_id=task.id,
                data={"tasks": outcome.revise, "feedback": outcome.feedback, "round": inputs["critic_round"]},
            )
        ]

    async def _on_failure(self, task: Task, error: TaskError) -> None:
        if error.retryable and task.attempts < task.max_attempts:
            await self._schedule_retry(task, error)
        elif error.fatal or task.fallback_strategy not in ("skip", "replan"):
            await self._fail_run(task, error)
        elif task.fallback_strategy == "skip":
            await self._skip(task, error)
        else:
            await self._replan(task, error)

    async def _schedule_retry(self, task: Task, error: TaskError) -> None:
        delay = min(
            self.settings.retry_max_seconds, self.settings.retry_base_seconds * 2 ** (task.attempts - 1)
        ) * random.uniform(0.8, 1.2)
        async with self.sessionmaker.begin() as session:
            await repository.lock_run(session, task.run_id)
            key = await repository.release_task(
                session,
                task.id,
                self.worker_id,
                status="ready",
                error=error.message,
                available_at=datetime.now(UTC) + timedelta(seconds=delay),
            )
            if key is not None:
                await run_log.record(
                    session,
                    [
                        NewEvent(
                            task.run_id,
                            "task_retry_scheduled",
                            f"{task.name} failed; retrying in {delay:.1f} s",
                            task_id=task.id,
                            level="warning",
                            data={
                                "task": key,
                                "attempt": task.attempts,
                                "error": error.message,
                                "code": error.code,
                                "retry_in_seconds": round(delay, 2),
                            },
                        )
                    ],
                )

    async def _skip(self, task: Task, error: TaskError) -> None:
        async with self.sessionmaker.begin() as session:
            run = await repository.lock_run(session, task.run_id)
            key = await repository.release_task(
                session, task.id, self.worker_id, status="skipped", error=error.message, finished_at=datetime.now(UTC)
            )
            if run is None or key is None:
                return
            events = [
                NewEvent(
                    run.id,
                    "task_skipped",
                    f"{task.name} failed and was skipped (its fallback)",
                    task_id=task.id,
                    level="warning",
                    data={"task": key, "error": error.message, "code": error.code},
                )
            ]
            await repository.promote_ready(session, run.id, [key])
            events += await self._finish_if_done(session, run)
            await run_log.record(session, events, wake_workers=True)

    async def _replan(self, task: Task, error: TaskError) -> None:
        async with self.sessionmaker() as session:
            run = await repository.get_run(session, task.run_id)
            replans = await repository.count_events(session, task.run_id, "run_replanned")
            succeeded = await repository.succeeded_keys(session, task.run_id)
            outputs = await repository.dependency_outputs(session, [task])
        if run is None or run.plan_id is None or replans >= self.settings.max_replans:
            await self._fail_run(task, TaskError(f"{error.message} (no replan left)", code=error.code, retryable=False))
            return
        try:
            plan = await self.executor.replan(
                await self._context(task, outputs[task.id]),
                plan_id=run.plan_id,
                error=error.message,
                succeeded_keys=succeeded,
            )
        except TaskError as replan_error:
            await self._fail_run(
                task,
                TaskError(
                    f"{error.message}; replanning failed: {replan_error.message}", code="replan_failed", retryable=False
                ),
            )
            return
        async with self.sessionmaker.begin() as session:
            locked = await repository.lock_run(session, task.run_id)
            key = await repository.release_task(
                session, task.id, self.worker_id, status="failed", error=error.message, finished_at=datetime.now(UTC)
            )
            if locked is None or key is None:
                return
            await repository.rename_task(session, task.id)
            superseded = await repository.close_open_tasks(session, locked.id, status="superseded", rename=True)
            locked.plan_id = uuid.UUID(plan["id"])
            session.add_all(tasks_from_plan(locked, plan["tasks"], self.settings.default_max_attempts))
            await session.flush()
            await repository.promote_ready(session, locked.id)
            await run_log.record(
                session,
                [
                    NewEvent(
                        locked.id,
                        "task_failed",
                        f"{task.name} failed",
                        task_id=task.id,
                        level="error",
                        data={"task": key, "error": error.message},
                    ),
                    NewEvent(
                        locked.id,
                        "run_replanned",
                        f"Replanned the remaining work after {key} failed",
                        data={
                            "plan_id": plan["id"],
                            "failed_task": key,
                            "superseded": superseded,
                            "tasks": [t["id"] for t in plan["tasks"]],
                        },
                    ),
                ],
                wake_workers=True,
            )

    async def _fail_run(self, task: Task, error: TaskError) -> None:
        async with self.sessionmaker.begin() as session:
            run = await repository.lock_run(session, task.run_id)
            key = await repository.release_task(
                session, task.id, self.worker_id, status="failed", error=error.message, finished_at=datetime.now(UTC)
            )
            if run is None or key is None or run.status != "running":
                return
            cancelled = await repository.close_open_tasks(session, run.id, status="cancelled")
            run.status, run.finished_at = "failed", datetime.now(UTC)
            run.error = f"Task {key} failed: {error.message}"
            await run_log.record(
                session,
                [
                    NewEvent(
                        run.id,
                        "task_failed",
                        f"{task.name} failed",
                        task_id=task.id,
                        level="error",
                        data={"task": key, "error": error.message, "code": error.code},
                    ),
                    NewEvent(
                        run.id,
                        "run_failed",
                        run.error,
                        level="error",
                        data={"code": error.code, "tasks_cancelled": cancelled, "spent_usd": float(run.spent_usd)},
                    ),
                ],
            )

    async def _finish_if_done(self, session: AsyncSession, run: Run) -> list[NewEvent]:
        if run.status != "running" or await repository.has_open_tasks(session, run.id):
            return []
        tasks = await repository.list_tasks(session, run.id)
        summaries = [t.output for t in tasks if t.agent_role == "summarizer" and t.status == "succeeded" and t.output]
        final = summaries[-1] if summaries else {}
        run.result = {
            "summary": final.get("summary"),
            "key_facts": final.get("key_facts", []),
            "memory_id": final.get("memory_id"),
            "outputs": {t.task_key: t.output for t in tasks if t.status == "succeeded"},
            "skipped": [t.task_key for t in tasks if t.status == "skipped"],
        }
        run.status, run.finished_at = "succeeded", datetime.now(UTC)
        run.verification = verification_of((t.agent_role, t.output) for t in tasks if t.status == "succeeded")
        return [
            NewEvent(
                run.id,
                "run_succeeded",
                f"The run finished ({run.verification})",
                data={
                    "summary": run.result["summary"],
                    "spent_usd": float(run.spent_usd),
                    "verification": run.verification,
                },
            )
        ]


async def record_task_event(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    run_id: uuid.UUID,
    task_id: uuid.UUID,
    event_type: str,
    message: str,
    data: dict[str, Any],
    cost_usd: Decimal | None,
) -> None:
    """A step inside a task (an LLM or tool call); its cost is added to the run as it is spent."""
    async with sessionmaker.begin() as session:
        await repository.lock_run(session, run_id)
        if cost_usd:
            await repository.add_spend(session, run_id, cost_usd)
        await run_log.record(
            session, [NewEvent(run_id, event_type, message, task_id=task_id, data=data, cost_usd=cost_usd)]
        )


def _excerpt(output: dict[str, Any], limit: int = 2000) -> dict[str, Any]:
    return {k: (v[:limit] if isinstance(v, str) else v) for k, v in output.items()}
