"""One case on one arm. The agent arm is a full run of the goal (plan, execute, verify, retry, summarize); the
baseline is one completion of the same model with the executor's token budget, whose code is run. Both end in
the same check, run in the sandbox as the eval's owner."""

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from database.models import Eval, EvalResult, Run
from services.agent_orchestrator import repository as run_repository
from services.agent_orchestrator.config import OrchestratorSettings
from services.agent_orchestrator.evals import repository
from services.agent_orchestrator.evals.checks import (
    BASELINE_SYSTEM,
    JUDGE_SYSTEM,
    Produced,
    check_program,
    chosen_code,
    extract_code,
    judge_prompt,
    judge_verdict,
)
from services.agent_orchestrator.execution import busy_wait_seconds, sandbox_full, wait_out
from services.agent_orchestrator.schemas import RunCreate
from services.agent_orchestrator.service import RunService
from shared.clients import ServiceClient
from shared.contracts import clients as contracts
from shared.contracts.ai import ChatMessage, CompleteRequest, CompleteResponse
from shared.contracts.evals import EvalCase
from shared.contracts.tools import ExecuteRequest
from shared.errors import AppError
from shared.identity import Identity

EXCERPT = 2000
DEFAULT_EXECUTOR_TOKENS = 1024


@dataclass(frozen=True)
class SandboxRun:
    status: str  # succeeded, failed or timeout
    result: dict[str, Any]
    error: str | None


@dataclass(kw_only=True)
class CaseOutcome:
    passed: bool
    cost_usd: Decimal
    tokens: int
    detail: dict[str, Any]


def owner(evaluation: Eval) -> Identity:
    """The eval's owner, as whom its runs, completions and checks are made (the key that started it, with its
    limits, follows them)."""
    return Identity(
        user_id=str(evaluation.user_id),
        username=f"eval:{evaluation.id}",
        role="user",
        auth_method="jwt",
        api_key_id=str(evaluation.api_key_id) if evaluation.api_key_id else None,
    )


