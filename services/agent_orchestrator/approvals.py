"""A person in control of the tools: which calls wait for approval, the approvals themselves, and deciding them.

A gated call never holds a lease or a worker slot while it waits: the worker parks the task (`awaiting_approval`)
in the transaction that records the approval, and a decision (or its expiry) makes the task ready again. The
attempt that resumes finds the decision and runs the approved call once, with the approver's edits, or fails
with the rejection (a non-retryable error the task's fallback handles)."""

import fnmatch
import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from database.models import Approval, Run, Task
from services.agent_orchestrator import repository, run_log
from services.agent_orchestrator.repository import NewEvent
from services.agent_orchestrator.schemas import ApprovalDecision, ApprovalResponse, RunInput
from shared import audit, teams
from shared.contracts.tools import MCP_PREFIX
from shared.errors import ConflictError, NotFoundError, UnprocessableError
from shared.identity import Identity
from shared.pagination import Page, after_cursor, page_of

DECIDED = {"approve": "approved", "reject": "rejected"}
ANSWERABLE = 200  # most questions of one run looked at when an answer names none
ASK_USER = "ask_user"  # a task that asks the run's owner a question: always waits, answered with POST /runs/{id}/inputs


class ApprovalRequired(Exception):
    """Raised by the executor at a gated tool call: the worker parks the task until a person decides."""

    def __init__(self, *, tool: str, parameters: dict[str, Any], context: dict[str, Any]) -> None:
        super().__init__(f"{tool} waits for approval")
        self.tool, self.parameters, self.context = tool, parameters, context


def is_gated(patterns: Iterable[str], tool: str) -> bool:
    return any(fnmatch.fnmatchcase(tool, pattern) for pattern in patterns)


def calls_it_may_hold(task: Task) -> set[str]:
    """The calls a task can make that a policy may gate (as TaskExecutor.execute makes them: an executor's own
    tool, or code it is given or writes); a task that could hold none never waited, and its claim does not look
    for a decision (with MCP tools gated by default, every claim did)."""
    if task.agent_role in ("planner", "critic", "summarizer") or task.tool == "noop":
        return set()
    tool = task.tool or ""
    if tool in ("memory_store", "memory_search", "http_request") or tool.startswith(MCP_PREFIX):
        return {tool}
    return {"execute_python"}  # the code it is given, or writes: any other task may end in running code


