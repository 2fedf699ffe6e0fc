"""Evals as the API shows them: starting one (its cases become pending rows that the driver works), reading one
with its per-arm rates and per-case table, cancelling one, and comparing two."""

import os
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from database.models import Eval, EvalResult
from services.agent_orchestrator.config import OrchestratorSettings
from services.agent_orchestrator.evals import repository, suites
from services.agent_orchestrator.evals.repository import Tally
from services.agent_orchestrator.evals.schemas import (
    ArmChange,
    ArmResult,
    ArmSummary,
    CaseChange,
    CaseRow,
    EvalComparison,
    EvalCreate,
    EvalReport,
    EvalSummary,
)
from services.agent_orchestrator.evals.stats import newcombe, percentile, wilson
from services.agent_orchestrator.service import executor_agent
from shared.app import VERSION
from shared.clients import ServiceClient
from shared.contracts import clients as contracts
from shared.contracts.evals import ARMS, Arm, EvalCase
from shared.errors import ConflictError, NotFoundError, UnprocessableError
from shared.identity import Identity
from shared.pagination import Page, after_cursor, page_of

REPOSITORY_ROOT = Path(__file__).resolve().parents[3]


@cache
def code_version() -> str:
    """The commit the orchestrator runs (COGNITIONOS_COMMIT in images, else git), else the package version."""
    if commit := os.environ.get("COGNITIONOS_COMMIT"):
        return commit
    try:
        found = subprocess.run(
            ["git", "-C", str(REPOSITORY_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return VERSION
    return found.stdout.strip() if found.returncode == 0 and found.stdout.strip() else VERSION


@dataclass
class EvalService:
    session: AsyncSession
    settings: OrchestratorSettings
    ai: ServiceClient
    wake: Callable[[], None]  # the driver of this process: there is work

    async def create(self, identity: Identity, request: EvalCreate) -> EvalReport:
        cases = list(request.cases) if request.cases is not None else suites.built_in(request.suite)
        if request.model is not None:
            await self._check_model(identity, request.model)
        if request.limit is not None:
            cases = cases[: request.limit]
        if len(cases) > self.settings.eval_max_cases:
            raise UnprocessableError(
                f"An eval holds at most {self.settings.eval_max_cases} cases (use limit)",
                code="too_many_cases",
                details={"cases": len(cases), "most": self.settings.eval_max_cases},
            )
        evaluation = Eval(
            id=uuid.uuid4(),
            user_id=uuid.UUID(identity.user_id),
            api_key_id=uuid.UUID(identity.api_key_id) if identity.api_key_id else None,
            suite=request.suite,
            status="running",
            concurrency=request.concurrency,
            case_count=len(cases),
            config=await self._config(identity, request, cases),
        )
        self.session.add(evaluation)
        await self.session.flush()
        self.session.add_all(
            EvalResult(
                eval_id=evaluation.id,
                case_id=case.id,
                position=position,
                arm=arm,
                case=case.model_dump(mode="json"),
                status="pending",
            )
            for position, case in enumerate(cases)
            for arm in request.arms
        )
        await self.session.commit()
        self.wake()
        return await self.report(identity, evaluation.id)

    async def _check_model(self, identity: Identity, name: str) -> None:
        """A model the ai-runtime knows and can serve, before a case is spent on it (an eval of hundreds of cases
        would otherwise fail each of them on the same typo)."""
        catalog = await contracts.list_models(self.ai, identity=identity)
        known = {m.name: m for m in catalog.models if m.kind == "chat"}
        model = known.get(catalog.aliases.get(name, name))
        if model is None:
            raise UnprocessableError(
                f"No chat model or alias named {name!r}",
                code="unknown_model",
                details={"model": name, "known": sorted(known), "aliases": sorted(catalog.aliases)},
            )
        if not model.available:
            raise UnprocessableError(
                f"The model {model.name} is not enabled (its provider {model.provider} has no key or server)",
                code="model_unavailable",
                details={"model": model.name, "provider": model.provider},
            )

    async def _config(self, identity: Identity, request: EvalCreate, cases: list[EvalCase]) -> dict[str, Any]:
        """What the result depends on, so that two results can be compared: the model, the executor agent's
        settings, the prompt version, the arms, the suite's digest and the commit."""
        agent = await executor_agent(self.session, identity, request.agent or "executor")
        return {
            "model": request.model,
            "agent": request.agent,
            "prompt_version": request.prompt_version,
            "arms": list(request.arms),
            "limit": request.limit,
            "budget_usd": str(request.budget_usd) if request.budget_usd is not None else None,
            "suite_digest": suites.digest(cases),
            "commit": code_version(),
            "executor": {
                "name": agent.name,
                "model": agent.model,
                "temperature": agent.temperature,
                "max_tokens": agent.max_tokens,
                "allowed_tools": list(agent.allowed_tools),
                "system_prompt": agent.system_prompt,
            },
        }

    async def get(self, identity: Identity, eval_id: uuid.UUID) -> Eval:
        evaluation = await repository.get_eval(self.session, eval_id)
        if evaluation is None or (str(evaluation.user_id) != identity.user_id and not identity.is_admin):
            raise NotFoundError(f"No eval {eval_id}")
        return evaluation

    async def report(self, identity: Identity, eval_id: uuid.UUID) -> EvalReport:
        evaluation = await self.get(identity, eval_id)
        results = await repository.results_of(self.session, [evaluation.id])
        return report_of(evaluation, results)

    async def page(self, identity: Identity, *, cursor: str | None, limit: int) -> Page[EvalSummary]:
        rows = await repository.list_evals(
            self.session, uuid.UUID(identity.user_id), after=after_cursor(cursor), limit=limit + 1
        )
        by_eval: dict[uuid.UUID, list[Tally]] = {}
        for tally in await repository.tallies(self.session, [r.id for r in rows[:limit]]):
            by_eval.setdefault(tally.eval_id, []).append(tally)
        return page_of(rows, limit=limit, item=lambda e: summary_of(e, by_eval.get(e.id, [])))

    async def cancel(self, identity: Identity, eval_id: uuid.UUID) -> tuple[EvalReport, list[uuid.UUID]]:
        """Stops the eval: its open cases are cancelled; the runs they had started are returned, to be cancelled."""
        evaluation = await self.get(identity, eval_id)
        await self.session.refresh(evaluation, with_for_update=True)
        if evaluation.status != "running":
            raise ConflictError(
                f"The eval already {evaluation.status}", code="eval_finished", details={"status": evaluation.status}
            )
        runs = await repository.cancel_open_results(self.session, evaluation.id)
        evaluation.status = "cancelled"
        evaluation.error = f"Cancelled by {identity.username}"
        evaluation.finished_at = datetime.now(UTC)
        await self.session.commit()
        return await self.report(identity, eval_id), runs

    async def compare(self, identity: Identity, a_id: uuid.UUID, b_id: uuid.UUID) -> EvalComparison:
        a, b = await self.report(identity, a_id), await self.report(identity, b_id)
        changes = []
        for arm in ARMS:
            if arm in a.arms and arm in b.arms:
                change = newcombe(_rate(a.arms[arm]), _rate(b.arms[arm]))
                changes.append(
                    ArmChange(
                        arm=arm, a=a.arms[arm], b=b.arms[arm], change=change.value, low=change.low, high=change.high
                    )
                )
        return EvalComparison(
            a=EvalSummary.model_validate(a.model_dump(exclude={"cases", "disagreements"})),
            b=EvalSummary.model_validate(b.model_dump(exclude={"cases", "disagreements"})),
            same_cases=a.config.get("suite_digest") == b.config.get("suite_digest"),
            arms=changes,
            changed=_changed(a, b),
        )


def _rate(summary: ArmSummary) -> Any:
    return wilson(summary.passed, summary.passed + summary.failed)


def _changed(a: EvalReport, b: EvalReport) -> list[CaseChange]:
    before = {(row.case_id, arm): result.status for row in a.cases for arm, result in _arms_of(row)}
    changed = []
    for row in b.cases:
        for arm, result in _arms_of(row):
            was = before.get((row.case_id, arm))
            if was is not None and was != result.status:
                changed.append(CaseChange(case_id=row.case_id, arm=arm, a=was, b=result.status))
    return changed


def _arms_of(row: CaseRow) -> list[tuple[Arm, ArmResult]]:
    both: list[tuple[Arm, ArmResult | None]] = [("agent", row.agent), ("baseline", row.baseline)]
    return [(arm, result) for arm, result in both if result is not None]


def summary_of(evaluation: Eval, results: list[Tally]) -> EvalSummary:
    arms = [arm for arm in ARMS if arm in evaluation.config.get("arms", ARMS)]
    return EvalSummary(
        id=evaluation.id,
        suite=evaluation.suite,
        status=evaluation.status,
        config=evaluation.config,
        case_count=evaluation.case_count,
        concurrency=evaluation.concurrency,
        error=evaluation.error,
        created_at=evaluation.created_at,
        started_at=evaluation.started_at,
        finished_at=evaluation.finished_at,
        arms={arm: arm_summary(arm, [r for r in results if r.arm == arm]) for arm in arms},
    )


def arm_summary(arm: Arm, results: list[Tally]) -> ArmSummary:
    passed = sum(1 for r in results if r.status == "passed")
    failed = sum(1 for r in results if r.status == "failed")
    rate = wilson(passed, passed + failed)
    walls = [float(r.wall_ms) for r in results if r.wall_ms is not None]
    versions: dict[str, str] = {}
    for result in results:
        versions |= result.prompt_versions
    return ArmSummary(
        arm=arm,
        total=len(results),
        finished=passed + failed,
        passed=passed,
        failed=failed,
        cancelled=sum(1 for r in results if r.status == "cancelled"),
        rate=rate.value,
        low=rate.low,
        high=rate.high,
        cost_usd=float(sum((r.cost_usd for r in results), start=0)),
        tokens=sum(r.tokens for r in results),
        wall_ms_p50=percentile(walls, 0.5),
        wall_ms_p95=percentile(walls, 0.95),
        wall_ms_total=int(sum(walls)),
        models=sorted({m for r in results for m in r.models}),
        prompt_versions=versions,
    )


def report_of(evaluation: Eval, results: list[EvalResult]) -> EvalReport:
    rows: dict[str, CaseRow] = {}
    for result in results:
        row = rows.setdefault(
            result.case_id,
            CaseRow(case_id=result.case_id, evaluator=result.case.get("evaluator", "code"), disagree=False),
        )
        setattr(row, result.arm, ArmResult.model_validate(result))
    for row in rows.values():
        row.disagree = (
            row.agent is not None
            and row.baseline is not None
            and {row.agent.status, row.baseline.status} == {"passed", "failed"}
        )
    summary = summary_of(evaluation, [Tally.of(r) for r in results])
    return EvalReport(
        **summary.model_dump(),
        cases=list(rows.values()),
        disagreements=[row.case_id for row in rows.values() if row.disagree],
    )
