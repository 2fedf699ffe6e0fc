"""Goal -> validated DAG: the LLM drafts with the versioned planner prompt under its JSON schema; code checks,
repairs what has one obvious fix, and asks once more with the errors. An invalid plan is never accepted. A plan that
is valid but useless (repeated names or descriptions, empty descriptions, code nobody runs) is refused the same way;
when the second draft is still refused, a minimal plan built in code (do, run the code) takes its place."""

import copy
import functools
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import Plan
from services.task_planner import repository
from services.task_planner.schemas import PlanRequest, PlanResponse, PlanTask, ReplanRequest
from services.task_planner.validation import (
    asks_for_code,
    degenerate,
    execution_stages,
    minimal_plan,
    repair,
    validate,
)
from shared.clients import ServiceClient
from shared.contracts import clients as contracts
from shared.contracts.ai import CompleteRequest, ResponseFormat
from shared.contracts.tools import MCP_PREFIX, ToolDescription
from shared.errors import AppError, BadRequestError, NotFoundError
from shared.identity import Identity


@dataclass(kw_only=True)
class Draft:
    tasks: list[dict[str, Any]]
    risks: list[str]
    model_used: str | None
    prompt_version: str | None
    cost_usd: float
    tokens_used: int = 0
    fallback_reasons: list[str] | None = None  # why the model's drafts were refused, when a minimal plan replaced them


logger = logging.getLogger(__name__)


@dataclass
class PlannerService:
    session: AsyncSession
    ai: ServiceClient
    tools: ServiceClient
    plan_schema: dict[str, Any] | None = None

    async def _ask(
        self,
        identity: Identity,
        *,
        prompt: str,
        max_tasks: int,
        run_id: uuid.UUID | None,
        model: str | None,
        mcp_tools: list[ToolDescription],
    ) -> Draft:
        request = CompleteRequest(
            role="planner",
            prompt=prompt + offered_mcp_tools(mcp_tools),
            response_format=plan_format(self.plan_schema, mcp_tools),
            temperature=0,
            max_tokens=250 * max_tasks,
            run_id=run_id,  # planning spends the run's budget too
            model=model,
        )
        completion = await contracts.complete(self.ai, request, identity=identity)
        try:
            answer = json.loads(completion.content)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            answer = {}
        raw_tasks = answer.get("tasks")
        raw_risks = answer.get("risks")
        tasks = [t for t in raw_tasks if isinstance(t, dict)] if isinstance(raw_tasks, list) else []
        risks = [str(r) for r in raw_risks] if isinstance(raw_risks, list) else []
        return Draft(
            tasks=tasks,
            risks=risks,
            model_used=completion.model_used,
            prompt_version=completion.prompt_version,
            cost_usd=completion.cost_usd,
            tokens_used=completion.tokens_used,
        )

    async def _mcp_tools(self, identity: Identity) -> list[ToolDescription]:
        """The tools of the caller's MCP servers, which a plan may use; none when the tool-runner cannot say (a plan
        of the built-in tools is still a plan)."""
        try:
            described = await contracts.list_tools(self.tools, identity=identity)
        except (AppError, httpx.HTTPError) as exc:
            logger.warning("the caller's MCP tools are unknown: %s", exc)
            return []
        offered = [t for t in described if t.name.startswith(MCP_PREFIX)][:MAX_MCP_TOOLS_OFFERED]
        return offered if self.plan_schema is not None else []

    async def _plan(
        self,
        identity: Identity,
        *,
        goal: str,
        prompt: str,
        max_tasks: int,
        kept: list[dict[str, Any]],
        run_id: uuid.UUID | None,
        model: str | None,
    ) -> tuple[Draft, list[dict[str, Any]], int]:
        kept_ids = frozenset(t["id"] for t in kept)
        needs_execution = asks_for_code(goal) and not any(t.get("tool") == "execute_python" for t in kept)
        mcp_tools = await self._mcp_tools(identity)
        asking = functools.partial(self._ask, identity, max_tasks=max_tasks, run_id=run_id, model=model)
        draft = await asking(prompt=prompt, mcp_tools=mcp_tools)
        cost, tokens = draft.cost_usd, draft.tokens_used
        for attempt in (1, 2):
            tasks = _normalise(repair(draft.tasks, max_tasks, kept_ids))
            errors = validate(tasks, max_tasks, kept_ids)
            problems = [] if errors else degenerate(tasks, needs_execution=needs_execution)
            if not errors and not problems:
                draft.cost_usd, draft.tokens_used = cost, tokens
                return draft, tasks, attempt
            if attempt == 2:
                draft.cost_usd, draft.tokens_used = cost, tokens
                draft.fallback_reasons = errors or problems
                return draft, minimal_plan(goal, max_tasks, needs_execution=needs_execution), attempt
            errors = errors or problems
            retry = (
                f"{prompt}\n\nYour previous plan was invalid:\n- "
                + "\n- ".join(errors)
                + "\nReturn a corrected plan that fixes every error."
            )
            draft = await asking(prompt=retry, mcp_tools=mcp_tools)
            cost += draft.cost_usd
            tokens += draft.tokens_used
        raise AssertionError("unreachable")

    async def create(self, identity: Identity, request: PlanRequest) -> PlanResponse:
        prompt = f"Goal: {request.goal}\nContext: {json.dumps(request.context)}\nUse at most {request.max_tasks} tasks."
        draft, tasks, attempts = await self._plan(
            identity,
            goal=request.goal,
            prompt=prompt,
            max_tasks=request.max_tasks,
            kept=[],
            run_id=request.run_id,
            model=request.model,
        )
        return await self._store(
            identity,
            goal=request.goal,
            context=request.context,
            tasks=tasks,
            draft=draft,
            attempts=attempts,
            parent=None,
        )

    async def replan(self, identity: Identity, request: ReplanRequest) -> PlanResponse:
        previous = await self.get_plan(identity, request.plan_id)
        old_tasks = {t["id"]: t for t in previous.dag["tasks"]}
        if request.failed_task_id not in old_tasks:
            raise BadRequestError(
                f"Task {request.failed_task_id!r} is not in plan {request.plan_id}", code="unknown_task"
            )
        unknown = [t for t in request.succeeded_task_ids if t not in old_tasks]
        if unknown:
            raise BadRequestError(f"Unknown succeeded tasks: {unknown}", code="unknown_task")
        kept = [{**old_tasks[t], "status": "succeeded"} for t in request.succeeded_task_ids]
        remaining = [t for t in previous.dag["tasks"] if t["id"] not in request.succeeded_task_ids]
        prompt = (
            f"Goal: {previous.goal}\nAlready done (reuse their ids as dependencies, do not repeat them): "
            f"{json.dumps(kept)}\n"
            f"Task {request.failed_task_id} failed with: {request.error}\nRemaining work was: {json.dumps(remaining)}\n"
            f"Plan only the remaining work, another way, in at most {request.max_tasks} tasks."
        )
        draft, tasks, attempts = await self._plan(
            identity,
            goal=previous.goal,
            prompt=prompt,
            max_tasks=request.max_tasks,
            kept=kept,
            run_id=request.run_id,
            model=request.model,
        )
        return await self._store(
            identity,
            goal=previous.goal,
            context=previous.context,
            tasks=kept + tasks,
            draft=draft,
            attempts=attempts,
            parent=previous.id,
        )

    async def _store(
        self,
        identity: Identity,
        *,
        goal: str,
        context: dict[str, Any],
        tasks: list[dict[str, Any]],
        draft: Draft,
        attempts: int,
        parent: uuid.UUID | None,
    ) -> PlanResponse:
        done = frozenset(t["id"] for t in tasks if t.get("status") == "succeeded")
        stages = execution_stages([t for t in tasks if t["id"] not in done], done)
        plan = await repository.add_plan(
            self.session,
            user_id=uuid.UUID(identity.user_id),
            goal=goal,
            context=context,
            dag={
                "tasks": tasks,
                "execution_order": stages,
                "attempts": attempts,
                "cost_usd": draft.cost_usd,
                "tokens_used": draft.tokens_used,
                "fallback_reasons": draft.fallback_reasons,
            },
            risks=draft.risks,
            prompt_version=draft.prompt_version,
            model_used=draft.model_used,
            parent_plan_id=parent,
        )
        await self.session.commit()
        return to_response(plan)

    async def get_plan(self, identity: Identity, plan_id: uuid.UUID) -> Plan:
        plan = await repository.get_plan(self.session, plan_id)
        if plan is None or (str(plan.user_id) != identity.user_id and not identity.is_admin):
            raise NotFoundError("Plan not found")
        return plan


