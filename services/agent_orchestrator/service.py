"""Agent definitions (the four built-in roles are seeded; users register more) and runs: creating one from a
goal or a stored plan, reading it, cancelling it. Executing runs is the worker's (worker.py)."""

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import Agent, Run, Task
from services.agent_orchestrator import repository, run_log
from services.agent_orchestrator.automation import webhooks
from services.agent_orchestrator.config import OrchestratorSettings
from services.agent_orchestrator.repository import NewEvent
from services.agent_orchestrator.schemas import (
    AgentCreate,
    AgentResponse,
    RunCreate,
    RunDerive,
    RunLineage,
    RunResponse,
    TaskResponse,
)
from shared import audit, teams
from shared.clients import ServiceClient
from shared.contracts import clients as contracts
from shared.contracts.ai import BudgetRequest
from shared.contracts.files import FileResponse, FilesDescribeRequest
from shared.errors import ConflictError, NotFoundError, UnprocessableError
from shared.identity import Identity
from shared.pagination import Page, after_cursor, page_of

BUILT_IN_AGENTS = (
    AgentCreate(
        name="planner",
        role="planner",
        description="Breaks a goal into a DAG of tasks",
        capabilities=["planning"],
        allowed_tools=[],
        temperature=0.0,
    ),
    AgentCreate(
        name="executor",
        role="executor",
        description="Does a task, writing and running code when needed",
        capabilities=["coding", "research", "writing"],
        allowed_tools=["execute_python", "http_request", "memory_search", "memory_store", "llm_complete", "mcp__*"],
    ),
    AgentCreate(
        name="critic",
        role="critic",
        description="Reviews a result, scores it and approves or asks for changes",
        capabilities=["review"],
        allowed_tools=["execute_python"],
        temperature=0.0,
    ),
    AgentCreate(
        name="summarizer",
        role="summarizer",
        description="Writes the final result and stores it in memory",
        capabilities=["summarising"],
        allowed_tools=["memory_store"],
    ),
)


@dataclass
class AgentService:
    session: AsyncSession

    async def page(self, identity: Identity, *, cursor: str | None, limit: int) -> Page[AgentResponse]:
        rows = await repository.list_visible(self.session, identity, after=after_cursor(cursor), limit=limit + 1)
        return page_of(rows, limit=limit, item=AgentResponse.model_validate)

    async def get(self, identity: Identity, name: str) -> Agent:
        agent = await repository.get_by_name(self.session, name)
        if agent is None:
            raise NotFoundError(f"No agent named {name!r}")
        built_in = agent.owner_id is None and agent.team_id is None
        if built_in or (identity.is_admin and identity.team_id is None):
            return agent
        await teams.check_row(
            self.session,
            identity,
            owner_id=agent.owner_id,
            team_id=agent.team_id,
            access="read",
            missing=f"No agent named {name!r}",
        )
        return agent

    async def register(self, identity: Identity, definition: AgentCreate) -> Agent:
        if await repository.get_by_name(self.session, definition.name):
            raise ConflictError(f"An agent named {definition.name!r} exists", code="already_exists")
        team_id = await teams.team_for_new_row(self.session, identity, definition.team_id)
        values = definition.model_dump() | {"team_id": team_id}
        agent = Agent(**values, owner_id=uuid.UUID(identity.user_id))
        try:
            await repository.add(self.session, agent)
            details = definition.model_dump(mode="json")
            await audit.record(
                self.session, identity, "agent.created", target_type="agent", target_id=agent.id, details=details
            )
            await self.session.commit()
            return agent
        except IntegrityError as exc:
            await self.session.rollback()
            raise ConflictError(f"An agent named {definition.name!r} exists", code="already_exists") from exc


async def executor_agent(session: AsyncSession, identity: Identity, name: str) -> Agent:
    """The executor agent of that name the caller may use; 422 unknown_agent otherwise."""
    try:
        agent = await AgentService(session).get(identity, name)
    except NotFoundError:
        agent = None
    if agent is None or agent.role != "executor":
        raise UnprocessableError(f"No executor agent named {name!r}", code="unknown_agent", details={"agent": name})
    return agent


async def seed_built_in_agents(session: AsyncSession) -> None:
    for definition in BUILT_IN_AGENTS:
        if await repository.get_by_name(session, definition.name) is None:
            session.add(Agent(**definition.model_dump(), owner_id=None))
    try:
        await session.commit()
    except IntegrityError:  # another orchestrator process seeded them at the same moment
        await session.rollback()


