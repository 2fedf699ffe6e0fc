"""Eval routes. Through the gateway: /api/v1/evals/…"""

import contextlib
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from services.agent_orchestrator.deps import Evals, Runs, State
from services.agent_orchestrator.evals.schemas import EvalComparison, EvalCreate, EvalReport, EvalSummary
from shared.errors import AppError
from shared.identity import CurrentIdentity, PersonIdentity
from shared.pagination import Page

router = APIRouter(tags=["evals"])


@router.post(
    "/evals",
    response_model=EvalReport,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Run a suite on two arms (a full agent run, one bare completion of the same model), checked in the "
    "sandbox; it runs in the background",
    responses={422: {"description": "Unknown suite (unknown_suite) or agent (unknown_agent), malformed cases"}},
)
async def start_eval(body: EvalCreate, identity: PersonIdentity, evals: Evals) -> EvalReport:
    return await evals.create(identity, body)


@router.get("/evals", response_model=Page[EvalSummary], summary="Your evals, newest first, with their rates")
async def list_evals(
    identity: CurrentIdentity,
    evals: Evals,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Page[EvalSummary]:
    return await evals.page(identity, cursor=cursor, limit=limit)


@router.get(
    "/evals/compare",
    response_model=EvalComparison,
    summary="How b differs from a: each arm's change in rate with its 95% interval, and the cases that changed",
)
async def compare_evals(
    identity: CurrentIdentity,
    evals: Evals,
    a: Annotated[uuid.UUID, Query(description="The eval compared against")],
    b: Annotated[uuid.UUID, Query(description="The eval compared")],
) -> EvalComparison:
    return await evals.compare(identity, a, b)


@router.get(
    "/evals/{eval_id}",
    response_model=EvalReport,
    summary="An eval: per arm its rate with a 95% interval, cost, tokens and time; per case both arms' results",
)
async def get_eval(eval_id: uuid.UUID, identity: CurrentIdentity, evals: Evals) -> EvalReport:
    return await evals.report(identity, eval_id)


@router.post(
    "/evals/{eval_id}/cancel",
    response_model=EvalReport,
    summary="Stop an eval: its open cases are cancelled, with their runs, and its memories deleted",
    responses={409: {"description": "The eval already finished (eval_finished)"}},
)
async def cancel_eval(
    eval_id: uuid.UUID, identity: PersonIdentity, evals: Evals, runs: Runs, state: State
) -> EvalReport:
    report, started = await evals.cancel(identity, eval_id)
    for run_id in started:
        with contextlib.suppress(AppError):  # finished meanwhile
            await runs.cancel(identity, run_id)
    await state.evals.forget(await evals.get(identity, eval_id))
    return report
