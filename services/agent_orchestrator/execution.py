"""What an agent does with a claimed task: the planner plans, the executor works (with tools), the critic
reviews, the summarizer writes the result and stores it in memory. Every LLM and tool call goes to its
service through the shared client, as the run's user acting through that agent, and is logged."""

import ast
import asyncio
import json
import random
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from pydantic import ValidationError

from database.models import Agent, Approval, Task
from services.agent_orchestrator.approvals import ASK_USER, ApprovalRequired, approved_parameters, is_gated
from services.agent_orchestrator.config import OrchestratorSettings
from services.agent_orchestrator.verification import Verification, checks_passed
from shared.clients import ServiceClient
from shared.contracts import clients as contracts
from shared.contracts.ai import ChatMessage, CompleteRequest, CompleteResponse
from shared.contracts.memory import EVAL_SCOPE
from shared.contracts.plans import PlanRequest, ReplanRequest
from shared.contracts.tools import MCP_PREFIX, ExecuteRequest, ExecuteResponse
from shared.errors import AppError
from shared.identity import Identity

T = TypeVar("T")


# (run_id, task_id, event_type, message, data, cost_usd)
class RecordEvent(Protocol):
    async def __call__(
        self,
        *,
        run_id: uuid.UUID,
        task_id: uuid.UUID,
        event_type: str,
        message: str,
        data: dict[str, Any],
        cost_usd: Decimal | None,
    ) -> None: ...


CODE_BLOCK = re.compile(r"```(?:python|py)?\s*\n(.*?)```", re.DOTALL)


class TaskError(Exception):
    """A failed attempt. `retryable` attempts run again with backoff; `fatal` ones end the run (budget spent)."""

    def __init__(self, message: str, *, code: str = "task_failed", retryable: bool = True, fatal: bool = False) -> None:
        super().__init__(message)
        self.message, self.code, self.retryable, self.fatal = message, code, retryable and not fatal, fatal


@dataclass(kw_only=True)
class TaskContext:
    run_id: uuid.UUID
    user_id: uuid.UUID
    goal: str
    task: Task
    agent: Agent
    dependency_outputs: dict[str, dict[str, Any] | None]
    api_key_id: uuid.UUID | None = None  # the key that started the run: its limits follow every call
    verification: Verification | None = None  # for a summary: how the work it sums up was checked
    approval_tools: tuple[str, ...] = ()  # tools (patterns) whose calls wait for the run owner's approval
    approval: Approval | None = None  # a decision about a call of this attempt, which resumes with it
    model: str | None = None  # the run's model for every call (else the agent's, else the role's chain)
    prompt_version: str | None = None  # the run's executor prompt version
    eval_id: uuid.UUID | None = None  # an eval's run: its memories stay in the eval's own scope
    input_files: list[dict[str, Any]] = field(default_factory=list)  # read-only at /work/inputs in every code run
    team_id: uuid.UUID | None = None  # a team's run: its calls reach the team's memories, files and budget

    def memory_store_scope(self) -> dict[str, Any]:
        return {"scope": EVAL_SCOPE, "session_id": f"eval:{self.eval_id}"} if self.eval_id else {}

    def memory_search_scope(self) -> dict[str, Any]:
        """An eval's run recalls only what it stored itself: its cases stay independent of each other."""
        if not self.eval_id:
            return {}
        return {"scopes": [EVAL_SCOPE], "session_id": f"eval:{self.eval_id}", "metadata": {"run_id": str(self.run_id)}}

    @property
    def critic_round(self) -> int:
        return critic_round(self.task)

    def approval_context(self) -> dict[str, Any]:
        """What the agent said with the call a person approved."""
        return dict(self.approval.context) if self.approval is not None else {}

    @property
    def identity(self) -> Identity:
        return Identity(
            user_id=str(self.user_id),
            username=f"agent:{self.agent.name}",
            role="agent",
            auth_method="jwt",
            agent_id=str(self.agent.id),
            api_key_id=str(self.api_key_id) if self.api_key_id else None,
            team_id=str(self.team_id) if self.team_id else None,
        )