# --- runs -----------------------------------------------------------------------------------------------

PLAN_TASK_KEY = "plan"
LARGE_RUN_TASKS = 2_000
# The orchestrator itself, for the one admin call it makes (setting a run's budget in the ai-runtime).
SYSTEM_IDENTITY = Identity(
    user_id=str(uuid.UUID(int=0)), username="agent-orchestrator", role="admin", auth_method="jwt"
)


def tasks_from_plan(run: Run, plan_tasks: list[dict[str, Any]], max_attempts: int) -> list[Task]:
    """The plan's unfinished tasks as pending rows, plus (when the run summarizes) a final summarizer after
    every sink unless the plan already ends with one. Replans list finished tasks as succeeded: they are
    kept, not run again."""
    run_id = run.id
    tasks = [
        Task(
            run_id=run_id,
            task_key=t["id"],
            name=t["name"][:255],
            description=t.get("description"),
            agent_role=t["agent_role"],
            tool=t.get("tool"),
            inputs=t.get("inputs") or {},
            depends_on=t.get("depends_on") or [],
            status="pending",
            max_attempts=max_attempts,
            fallback_strategy=t.get("fallback_strategy") or "retry",
        )
        for t in plan_tasks
        if t.get("status", "pending") != "succeeded"
    ]
    depended_on = {d for t in plan_tasks for d in t.get("depends_on") or []}
    sinks = [t for t in plan_tasks if t["id"] not in depended_on]
    if run.summarize and not any(t["agent_role"] == "summarizer" for t in sinks):
        keys = {t["id"] for t in plan_tasks}
        key = next(k for k in ("summary", "final_summary", f"summary_{uuid.uuid4().hex[:6]}") if k not in keys)
        tasks.append(
            Task(
                run_id=run_id,
                task_key=key,
                name="Summarize the run",
                description="Write the final result and store it in memory",
                agent_role="summarizer",
                tool="memory_store",
                inputs={},
                depends_on=[t["id"] for t in sinks],
                status="pending",
                max_attempts=max_attempts,
                fallback_strategy="retry",
            )
        )
    return tasks


@dataclass(frozen=True)
class StartedRun:
    """A started run's answer, as a model and as serialised (once, before its first tasks become ready: a 50,000-task
    answer takes the event loop for a tenth of a second), and whether the run is new (not an idempotent replay)."""

    answer: RunResponse
    body: str
    new: bool

    @classmethod
    def of(cls, answer: RunResponse, *, new: bool) -> "StartedRun":
        return cls(answer, answer.model_dump_json(), new)


def _with_ready(run: RunResponse, ready: set[uuid.UUID]) -> RunResponse:
    """The run's answer with these tasks shown ready."""
    tasks = [t.model_copy(update={"status": "ready"}) if t.id in ready else t for t in run.tasks]
    return run.model_copy(update={"tasks": tasks})


def choose_agent(candidates: list[Agent], task: Task) -> Agent | None:
    """The agent whose capabilities the task's words name most; the user's own agents before built-in ones."""
    words = set(re.findall(r"[a-z0-9]+", f"{task.name} {task.description or ''}".lower()))

    def fit(agent: Agent) -> tuple[int, bool, bool]:
        named = sum(1 for capability in agent.capabilities if capability.lower() in words)
        return named, agent.owner_id is not None, agent.name == agent.role

    return max(candidates, key=fit, default=None)