def parameters_hash(parameters: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parameters, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def approved_parameters(approval: Approval) -> dict[str, Any]:
    return approval.edited_parameters if approval.edited_parameters is not None else approval.parameters


def decision_event(approval: Approval, run_id: uuid.UUID, *, task_key: str | None, by: str) -> NewEvent:
    if approval.tool == ASK_USER and approval.status == "approved":
        answer = str(approved_parameters(approval).get("answer"))
        return NewEvent(
            run_id,
            "input_received",
            f"{by} answered: {answer}"[:2000],
            task_id=approval.task_id,
            data={"approval_id": str(approval.id), "task": task_key, "answer": answer[:2000]},
        )
    return NewEvent(
        run_id,
        "approval_decided",
        f"{approval.tool} {approval.status}" + (f" by {by}" if approval.status in DECIDED.values() else ""),
        task_id=approval.task_id,
        level="info" if approval.status == "approved" else "warning",
        data={
            "approval_id": str(approval.id),
            "task": task_key,
            "tool": approval.tool,
            "decision": approval.status,
            "edited": approval.edited_parameters is not None,
            "note": approval.note,
        },
    )


async def settle(
    session: AsyncSession,
    approval: Approval,
    *,
    status: str,
    decided_by: uuid.UUID | None,
    by: str,
    edited: dict[str, Any] | None = None,
    note: str | None = None,
) -> None:
    """Records the decision on a locked, pending approval. A task's goes back to the workers (the caller holds the
    run's lock, so the event is ordered with the run's others); a conversation's waits for the turn to resume."""
    approval.status, approval.decided_by, approval.decided_at = status, decided_by, datetime.now(UTC)
    approval.edited_parameters, approval.note = edited, note
    if approval.run_id is None or approval.task_id is None:
        return
    task_key = await repository.resume_waiting_task(session, approval.task_id)
    event = decision_event(approval, approval.run_id, task_key=task_key, by=by)
    await run_log.record(session, [event], wake_workers=True)


async def settle_overdue(session: AsyncSession, *, limit: int = 100) -> int:
    """Expires the approvals past their time (an expiry counts as a rejection); returns how many."""
    expired = 0
    for overdue in await repository.overdue_approvals(session, limit=limit):
        if overdue.run_id is not None:
            await repository.lock_run(session, overdue.run_id)
        approval = await repository.lock_approval(session, overdue.id)
        if approval is not None and approval.status == "pending":  # not decided meanwhile
            await settle(session, approval, status="expired", decided_by=None, by="expiry")
            expired += 1
    return expired


@dataclass
class ApprovalService:
    session: AsyncSession

    async def for_run(self, run: Run, *, cursor: str | None, limit: int) -> Page[ApprovalResponse]:
        rows = await repository.list_approvals(
            self.session, user_id=None, run_id=run.id, after=after_cursor(cursor), limit=limit + 1
        )
        return page_of(rows, limit=limit, item=ApprovalResponse.model_validate)

    async def inbox(
        self, identity: Identity, *, status: str | None, cursor: str | None, limit: int
    ) -> Page[ApprovalResponse]:
        rows = await repository.list_approvals(
            self.session,
            user_id=uuid.UUID(identity.user_id),
            status=status,
            after=after_cursor(cursor),
            limit=limit + 1,
        )
        return page_of(rows, limit=limit, item=ApprovalResponse.model_validate)

    async def get(self, identity: Identity, approval_id: uuid.UUID, *, access: teams.Access = "read") -> Approval:
        """One of the caller's own runs, or of a team's run they may read (or decide: its owners and members)."""
        approval = await repository.get_approval(self.session, approval_id)
        if approval is None:
            raise NotFoundError(f"No approval {approval_id}")
        if identity.is_admin and identity.team_id is None:
            return approval
        run = await repository.get_run(self.session, approval.run_id) if approval.run_id else None
        owner, team = (run.user_id, run.team_id) if run is not None else (approval.user_id, None)
        missing = f"No approval {approval_id}"
        await teams.check_row(self.session, identity, owner_id=owner, team_id=team, access=access, missing=missing)
        return approval

    async def answer(self, identity: Identity, run: Run, given: RunInput) -> ApprovalResponse:
        """Answers the run's open question (the one named, or the oldest waiting): the asking task goes on with it."""
        asked = await repository.list_approvals(
            self.session, user_id=None, run_id=run.id, status="pending", limit=ANSWERABLE
        )
        questions = [a for a in asked if a.tool == ASK_USER and given.approval_id in (None, a.id)]
        if not questions:
            raise ConflictError("The run has no question waiting for an answer", code="no_question_pending")
        question = questions[-1]  # newest first: the oldest question is answered first
        answered = {**question.parameters, "answer": given.answer}
        return await self.decide(
            identity, question.id, ApprovalDecision(decision="approve", parameters=answered, note=None)
        )

    async def decide(self, identity: Identity, approval_id: uuid.UUID, decision: ApprovalDecision) -> ApprovalResponse:
        found = await self.get(identity, approval_id, access="write")
        if decision.tool is not None and decision.tool != found.tool:
            raise UnprocessableError(
                f"This approval is for {found.tool}: an edit cannot change the tool",
                code="tool_mismatch",
                details={"tool": found.tool},
            )
        if decision.parameters is not None:
            _check_parameters(found.tool, decision.parameters)
        if found.run_id is not None:  # before the approval: the order every writer takes
            await repository.lock_run(self.session, found.run_id)
        approval = await repository.lock_approval(self.session, approval_id)
        assert approval is not None  # approvals go only with their run, whose lock is held
        if approval.status == "pending" and approval.expires_at <= datetime.now(UTC):
            await settle(self.session, approval, status="expired", decided_by=None, by="expiry")
            await self.session.commit()
        if approval.status != "pending":
            raise ConflictError(
                f"This approval is already {approval.status}",
                code="approval_already_decided",
                details={"status": approval.status},
            )
        await settle(
            self.session,
            approval,
            status=DECIDED[decision.decision],
            decided_by=uuid.UUID(identity.user_id),
            by=identity.username,
            edited=decision.parameters,
            note=decision.note,
        )
        details = {
            "decision": decision.decision,
            "tool": approval.tool,
            "run_id": str(approval.run_id) if approval.run_id else None,
            "edited": decision.parameters is not None,
            "note": decision.note,
        }
        await audit.record(
            self.session, identity, "approval.decided", target_type="approval", target_id=approval.id, details=details
        )
        await self.session.commit()
        return ApprovalResponse.model_validate(approval)


def _check_parameters(tool: str, parameters: dict[str, Any]) -> None:
    """Edited parameters must still make a call of the same tool that the tool-runner would accept."""
    if tool == "execute_python" and not isinstance(parameters.get("code"), str):
        raise UnprocessableError("execute_python needs code: a string", code="invalid_parameters")
    if tool == ASK_USER and not isinstance(parameters.get("answer"), str):
        raise UnprocessableError("An answer needs answer: a string", code="invalid_parameters")
    if tool == "http_request" and not isinstance(parameters.get("url"), str):
        raise UnprocessableError("http_request needs url: a string", code="invalid_parameters")