@dataclass
class Outcome:
    output: dict[str, Any]
    new_plan: dict[str, Any] | None = None  # the planner's plan, whose tasks join the run
    revise: list[str] = field(default_factory=list)  # a critic's rejection: these tasks run again
    feedback: str = ""


@dataclass(kw_only=True)
class TaskExecutor:
    settings: OrchestratorSettings
    ai: ServiceClient
    tools: ServiceClient
    planner: ServiceClient
    record_event: RecordEvent

    async def execute(self, ctx: TaskContext) -> Outcome:
        role, tool = ctx.task.agent_role, ctx.task.tool
        if role == "planner":
            return await self._plan(ctx)
        if role == "critic":
            return await self._review(ctx)
        if role == "summarizer":
            return await self._summarize(ctx)
        if tool == "noop":
            return Outcome({"result": ctx.task.inputs})
        if tool == ASK_USER:
            return self._ask_user(ctx)
        if tool is not None and tool.startswith(MCP_PREFIX):  # a tool of the user's MCP server, with the task's inputs
            called = await self._tool(ctx, tool, dict(ctx.task.inputs), gated=True)
            return Outcome({"result": called.get("text"), "structured": called.get("structured")})
        if tool == "execute_python":
            return await self._run_code(ctx)
        if tool == "memory_store":
            content = str(
                ctx.task.inputs.get("content") or self._results_text(ctx) or ctx.task.description or ctx.task.name
            )
            stored = await self._tool(
                ctx,
                "memory_store",
                {
                    "content": content[:20_000],
                    "memory_type": "fact",
                    "metadata": self._provenance(ctx),
                    **ctx.memory_store_scope(),
                },
                gated=True,
            )
            return Outcome({"result": content, "memory_id": stored["id"]})
        if tool == "memory_search":
            query = str(ctx.task.inputs.get("query") or ctx.task.description or ctx.task.name)
            found = await self._tool(
                ctx,
                "memory_search",
                {"query": query[:20_000], "k": int(ctx.task.inputs.get("k", 5)), **ctx.memory_search_scope()},
                gated=True,
            )
            return Outcome({"result": found["memories"]})
        if tool == "http_request":
            if not ctx.task.inputs.get("url"):
                raise TaskError(
                    "http_request needs a url among the task's inputs", code="missing_input", retryable=False
                )
            params: dict[str, Any] = {
                k: ctx.task.inputs[k] for k in ("url", "method", "headers", "body") if k in ctx.task.inputs
            }
            return Outcome({"result": await self._tool(ctx, "http_request", params, gated=True)})
        if (approved := self._decided_call(ctx, "execute_python")) is not None:
            # The code was written and approved before this attempt waited: it runs as approved, not rewritten.
            return Outcome({**ctx.approval_context(), **await self._execute(ctx, approved["code"])})
        answer = await self._complete(ctx, "executor", self._brief(ctx, await self._recall(ctx)))
        output = {k: answer[k] for k in ("result", "code", "notes") if answer.get(k) not in (None, "")}
        code = _written_code(answer)
        if code is not None and "execute_python" in ctx.agent.allowed_tools:
            # Code the model wrote without calling the tool is run all the same: unrun code is not a result.
            said = {k: v for k, v in output.items() if k != "code"}
            output |= await self._execute(ctx, code, context=said)
        return Outcome(output)

    # --- roles ------------------------------------------------------------------------------------------

    async def _plan(self, ctx: TaskContext) -> Outcome:
        inputs = ctx.task.inputs
        asked = PlanRequest(
            goal=ctx.goal,
            context=inputs.get("context", {}),
            max_tasks=int(inputs.get("max_tasks") or self.settings.default_max_tasks),
            run_id=ctx.run_id,
            model=ctx.model,
        )
        plan = await self._typed(
            lambda: contracts.plan(self.planner, asked, identity=ctx.identity), service=self.planner
        )
        await self.record_event(
            run_id=ctx.run_id,
            task_id=ctx.task.id,
            event_type="plan_created",
            message=f"Planned {len(plan.tasks)} tasks",
            data={
                "plan_id": str(plan.id),
                "execution_order": plan.execution_order,
                "model": plan.model_used,
                "role": "planner",
                "prompt_version": plan.prompt_version,
                "tokens": plan.tokens_used,
                # The tasks this planning task created, by key and name; why the plan was built in code, if it was.
                "tasks": [{"key": t.id, "name": t.name} for t in plan.tasks],
                "fallback_reasons": plan.fallback_reasons,
            },
            cost_usd=Decimal(str(plan.cost_usd)),
        )
        return Outcome(
            {"plan_id": str(plan.id), "tasks": [t.id for t in plan.tasks], "risks": plan.risks},
            new_plan=plan.model_dump(mode="json"),
        )

    async def replan(
        self, ctx: TaskContext, *, plan_id: uuid.UUID, error: str, succeeded_keys: list[str]
    ) -> dict[str, Any]:
        """A new plan for the remaining work after ctx.task of plan `plan_id` failed; finished tasks are kept."""
        previous = await self._typed(
            lambda: contracts.get_plan(self.planner, plan_id, identity=ctx.identity), service=self.planner
        )
        planned = {t.id for t in previous.tasks}
        asked = ReplanRequest(
            plan_id=plan_id,
            failed_task_id=ctx.task.task_key,
            error=error[:10_000],
            succeeded_task_ids=[k for k in succeeded_keys if k in planned],
            max_tasks=self.settings.default_max_tasks,
            run_id=ctx.run_id,
            model=ctx.model,
        )
        plan = await self._typed(
            lambda: contracts.replan(self.planner, asked, identity=ctx.identity), service=self.planner
        )
        await self.record_event(
            run_id=ctx.run_id,
            task_id=ctx.task.id,
            event_type="plan_created",
            message=f"Replanned: {len(plan.tasks)} tasks",
            data={"plan_id": str(plan.id), "execution_order": plan.execution_order, "tokens": plan.tokens_used},
            cost_usd=Decimal(str(plan.cost_usd)),
        )
        return plan.model_dump(mode="json")

    async def _review(self, ctx: TaskContext) -> Outcome:
        prompt = (
            f"Goal of the run: {ctx.goal}\nReview task: {ctx.task.name}\n{ctx.task.description or ''}\n\n"
            f"Results to review:\n{self._results_text(ctx)}"
        )
        verdict = await self._complete(ctx, "critic", prompt)
        approved = verdict.get("approved") is True
        score = _bounded_int(verdict.get("score"), 0, 10) if "score" in verdict else (10 if approved else 0)
        feedback = str(verdict.get("feedback") or "")
        reviewed = [key for key in ctx.task.depends_on if ctx.dependency_outputs.get(key) is not None]
        # `reviewed`: the results it saw; a critic that saw none checked nothing (verification.py).
        output = {
            "score": score,
            "approved": approved,
            "feedback": feedback,
            "round": ctx.critic_round,
            "reviewed": reviewed,
        }
        await self.record_event(
            run_id=ctx.run_id,
            task_id=ctx.task.id,
            event_type="critic_verdict",
            message=f"{'Approved' if approved else 'Rejected'} ({score}/10)",
            data=output,
            cost_usd=None,
        )
        revisable = [key for key in ctx.task.depends_on if key in ctx.dependency_outputs]
        if not approved and revisable and ctx.critic_round < self.settings.max_critic_rounds:
            return Outcome(
                output, revise=revisable, feedback=feedback or "Improve the result so it fully does what the task asks."
            )
        return Outcome(output)

    async def _summarize(self, ctx: TaskContext) -> Outcome:
        prompt = (
            f"Goal: {ctx.goal}\n\nResults of the run's tasks:\n{self._results_text(ctx)}\n\nWrite the final result "
            "for the user."
        )
        answer = await self._complete(ctx, "summarizer", prompt)
        summary = (
            str(answer.get("summary") or answer.get("result") or "").strip()
            or "The run finished; no summary was written."
        )
        key_facts = (
            [str(f) for f in answer.get("key_facts", []) if f] if isinstance(answer.get("key_facts"), list) else []
        )
        verification = ctx.verification or "unverified"
        # An unchecked result is remembered as what it is, not as fact.
        marker = "" if verification != "unverified" else "Unverified (nothing checked this result): "
        stored = await self._tool(
            ctx,
            "memory_store",
            {
                "content": f"{marker}{ctx.goal}\n\n{summary}"[:20_000],
                "memory_type": "episodic",
                "metadata": {**self._provenance(ctx), "verification": verification},
                **ctx.memory_store_scope(),
            },
        )
        return Outcome({"summary": summary, "key_facts": key_facts, "memory_id": stored["id"]})

    async def _run_code(self, ctx: TaskContext) -> Outcome:
        code = ctx.task.inputs.get("code")
        if not code and (approved := self._decided_call(ctx, "execute_python")) is not None:
            code = approved["code"]
        if not code:
            retry_note = f"\n\nYour previous attempt failed with:\n{ctx.task.error}\nFix it." if ctx.task.error else ""
            prompt = (
                f"{self._brief(ctx, await self._recall(ctx))}\n\nPut complete Python that prints its results in the "
                f"`code` field.{retry_note}"
            )
            answer = await self._complete(ctx, "executor", prompt)
            code = _extract_code(answer)
            if code is None:
                raise TaskError("The executor did not write runnable Python", code="no_code")
        executed = await self._execute(ctx, code)
        return Outcome({"result": executed.pop("stdout"), **executed})

    async def _execute(self, ctx: TaskContext, code: str, *, context: dict[str, Any] | None = None) -> dict[str, Any]:
        """Runs `code` in the sandbox: its code, stdout, stderr, exit code and whether its checks passed. A failure
        fails the attempt (the retry sees the error). Gated, the code that runs is the approved code."""
        code = self._gate(ctx, "execute_python", {"code": code}, context=context)["code"]
        ran = await self._tool(ctx, "execute_python", {"code": code}, whole=True)
        result = ran["result"] or {}
        await self._announce_artifacts(ctx, result)
        if ran["status"] != "succeeded":
            raise TaskError(f"The code {ran['status']}: {ran['error'] or ''}"[:4000], code=f"code_{ran['status']}")
        stdout = result.get("stdout", "")
        artifacts = {k: result[k] for k in ("artifacts", "artifacts_truncated", "artifacts_skipped") if result.get(k)}
        return {
            "code": code,
            "stdout": stdout,
            "stderr": result.get("stderr", ""),
            "exit_code": result.get("exit_code"),
            "checks_passed": checks_passed(code=code, exit_code=result.get("exit_code"), stdout=stdout),
            **artifacts,
        }

    async def _announce_artifacts(self, ctx: TaskContext, result: dict[str, Any]) -> None:
        """One artifact_created event per file the code left in /work/outputs (also from a failed attempt: the
        files are kept), and one artifacts_truncated when the limits left some behind."""
        for artifact in result.get("artifacts") or ():
            await self.record_event(
                run_id=ctx.run_id,
                task_id=ctx.task.id,
                event_type="artifact_created",
                message=f"{artifact['name']} ({artifact['size']} bytes)",
                data=artifact,
                cost_usd=None,
            )
        if result.get("artifacts_truncated"):
            await self.record_event(
                run_id=ctx.run_id,
                task_id=ctx.task.id,
                event_type="artifacts_truncated",
                message="Some files in /work/outputs were not kept: past the limits on their number or size",
                data={"kept": len(result.get("artifacts") or ())},
                cost_usd=None,
            )

    # --- calls to the other services -------------------------------------------------------------------

    async def _complete(self, ctx: TaskContext, role: str, prompt: str) -> dict[str, Any]:
        agent = ctx.agent
        body = CompleteRequest(
            role=role,
            prompt=prompt,
            response_format="json",
            temperature=agent.temperature,
            max_tokens=agent.max_tokens,
            run_id=ctx.run_id,
            task_id=ctx.task.id,
            agent_id=agent.id,
            model=ctx.model or agent.model,
            prompt_version=ctx.prompt_version if role == "executor" else None,
            context=[ChatMessage(role="system", content=agent.system_prompt)] if agent.system_prompt else [],
        )
        completion = await self._typed(
            lambda: contracts.complete(self.ai, body, identity=ctx.identity), service=self.ai
        )
        await self.record_event(
            run_id=ctx.run_id,
            task_id=ctx.task.id,
            event_type="llm_call",
            message=f"{role} answered with {completion.model_used}",
            data={
                "model": completion.model_used,
                "provider": completion.provider,
                "role": role,
                "prompt_version": completion.prompt_version,
                "tokens": completion.tokens_used,
                "latency_ms": completion.latency_ms,
                "cached": completion.cached,
                **self._llm_text(body=body, completion=completion),
            },
            cost_usd=Decimal(str(completion.cost_usd)),
        )
        return _parse_json_object(completion.content)

    def _llm_text(self, *, body: CompleteRequest, completion: CompleteResponse) -> dict[str, Any]:
        """What was asked and answered, capped, for the run's owner to read (unless the setting keeps none)."""
        if not self.settings.store_llm_text:
            return {}
        cap = self.settings.llm_text_max_chars
        system = next((m.content for m in body.context if m.role == "system"), None)
        return {
            "prompt_version": completion.prompt_version,
            "prompt": _capped(body.prompt or "", cap),
            **({"agent_system_prompt": _capped(system, cap)} if system else {}),
            "completion": _capped(completion.content, cap),
        }

    @staticmethod
    def _ask_user(ctx: TaskContext) -> Outcome:
        """The run's owner answers inputs.question: the task waits for it, and its output (the answer) reaches the
        tasks that depend on it like any result."""
        question = str(ctx.task.inputs.get("question") or ctx.task.description or ctx.task.name)
        answered = ctx.approval
        if answered is None or answered.tool != ASK_USER:
            raise ApprovalRequired(tool=ASK_USER, parameters={"question": question}, context={})
        if answered.status != "approved":
            raise TaskError(
                f"The question was not answered ({answered.status})",
                code=f"question_{answered.status}",
                retryable=False,
            )
        return Outcome({"result": approved_parameters(answered).get("answer"), "question": question})

    def _decided_call(self, ctx: TaskContext, tool: str) -> dict[str, Any] | None:
        """The parameters a person approved for this attempt's call of `tool` (None when nobody decided one); a
        rejection or an expiry fails the attempt for good, and the task's fallback applies."""
        approval = ctx.approval
        if approval is None or approval.tool != tool or not is_gated(ctx.approval_tools, tool):
            return None
        if approval.status != "approved":
            note = f": {approval.note}" if approval.note else ""
            raise TaskError(
                f"The call of {tool} was {approval.status}{note}", code=f"approval_{approval.status}", retryable=False
            )
        return approved_parameters(approval)

    def _gate(
        self, ctx: TaskContext, tool: str, parameters: dict[str, Any], *, context: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The parameters `tool` runs with: its own when the tool is not gated, the approved ones once a person
        decided (one approval, one call); otherwise the task waits for a decision."""
        if not is_gated(ctx.approval_tools, tool):
            return parameters
        approved = self._decided_call(ctx, tool)
        if approved is None:
            raise ApprovalRequired(tool=tool, parameters=parameters, context=context or {})
        ctx.approval = None
        return approved

    async def _tool(
        self,
        ctx: TaskContext,
        tool: str,
        parameters: dict[str, Any],
        *,
        whole: bool = False,
        gated: bool = False,
    ) -> Any:
        """Runs one tool through the tool-runner. `gated` calls are the task's own, which the approval policy
        covers (the executor's recall and the summary's memory are bookkeeping, not the agent's actions)."""
        if gated:
            parameters = self._gate(ctx, tool, parameters)
        workspace = (
            {"run_id": ctx.run_id, "files": [f["id"] for f in ctx.input_files]} if tool == "execute_python" else {}
        )
        try:
            body = ExecuteRequest.model_validate(
                {
                    "tool_name": tool,
                    "parameters": parameters,
                    "task_id": ctx.task.id,
                    "timeout_seconds": self.settings.tool_timeout_seconds,
                    **workspace,
                }
            )
        except ValidationError as exc:  # a tool the tool-runner does not have: no attempt would do better
            raise TaskError(f"tool-runner: no tool {tool}", code="unknown_tool", retryable=False) from exc
        ran = ExecuteResponse.model_validate(
            await self._call(
                ctx, self.tools, path="/tools/execute", body=body.model_dump(mode="json", exclude_none=True)
            )
        ).model_dump(mode="json")
        excerpt = {
            k: (v[:500] if isinstance(v, str) else v)
            for k, v in (ran.get("result") or {}).items()
            if k in ("stdout", "stderr", "exit_code", "id", "status", "artifacts")
        }
        await self.record_event(
            run_id=ctx.run_id,
            task_id=ctx.task.id,
            event_type="tool_call",
            message=f"{tool} {ran['status']}",
            data={
                "tool": tool,
                "status": ran["status"],
                "execution_id": ran["execution_id"],
                "duration_ms": ran["duration_ms"],
                "error": ran.get("error"),
                "result": excerpt,
            },
            cost_usd=None,
        )
        if whole:
            return ran
        if ran["status"] != "succeeded":
            raise TaskError(f"{tool} {ran['status']}: {ran.get('error') or ''}"[:4000], code=f"tool_{ran['status']}")
        return ran["result"]

    async def _typed(self, call: Callable[[], Awaitable[T]], *, service: ServiceClient) -> T:
        """A typed hop (shared/contracts/clients.py), its errors mapped to attempts as _call maps them. A busy model
        (429 model_busy: the embedded model's queue is long) is waited out as its Retry-After says, not counted
        as a failed attempt: two runs at once on one small model are slow, not wrong."""
        try:
            return await wait_out(
                call, busy=model_busy, pause=busy_wait_seconds, seconds=self.settings.model_busy_wait_seconds
            )
        except AppError as exc:
            raise self._task_error(service, exc) from exc

    async def _call(self, ctx: TaskContext, client: ServiceClient, *, path: str, body: dict[str, Any] | None) -> Any:
        """POST body (GET when None) as the run's user acting through ctx.agent, errors mapped to attempts.
        A full sandbox (the user's concurrent-run limit) is waited out, not counted as a failed attempt."""

        async def send() -> Any:
            if body is None:
                return await client.get_json(path, identity=ctx.identity)
            return await client.post_json(path, identity=ctx.identity, json=body)

        try:
            return await wait_out(
                send,
                busy=sandbox_full,
                pause=lambda _: 0.5 + random.random(),
                seconds=self.settings.tool_timeout_seconds * 4,
            )
        except AppError as exc:
            raise self._task_error(client, exc) from exc

    @staticmethod
    def _task_error(client: ServiceClient, exc: AppError) -> "TaskError":
        if exc.status_code == 402:
            return TaskError(f"Budget exhausted: {exc.message}", code="budget_exceeded", fatal=True)
        retryable = exc.status_code >= 500 or exc.status_code in (408, 429)
        return TaskError(f"{client.service}: {exc.message}", code=exc.code, retryable=retryable)

    async def _recall(self, ctx: TaskContext) -> str:
        """The user's memories that bear on the task, for the executor's prompt (a help: it never fails the task)."""
        if not self.settings.recall_memories or "memory_search" not in ctx.agent.allowed_tools:
            return ""
        query = f"{ctx.task.name}. {ctx.task.description or ''}"[:2000]
        try:
            found = await self._tool(
                ctx, "memory_search", {"query": query, "k": self.settings.recall_memories, **ctx.memory_search_scope()}
            )
        except TaskError:
            return ""
        relevant = [
            m["content"][:300] for m in found["memories"] if m["relevance_score"] >= self.settings.recall_min_relevance
        ]
        return "What you remember that may help:\n- " + "\n- ".join(relevant) if relevant else ""

    # --- prompts ----------------------------------------------------------------------------------------

    def _brief(self, ctx: TaskContext, recalled: str = "") -> str:
        task = ctx.task
        inputs = {k: v for k, v in task.inputs.items() if k != "critic_feedback"}
        parts = [f"Goal of the run: {ctx.goal}", f"Your task: {task.name}", task.description or ""]
        if inputs:
            parts.append(f"Inputs: {json.dumps(inputs)[: self.settings.dependency_chars_in_prompt]}")
        if ctx.dependency_outputs:
            parts.append(f"Results of the tasks this one depends on:\n{self._results_text(ctx)}")
        if ctx.input_files:
            parts.append(input_files_text(ctx.input_files))
        if recalled:
            parts.append(recalled)
        if feedback := task.inputs.get("critic_feedback"):
            parts.append(f"A reviewer rejected your previous result. Their feedback: {feedback}")
        return "\n\n".join(p for p in parts if p)

    def _results_text(self, ctx: TaskContext) -> str:
        shown = [output for output in ctx.dependency_outputs.values() if output is not None]
        limit = max(200, self.settings.dependency_chars_in_prompt // max(1, len(shown)))
        return "\n".join(
            f"[{key}] {json.dumps(output)[:limit]}"
            for key, output in ctx.dependency_outputs.items()
            if output is not None
        )

    def _provenance(self, ctx: TaskContext) -> dict[str, Any]:
        return {
            "run_id": str(ctx.run_id),
            "task": ctx.task.task_key,
            "agent": ctx.agent.name,
            "source": "agent-orchestrator",
        }


def input_files_text(files: list[dict[str, Any]]) -> str:
    """What an executor is told of the run's files: where its code reads them, what they start with, and where
    to leave the files it makes."""
    lines = ["Input files, read-only for your code at /work/inputs/<name>:"]
    for f in files:
        lines.append(f"- /work/inputs/{f['name']} ({f['media_type']}, {f['size']} bytes)")
        if f.get("head"):
            lines.append("  first lines:\n    " + "\n    ".join(str(f["head"]).splitlines()[:5]))
    lines.append("Files your code writes to /work/outputs/ are handed to the user.")
    return "\n".join(lines)


async def wait_out(
    call: Callable[[], Awaitable[T]],
    *,
    busy: Callable[[AppError], bool],
    pause: Callable[[AppError], float],
    seconds: float,
) -> T:
    """`call`, asked again after `pause` each time it fails with an error that only says "not now" (`busy`), for up
    to `seconds`; any other error, or a busy one past then, is raised."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return await call()
        except AppError as exc:
            if not busy(exc) or time.monotonic() >= deadline:
                raise
            await asyncio.sleep(pause(exc))


def model_busy(exc: AppError) -> bool:
    return exc.code == "model_busy"


def sandbox_full(exc: AppError) -> bool:
    """The user's concurrent sandbox runs are all taken."""
    return exc.code == "too_many_sandbox_runs"


def busy_wait_seconds(exc: AppError) -> float:
    """How long to wait before asking a busy model again: its Retry-After (within 1-30 s), with jitter so that the
    waiting calls do not all come back at once."""
    asked = exc.details.get("retry_after_seconds")
    base = float(asked) if isinstance(asked, int | float) else 1.0
    return min(30.0, max(1.0, base)) * (1 + random.random() / 4)


def critic_round(task: Task) -> int:
    """How many times a critic task has sent its work back so far."""
    return int(task.inputs.get("critic_round", 0))


def _parse_json_object(content: str) -> dict[str, Any]:
    """The role's JSON answer; a model that answered in prose still gets its text through as the result."""
    try:
        parsed = json.loads(content)
    except ValueError:
        return {"result": content}
    return parsed if isinstance(parsed, dict) else {"result": parsed}


def _extract_code(answer: dict[str, Any]) -> str | None:
    """Python from the `code` field, or from a fenced block in the result; None when it does not parse."""
    for candidate in (answer.get("code"), answer.get("result")):
        if not isinstance(candidate, str) or not candidate.strip():
            continue
        block = CODE_BLOCK.search(candidate)
        code = block.group(1) if block else candidate
        try:
            ast.parse(code)
        except SyntaxError:
            continue
        return code
    return None


def _written_code(answer: dict[str, Any]) -> str | None:
    """Python an executor wrote: its `code` field, or a fenced block in its result (never its prose itself)."""
    candidates = [answer.get("code")]
    if isinstance(answer.get("result"), str) and (block := CODE_BLOCK.search(answer["result"])):
        candidates.append(block.group(1))
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip():
            try:
                ast.parse(candidate)
            except SyntaxError:
                continue
            return candidate
    return None


def _bounded_int(value: Any, low: int, high: int) -> int:
    try:
        return max(low, min(high, int(value)))
    except (TypeError, ValueError):
        return low


def _capped(text: str, most: int) -> str:
    return text if len(text) <= most else f"{text[:most]}… [{len(text) - most} more characters not kept]"