@dataclass
class RunService:
    session: AsyncSession
    settings: OrchestratorSettings
    planner: ServiceClient
    ai: ServiceClient
    tools: ServiceClient
    issued_webhook_secret: str | None = None  # the last run opened's one-off webhook secret, shown once

    async def create(self, identity: Identity, request: RunCreate) -> Run:
        run, task_count = await self._open(identity, request)
        await self._make_ready(run, task_count=task_count)
        await self.session.commit()
        await self._analyze_if_large(task_count)
        return run

    async def _analyze_if_large(self, task_count: int) -> None:
        """A large run's tasks, bulk-loaded: the statistics are read again at once, not at autovacuum's next turn.
        Until then the planner took a 50,000-task run for a few rows, and its first 150 layers waited ~110 ms
        each from ready to running instead of ~10 ms."""
        if task_count >= LARGE_RUN_TASKS:
            await repository.refresh_task_statistics(self.session)
            await self.session.commit()

    async def start(self, identity: Identity, request: RunCreate, *, idempotency_key: str | None = None) -> StartedRun:
        """create(), answered with the run as committed, and whether it is new. The answer is read in the creating
        transaction, before the first tasks are made ready, so that nothing of it is left for this process's event
        loop once they can be claimed: reading and validating a 1,000-task run after the commit delayed their claim
        by 40-60 ms. With an Idempotency-Key already used by this user, the run it started is the answer."""
        if idempotency_key is not None and (first := await self._run_for_key(identity, idempotency_key)):
            return StartedRun.of(await self._response(first), new=False)
        try:
            run, task_count = await self._open(identity, request, idempotency_key=idempotency_key)
        except IntegrityError:
            await self.session.rollback()
            first = await self._run_for_key(identity, idempotency_key) if idempotency_key is not None else None
            if first is None:
                raise
            # A concurrent retry with the same key won the race.
            return StartedRun.of(await self._response(first), new=False)
        await self.session.refresh(run)  # its server-set columns (created_at), read while the transaction is open
        created = (await self._response(run)).model_copy(update={"webhook_secret": self.issued_webhook_secret})
        first_tasks = {t.id for t in created.tasks if not t.depends_on}  # those promote_first makes ready
        started = StartedRun.of(_with_ready(created, first_tasks), new=True)
        ready = await self._make_ready(run, task_count=task_count)
        await self.session.commit()
        await self._analyze_if_large(task_count)
        return started if ready == first_tasks else StartedRun.of(_with_ready(created, ready), new=True)

    async def _run_for_key(self, identity: Identity, idempotency_key: str) -> Run | None:
        return await repository.run_by_idempotency_key(self.session, uuid.UUID(identity.user_id), idempotency_key)

    async def _open(
        self,
        identity: Identity,
        request: RunCreate,
        *,
        idempotency_key: str | None = None,
        eval_id: uuid.UUID | None = None,
        planned: list[dict[str, Any]] | None = None,
    ) -> tuple[Run, int]:
        """The run and its tasks (all pending), in the session's transaction; and how many tasks. `planned`: the
        tasks of a hand-written plan (a template's), run with no planning call."""
        user_id = uuid.UUID(identity.user_id)
        team_id = await teams.team_for_new_row(self.session, identity, request.team_id)
        if request.agent is not None:
            await executor_agent(self.session, identity, request.agent)
        run = Run(
            id=uuid.uuid4(),
            user_id=user_id,
            team_id=team_id,
            api_key_id=uuid.UUID(identity.api_key_id) if identity.api_key_id else None,
            idempotency_key=idempotency_key,
            goal=request.goal or "",
            plan_id=request.plan_id,
            status="running",
            budget_usd=request.budget_usd,
            max_parallel=request.max_parallel,
            summarize=request.summarize,
            require_approval=request.approval_patterns,
            model=request.model,
            prompt_version=request.prompt_version,
            agent=request.agent,
            eval_id=eval_id,
            started_at=datetime.now(UTC),
            input_files=await self._input_files(identity, request.files),
        )
        if request.webhook is not None:
            await webhooks.check_url(str(request.webhook), self.settings)
            self.issued_webhook_secret = webhooks.new_secret()
            run.webhook_url = str(request.webhook)
            encrypted = webhooks.cipher_for(self.settings).encrypt(self.issued_webhook_secret.encode())
            run.webhook_secret_encrypted = encrypted.decode()
        if planned is not None:
            tasks = tasks_from_plan(run, planned, self.settings.default_max_attempts)
        elif request.plan_id is not None:
            plan = await contracts.get_plan(self.planner, request.plan_id, identity=identity)
            run.goal = plan.goal
            planned = [t.model_dump(mode="json") for t in plan.tasks]
            tasks = tasks_from_plan(run, planned, self.settings.default_max_attempts)
        else:
            plan_inputs = {
                "context": with_input_files(request.context, run.input_files),
                "max_tasks": request.max_tasks or self.settings.default_max_tasks,
            }
            tasks = [
                Task(
                    run_id=run.id,
                    task_key=PLAN_TASK_KEY,
                    name="Plan the goal",
                    description=request.goal,
                    agent_role="planner",
                    inputs=plan_inputs,
                    depends_on=[],
                    status="pending",
                    max_attempts=self.settings.default_max_attempts,
                    fallback_strategy="fail",
                )
            ]
        if request.budget_usd is not None:
            limit = BudgetRequest(total_usd=Decimal(str(request.budget_usd)))
            await contracts.set_budget(self.ai, "run", run.id, limit, identity=SYSTEM_IDENTITY)
        self.session.add(run)
        await self.session.flush()
        self.session.add_all(tasks)
        await self.session.flush()
        return run, len(tasks)

    async def _input_files(self, identity: Identity, ids: list[uuid.UUID]) -> list[dict[str, Any]]:
        """The run's input files as the planner and the executor are told of them (404 file_not_found for any that
        is not the caller's)."""
        if not ids:
            return []
        described = await contracts.describe_files(self.tools, FilesDescribeRequest(ids=ids), identity=identity)
        return [brief.model_dump(mode="json") for brief in described.files]

    async def artifacts(
        self, identity: Identity, run_id: uuid.UUID, *, cursor: str | None, limit: int
    ) -> Page[FileResponse]:
        """The files the run's code left in /work/outputs, newest first."""
        run = await self.get(identity, run_id)
        return await contracts.list_files(
            self.tools, identity=identity, run_id=run.id, kind="output", cursor=cursor, limit=limit
        )

    async def open_templated(
        self,
        identity: Identity,
        request: RunCreate,
        *,
        planned: list[dict[str, Any]] | None,
        template_id: uuid.UUID,
        template_version: int,
        schedule_id: uuid.UUID | None,
    ) -> Run:
        """A template's run (fired by a schedule when `schedule_id`), made ready in the session's transaction."""
        run, task_count = await self._open(identity, request, planned=planned)
        run.template_id, run.template_version, run.schedule_id = template_id, template_version, schedule_id
        await self.session.flush()
        await self._make_ready(run, task_count=task_count)
        return run

    async def respond(self, run: Run) -> RunResponse:
        """The run as its creator sees it (the one-off webhook's secret included, this once)."""
        await self.session.refresh(run)
        return (await self._response(run)).model_copy(update={"webhook_secret": self.issued_webhook_secret})

    async def open_for_eval(self, identity: Identity, request: RunCreate, *, eval_id: uuid.UUID) -> Run:
        """An eval's run, created and made ready in the session's transaction (the caller commits)."""
        run, task_count = await self._open(identity, request, eval_id=eval_id)
        await self._make_ready(run, task_count=task_count)
        return run

    async def _make_ready(self, run: Run, *, task_count: int) -> set[uuid.UUID]:
        """The run's first event is written and the workers are woken (both take effect at the commit); then its
        first tasks become ready, the last step before the commit, so that nothing between their readiness and the
        commit delays their first claim."""
        await run_log.record(
            self.session,
            [
                NewEvent(
                    run.id,
                    "run_created",
                    f"Run of {task_count} tasks created",
                    data={
                        "goal": run.goal,
                        "plan_id": str(run.plan_id) if run.plan_id else None,
                        "budget_usd": float(run.budget_usd) if run.budget_usd else None,
                    },
                )
            ],
            wake_workers=True,
        )
        return await repository.promote_first(self.session, run.id)

    async def get(self, identity: Identity, run_id: uuid.UUID, *, access: teams.Access = "read") -> Run:
        """A run the caller may read (or change: cancel, answer, retry): 404 otherwise, 403 to a team's viewer."""
        run = await repository.get_run(self.session, run_id)
        if run is None:
            raise NotFoundError(f"No run {run_id}")
        if identity.is_admin and identity.team_id is None:
            return run
        await teams.check_row(
            self.session, identity, owner_id=run.user_id, team_id=run.team_id, access=access, missing=f"No run {run_id}"
        )
        return run

    async def describe(self, identity: Identity, run_id: uuid.UUID) -> RunResponse:
        return await self._response(await self.get(identity, run_id))

    async def _response(self, run: Run) -> RunResponse:
        tasks = [TaskResponse.model_validate(t) for t in await repository.list_tasks(self.session, run.id)]
        waiting = run.status == "running" and any(t.status in repository.WAITING_TASK_STATUSES for t in tasks)
        return RunResponse.model_validate(run).model_copy(
            update={"tasks": tasks, **({"status": "waiting"} if waiting else {})}
        )

    async def page(self, identity: Identity, *, cursor: str | None, limit: int) -> Page[RunResponse]:
        rows = await repository.list_runs(self.session, identity, after=after_cursor(cursor), limit=limit + 1)
        return await self._page_of(rows, limit=limit)

    async def _page_of(self, rows: list[Run], *, limit: int) -> Page[RunResponse]:
        """Runs without their tasks; a running one with a task waiting for a person shows as waiting."""
        waiting = await repository.waiting_run_ids(self.session, [r.id for r in rows if r.status == "running"])

        def item(run: Run) -> RunResponse:
            shown = RunResponse.model_validate(run)
            return shown.model_copy(update={"status": "waiting"}) if run.id in waiting else shown

        return page_of(rows, limit=limit, item=item)

    async def cancel(self, identity: Identity, run_id: uuid.UUID) -> RunResponse:
        await self.get(identity, run_id, access="write")
        run = await repository.lock_run(self.session, run_id)
        assert run is not None
        if run.status in ("succeeded", "failed"):
            raise ConflictError(f"The run already {run.status}", code="run_finished", details={"status": run.status})
        if run.status == "running":
            closed = await repository.close_open_tasks(self.session, run.id, status="cancelled")
            run.status, run.finished_at, run.error = "cancelled", datetime.now(UTC), f"Cancelled by {identity.username}"
            await run_log.record(
                self.session, [NewEvent(run.id, "run_cancelled", run.error, data={"tasks_cancelled": closed})]
            )
            details = {"tasks_cancelled": closed}
            await audit.record(
                self.session, identity, "run.cancelled", target_type="run", target_id=run.id, details=details
            )
        await self.session.commit()
        return await self.describe(identity, run_id)