def _normalise(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    normalised = []
    for task in tasks:
        try:
            normalised.append(
                PlanTask.model_validate({**task, "name": task.get("name") or task.get("id", "task")}).model_dump()
            )
        except ValidationError:
            normalised.append(
                {**task, "agent_role": task.get("agent_role"), "depends_on": task.get("depends_on") or []}
            )
    return normalised


def to_response(plan: Plan) -> PlanResponse:
    return PlanResponse(
        id=plan.id,
        goal=plan.goal,
        tasks=plan.dag["tasks"],
        execution_order=plan.dag["execution_order"],
        risks=plan.risks,
        model_used=plan.model_used,
        prompt_version=plan.prompt_version,
        cost_usd=plan.dag.get("cost_usd", 0.0),
        tokens_used=plan.dag.get("tokens_used", 0),
        attempts=plan.dag.get("attempts", 1),
        fallback_reasons=plan.dag.get("fallback_reasons"),
        parent_plan_id=plan.parent_plan_id,
        created_at=plan.created_at,
    )


MAX_MCP_TOOLS_OFFERED = 40  # a prompt, and a small model's context, hold only so many


def offered_mcp_tools(tools: list[ToolDescription]) -> str:
    """The caller's MCP tools in the planner's prompt: the name to put as a task's tool, what it does, its
    arguments (a task's inputs are the tool's arguments)."""
    if not tools:
        return ""
    lines = [
        f"- {t.name}: {t.description[:200]} (inputs: {json.dumps(t.parameters.get('properties', {}))[:300]})"
        for t in tools
    ]
    return (
        "\nTools of the user's own MCP servers, also available: use the exact name as a task's tool and give its "
        "arguments as the task's inputs.\n" + "\n".join(lines)
    )


def plan_format(base: dict[str, Any] | None, tools: list[ToolDescription]) -> ResponseFormat | Literal["json"]:
    """The planner role's schema ("json": the ai-runtime applies it), or the same schema with the caller's MCP tools
    among a task's tools."""
    if base is None or not tools:
        return "json"
    schema = copy.deepcopy(base)
    tool = schema["properties"]["tasks"]["items"]["properties"]["tool"]
    tool["enum"] = [*tool["enum"][:-1], *(t.name for t in tools), None]  # null stays last
    return ResponseFormat(type="json_schema", json_schema={"name": "plan", "schema": schema})