@dataclass(kw_only=True)
class CaseRunner:
    settings: OrchestratorSettings
    sessionmaker: async_sessionmaker[AsyncSession]
    ai: ServiceClient
    tools: ServiceClient
    planner: ServiceClient

    async def run(self, evaluation: Eval, result: EvalResult, *, still_claimed: Callable[[], bool]) -> CaseOutcome:
        case = EvalCase.model_validate(result.case)
        if result.arm == "agent":
            produced, cost, tokens, detail = await self._agent(evaluation, result, case, still_claimed=still_claimed)
        else:
            produced, cost, tokens, detail = await self._baseline(evaluation, case)
        if produced is None:
            return CaseOutcome(passed=False, cost_usd=cost, tokens=tokens, detail=detail)
        passed, verdict = await self._judge(evaluation, case, produced)
        detail |= verdict
        cost += Decimal(str(verdict.get("judge_cost_usd", 0)))
        return CaseOutcome(
            passed=passed and detail.get("run_status", "succeeded") == "succeeded",
            cost_usd=cost,
            tokens=tokens,
            detail=detail,
        )

    # --- the agent arm ----------------------------------------------------------------------------------

    async def _agent(
        self, evaluation: Eval, result: EvalResult, case: EvalCase, *, still_claimed: Callable[[], bool]
    ) -> tuple[Produced | None, Decimal, int, dict[str, Any]]:
        config = evaluation.config
        run_id = result.run_id  # set when another process started the run and died: its run goes on
        if run_id is None:
            asked = RunCreate(
                goal=case.goal,
                model=config.get("model"),
                prompt_version=config.get("prompt_version"),
                agent=config.get("agent"),
                budget_usd=config.get("budget_usd"),
            )
            async with self.sessionmaker() as session:
                runs = RunService(
                    session=session, settings=self.settings, planner=self.planner, ai=self.ai, tools=self.tools
                )
                run = await runs.open_for_eval(owner(evaluation), asked, eval_id=evaluation.id)
                await repository.set_run(session, result.id, run.id)
                await session.commit()
                run_id = run.id
        finished = await self._wait_for(run_id, still_claimed=still_claimed)
        if finished is None:
            await self._cancel(evaluation, run_id)
            async with self.sessionmaker() as session:
                finished = await run_repository.get_run(session, run_id)
            detail: dict[str, Any] = {
                "error": f"the run did not finish within {self.settings.eval_case_timeout_seconds:.0f} s"
            }
        else:
            detail = {}
        assert finished is not None
        async with self.sessionmaker() as session:
            outputs = await repository.succeeded_outputs(session, run_id)
            calls = await repository.llm_events(session, run_id)
        produced = _agent_produced(finished, outputs, entry_point=case.entry_point)
        detail |= {
            "run_status": finished.status,
            "run_error": (finished.error or "")[:EXCERPT] or None,
            "verification": finished.verification,
            "models": sorted({str(c["model"]) for c in calls if c.get("model")}),
            "prompt_versions": _prompt_versions(calls),
            "code": produced.code[:EXCERPT],
            "answer": produced.answer[:EXCERPT],
        }
        tokens = sum(int(c.get("tokens") or 0) for c in calls)
        return produced, Decimal(str(finished.spent_usd)), tokens, detail

    async def _wait_for(self, run_id: uuid.UUID, *, still_claimed: Callable[[], bool]) -> Run | None:
        """The run once it finished; None when it was still going at the case's deadline (or the case was
        cancelled meanwhile)."""
        deadline = time.monotonic() + self.settings.eval_case_timeout_seconds
        while time.monotonic() < deadline and still_claimed():
            async with self.sessionmaker() as session:
                if await repository.run_status(session, run_id) in run_repository.TERMINAL_RUN_STATUSES:
                    return await run_repository.get_run(session, run_id)
            await asyncio.sleep(self.settings.eval_poll_seconds)
        return None

    async def _cancel(self, evaluation: Eval, run_id: uuid.UUID) -> None:
        async with self.sessionmaker() as session:
            runs = RunService(
                session=session, settings=self.settings, planner=self.planner, ai=self.ai, tools=self.tools
            )
            with contextlib.suppress(AppError):  # it finished meanwhile
                await runs.cancel(owner(evaluation), run_id)

    # --- the baseline -----------------------------------------------------------------------------------

    async def _baseline(self, evaluation: Eval, case: EvalCase) -> tuple[Produced | None, Decimal, int, dict[str, Any]]:
        config = evaluation.config
        executor = config.get("executor") or {}
        asked = CompleteRequest(
            # The executor's model chain, with the baseline's own system prompt in place of the executor's.
            role="executor",
            prompt=case.goal,
            context=[ChatMessage(role="system", content=BASELINE_SYSTEM)],
            model=config.get("model") or executor.get("model"),
            max_tokens=int(executor.get("max_tokens") or DEFAULT_EXECUTOR_TOKENS),
            temperature=float(executor.get("temperature", 0.2)),
            cache=False,
        )
        try:
            completion = await self._complete(evaluation, asked)
        except AppError as exc:
            return None, Decimal(0), 0, {"error": f"ai-runtime: {exc.message}"[:EXCERPT], "error_code": exc.code}
        code = extract_code(completion.content, entry_point=case.entry_point)
        stdout, ran = "", None
        if code:
            ran = await self._sandbox(evaluation, code, timeout_seconds=case.timeout_seconds)
            stdout = str(ran.result.get("stdout", ""))
        detail = {
            "models": [completion.model_used],
            "prompt_versions": {},
            "code": code[:EXCERPT],
            "answer": completion.content[:EXCERPT],
            "code_status": ran.status if ran else "no_code",
        }
        produced = Produced(answer=completion.content, code=code, stdout=stdout)
        return produced, Decimal(str(completion.cost_usd)), completion.tokens_used, detail

    # --- checking -----------------------------------------------------------------------------------------

    async def _judge(self, evaluation: Eval, case: EvalCase, produced: Produced) -> tuple[bool, dict[str, Any]]:
        if case.evaluator == "llm_judge":
            return await self._llm_judge(evaluation, case, produced)
        ran = await self._sandbox(evaluation, check_program(case, produced), timeout_seconds=case.timeout_seconds)
        outcome = ran.result
        passed = ran.status == "succeeded" and outcome.get("exit_code") == 0
        return passed, {
            "evaluator": "code",
            "check_status": ran.status,
            "check_exit_code": outcome.get("exit_code"),
            "check_output": (str(outcome.get("stderr") or "") or str(ran.error or ""))[-EXCERPT:],
        }

    async def _llm_judge(self, evaluation: Eval, case: EvalCase, produced: Produced) -> tuple[bool, dict[str, Any]]:
        asked = CompleteRequest(
            role="executor",  # the arms' model chain, with the judge's own system prompt
            prompt=judge_prompt(case, produced),
            context=[ChatMessage(role="system", content=JUDGE_SYSTEM)],
            model=evaluation.config.get("model"),
            temperature=0,
            max_tokens=200,
            response_format={"type": "json_object"},
            cache=False,
        )
        try:
            verdict = await self._complete(evaluation, asked)
        except AppError as exc:
            return False, {"evaluator": "llm_judge", "judge_reason": f"the judge failed: {exc.message}"[:EXCERPT]}
        passed, reason = judge_verdict(verdict.content)
        return passed, {
            "evaluator": "llm_judge",
            "judge_reason": reason,
            "judge_model": verdict.model_used,
            "judge_cost_usd": verdict.cost_usd,
        }

    async def _complete(self, evaluation: Eval, asked: CompleteRequest) -> CompleteResponse:
        """One completion as the eval's owner; a busy model (429 model_busy, as the embedded one says when its
        queue is long) is waited out as its Retry-After says, up to the case's deadline: busy is not wrong."""
        return await wait_out(
            lambda: contracts.complete(self.ai, asked, identity=owner(evaluation)),
            busy=lambda exc: exc.status_code == 429,
            pause=busy_wait_seconds,
            seconds=self.settings.eval_case_timeout_seconds,
        )

    async def _sandbox(self, evaluation: Eval, code: str, *, timeout_seconds: float) -> SandboxRun:
        """execute_python as the eval's owner; a full sandbox (the owner's concurrent-run limit) is waited out."""
        body = ExecuteRequest(tool_name="execute_python", parameters={"code": code}, timeout_seconds=timeout_seconds)
        try:
            ran = await wait_out(
                lambda: contracts.execute(self.tools, body, identity=owner(evaluation)),
                busy=sandbox_full,
                pause=lambda _: 0.5,
                seconds=self.settings.tool_timeout_seconds * 4,
            )
        except AppError as exc:
            return SandboxRun(status="failed", result={}, error=f"tool-runner: {exc.message}")
        return SandboxRun(status=ran.status, result=ran.result or {}, error=ran.error)


def _agent_produced(run: Run, outputs: list[dict[str, Any]], *, entry_point: str | None) -> Produced:
    """A run's final text (its summary, then what its tasks reported) and the code its tasks ran."""
    ran = [o for o in outputs if isinstance(o.get("code"), str) and "exit_code" in o]
    result = run.result or {}
    said = [str(result.get("summary") or ""), *(str(f) for f in result.get("key_facts") or [])]
    said += [o["result"] for o in outputs if isinstance(o.get("result"), str)]
    return Produced(
        answer="\n".join(s for s in said if s),
        code=chosen_code([o["code"] for o in ran], entry_point=entry_point),
        stdout="".join(str(o.get("stdout") or "") for o in ran),
    )


def _prompt_versions(calls: list[dict[str, Any]]) -> dict[str, str]:
    return {str(c["role"]): str(c["prompt_version"]) for c in calls if c.get("role") and c.get("prompt_version")}