# --- retry and fork -------------------------------------------------------------------------------------

SUPERSEDED_STATUSES = ("superseded",)
REVISION_INPUTS = ("critic_feedback", "critic_round")


def rerun_keys(tasks: list[Task], *, seeds: set[str]) -> set[str]:
    """What a derived run does again: every task that did not succeed, the seeds, and everything downstream."""
    dependents: dict[str, set[str]] = {}
    for task in tasks:
        for dependency in task.depends_on or ():
            dependents.setdefault(dependency, set()).add(task.task_key)
    again = {t.task_key for t in tasks if t.status != "succeeded"} | seeds
    frontier = list(again)
    while frontier:
        for dependent in dependents.get(frontier.pop(), ()):
            if dependent not in again:
                again.add(dependent)
                frontier.append(dependent)
    return again


def derived_task(task: Task, *, run_id: uuid.UUID, again: bool, patch: dict[str, Any] | None) -> Task:
    """The task in the derived run: copied with its output, or pending with fresh inputs (the patch merged in)."""
    inputs = {k: v for k, v in (task.inputs or {}).items() if not (again and k in REVISION_INPUTS)} | (patch or {})
    copy = Task(
        run_id=run_id,
        task_key=task.task_key,
        name=task.name,
        description=task.description,
        agent_role=task.agent_role,
        tool=task.tool,
        inputs=inputs,
        depends_on=list(task.depends_on or ()),
        max_attempts=task.max_attempts,
        fallback_strategy=task.fallback_strategy,
        status="pending" if again else "succeeded",
        attempts=0 if again else task.attempts,
    )
    if not again:
        copy.output, copy.started_at, copy.finished_at = task.output, task.started_at, task.finished_at
    return copy


@dataclass
class RunLineageService:
    """Retries and forks: a new run linked to its parent (history is never rewritten, spend stays per run)."""

    runs: RunService

    async def derive(self, identity: Identity, run_id: uuid.UUID, request: RunDerive, *, origin: str) -> RunResponse:
        session = self.runs.session
        parent = await self.runs.get(identity, run_id, access="write")
        tasks = [t for t in await repository.list_tasks(session, parent.id) if t.status not in SUPERSEDED_STATUSES]
        waiting = any(t.status in repository.WAITING_TASK_STATUSES for t in tasks)
        if parent.status not in repository.TERMINAL_RUN_STATUSES and not (origin == "fork" and waiting):
            raise ConflictError(
                "The run has not finished: cancel it first, or fork it while it waits for you",
                code="run_not_finished",
                details={"status": parent.status},
            )
        tasks = [t for t in tasks if "~" not in t.task_key]  # a replan's failed task, renamed when it was replaced
        keys = {t.task_key for t in tasks}
        seeds = ({request.from_task} if request.from_task else set()) | set(request.inputs_patch)
        if unknown := sorted(seeds - keys):
            raise UnprocessableError(
                f"The run has no task {unknown[0]!r}", code="unknown_task", details={"tasks": unknown}
            )
        again = rerun_keys(tasks, seeds=seeds)
        child = Run(
            id=uuid.uuid4(),
            # A team's run retried by another member is theirs, in the same team.
            user_id=uuid.UUID(identity.user_id) if parent.team_id else parent.user_id,
            team_id=parent.team_id,
            api_key_id=uuid.UUID(identity.api_key_id) if identity.api_key_id else None,
            goal=parent.goal,
            plan_id=parent.plan_id,
            status="running",
            budget_usd=request.budget_usd if request.budget_usd is not None else parent.budget_usd,
            max_parallel=parent.max_parallel,
            summarize=parent.summarize,
            require_approval=list(parent.require_approval or ()),
            parent_run_id=parent.id,
            origin=origin,
            model=parent.model,
            prompt_version=parent.prompt_version,
            agent=parent.agent,
            input_files=list(parent.input_files or ()),
            started_at=datetime.now(UTC),
        )
        if child.budget_usd is not None:
            limit = BudgetRequest(total_usd=Decimal(str(child.budget_usd)))
            await contracts.set_budget(self.runs.ai, "run", child.id, limit, identity=SYSTEM_IDENTITY)
        session.add(child)
        await session.flush()
        copies = [
            derived_task(t, run_id=child.id, again=t.task_key in again, patch=request.inputs_patch.get(t.task_key))
            for t in tasks
        ]
        session.add_all(copies)
        await session.flush()
        await repository.promote_ready(session, child.id)
        await run_log.record(session, self._derived_events(parent, child, tasks, again), wake_workers=True)
        await session.commit()
        return await self.runs.describe(identity, child.id)

    @staticmethod
    def _derived_events(parent: Run, child: Run, tasks: list[Task], again: set[str]) -> list[NewEvent]:
        copied = [t for t in tasks if t.task_key not in again]
        return [
            NewEvent(
                child.id,
                "run_created",
                f"{(child.origin or 'retry').capitalize()} of run {parent.id}: {len(again)} tasks to run, "
                f"{len(copied)} copied",
                data={
                    "goal": child.goal,
                    "plan_id": str(child.plan_id) if child.plan_id else None,
                    "budget_usd": float(child.budget_usd) if child.budget_usd else None,
                    "parent_run_id": str(parent.id),
                    "origin": child.origin,
                    "rerun": sorted(again),
                },
            ),
            *(
                NewEvent(
                    child.id,
                    "task_copied",
                    f"{t.name} copied from run {parent.id} (no call, no cost)",
                    data={"task": t.task_key, "from_run": str(parent.id), "from_task_id": str(t.id)},
                )
                for t in copied
            ),
        ]

    async def lineage(self, identity: Identity, run_id: uuid.UUID) -> RunLineage:
        run = await self.runs.get(identity, run_id)
        ancestors: list[RunResponse] = []
        parent_id = run.parent_run_id
        while parent_id is not None and len(ancestors) < 100:
            parent = await repository.get_run(self.runs.session, parent_id)
            if parent is None or parent.user_id != run.user_id:
                break
            ancestors.append(RunResponse.model_validate(parent))
            parent_id = parent.parent_run_id
        children = [
            RunResponse.model_validate(c)
            for c in await repository.runs_derived_from(self.runs.session, run.id)
            if c.user_id == run.user_id
        ]
        return RunLineage(run_id=run.id, ancestors=ancestors, children=children)


def with_input_files(context: dict[str, Any], files: list[dict[str, Any]]) -> dict[str, Any]:
    """The planner's context, told of the run's input files: where the code finds them, what they hold."""
    if not files:
        return context
    told = [
        {
            "path": f"/work/inputs/{f['name']}",
            "media_type": f["media_type"],
            "size": f["size"],
            "first_lines": f["head"],
        }
        for f in files
    ]
    return {**context, "input_files": told}
