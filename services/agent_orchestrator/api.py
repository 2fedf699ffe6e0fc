"""agent-orchestrator routes. Through the gateway: /api/v1/agents/…, /api/v1/runs/… and /api/v1/approvals/…"""

import functools
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from services.agent_orchestrator.deps import Agents, Approvals, Lineage, Runs, State
from services.agent_orchestrator.events import stream_run_events
from services.agent_orchestrator.schemas import (
    AgentCreate,
    AgentResponse,
    ApprovalDecision,
    ApprovalResponse,
    ApprovalStatus,
    RunCreate,
    RunDerive,
    RunInput,
    RunLineage,
    RunResponse,
)
from shared.app import core_state
from shared.contracts.files import FileResponse
from shared.errors import BadRequestError
from shared.identity import CurrentIdentity, PersonIdentity
from shared.pagination import Page
from shared.redis import run_model_progress_key

router = APIRouter()


@router.get(
    "/agents",
    response_model=Page[AgentResponse],
    summary="Built-in agents and the ones you registered, with a cursor",
    tags=["agents"],
)
async def list_agents(
    identity: CurrentIdentity,
    agents: Agents,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
) -> Page[AgentResponse]:
    return await agents.page(identity, cursor=cursor, limit=limit)


@router.post(
    "/agents",
    response_model=AgentResponse,
    status_code=status.HTTP_201_CREATED,
    summary="Register an agent (model settings are kept)",
    tags=["agents"],
)
async def register_agent(body: AgentCreate, identity: PersonIdentity, agents: Agents) -> AgentResponse:
    return AgentResponse.model_validate(await agents.register(identity, body))


@router.get("/agents/{name}", response_model=AgentResponse, summary="One agent definition", tags=["agents"])
async def get_agent(
    name: Annotated[str, Path(max_length=100)], identity: CurrentIdentity, agents: Agents
) -> AgentResponse:
    return AgentResponse.model_validate(await agents.get(identity, name))


@router.post(
    "/runs",
    response_model=RunResponse,
    status_code=status.HTTP_202_ACCEPTED,
    tags=["runs"],
    summary="Start a run of a goal (planned as its first task) or of a stored plan; it executes in the background",
)
async def create_run(
    body: RunCreate,
    identity: CurrentIdentity,
    runs: Runs,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=255,
            pattern=r"^[\x21-\x7e]+$",
            description="Retrying with the same key returns the run the first request started",
        ),
    ] = None,
) -> Response:
    started = await runs.start(identity, body, idempotency_key=idempotency_key)
    # Sent as serialised by the service: the answer is already a validated model (FastAPI would validate it again).
    headers = {} if started.new else {"Idempotent-Replayed": "true"}
    return Response(started.body, status_code=status.HTTP_202_ACCEPTED, media_type="application/json", headers=headers)


@router.get(
    "/runs",
    response_model=Page[RunResponse],
    summary="Your runs, newest first (without their tasks), with a cursor",
    tags=["runs"],
)
async def list_runs(
    identity: CurrentIdentity,
    runs: Runs,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[RunResponse]:
    return await runs.page(identity, cursor=cursor, limit=limit)


@router.get(
    "/runs/{run_id}",
    response_model=RunResponse,
    summary="A run: status, tasks with outputs, result and cost",
    tags=["runs"],
)
async def get_run(run_id: uuid.UUID, identity: CurrentIdentity, runs: Runs) -> RunResponse:
    return await runs.describe(identity, run_id)


@router.post(
    "/runs/{run_id}/cancel",
    response_model=RunResponse,
    summary="Cancel a run; running tasks are stopped",
    tags=["runs"],
    responses={409: {"description": "The run already finished"}},
)
async def cancel_run(run_id: uuid.UUID, identity: CurrentIdentity, runs: Runs) -> RunResponse:
    return await runs.cancel(identity, run_id)


@router.post(
    "/runs/{run_id}/retry",
    response_model=RunResponse,
    status_code=status.HTTP_202_ACCEPTED,
    summary="A new run that re-runs what failed (or from_task and downstream); succeeded tasks are copied",
    tags=["runs"],
    responses={409: {"description": "The run has not finished (run_not_finished)"}},
)
async def retry_run(run_id: uuid.UUID, body: RunDerive, identity: CurrentIdentity, lineage: Lineage) -> RunResponse:
    return await lineage.derive(identity, run_id, body, origin="retry")


@router.post(
    "/runs/{run_id}/fork",
    response_model=RunResponse,
    status_code=status.HTTP_202_ACCEPTED,
    summary="A new run from a finished or waiting one with edited inputs; what they do not touch is copied",
    tags=["runs"],
    responses={409: {"description": "The run is still running (run_not_finished)"}},
)
async def fork_run(run_id: uuid.UUID, body: RunDerive, identity: CurrentIdentity, lineage: Lineage) -> RunResponse:
    return await lineage.derive(identity, run_id, body, origin="fork")


@router.get(
    "/runs/{run_id}/lineage",
    response_model=RunLineage,
    summary="The runs this one was retried or forked from, and the ones derived from it",
    tags=["runs"],
)
async def run_lineage(run_id: uuid.UUID, identity: CurrentIdentity, lineage: Lineage) -> RunLineage:
    return await lineage.lineage(identity, run_id)


@router.get(
    "/runs/{run_id}/approvals",
    response_model=Page[ApprovalResponse],
    summary="The run's tool calls that waited (or wait) for approval, newest first",
    tags=["approvals"],
)
async def run_approvals(
    run_id: uuid.UUID,
    identity: CurrentIdentity,
    runs: Runs,
    approvals: Approvals,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[ApprovalResponse]:
    return await approvals.for_run(await runs.get(identity, run_id), cursor=cursor, limit=limit)


@router.post(
    "/runs/{run_id}/inputs",
    response_model=ApprovalResponse,
    summary="Answer the question the run asked you (an ask_user task); the run continues with the answer",
    tags=["approvals"],
    responses={409: {"description": "No question waits for an answer (no_question_pending)"}},
)
async def answer_run(
    run_id: uuid.UUID, body: RunInput, identity: PersonIdentity, runs: Runs, approvals: Approvals
) -> ApprovalResponse:
    return await approvals.answer(identity, await runs.get(identity, run_id, access="write"), body)


@router.get(
    "/approvals",
    response_model=Page[ApprovalResponse],
    summary="Your approvals across runs, newest first: by default the pending ones (your inbox)",
    tags=["approvals"],
)
async def approval_inbox(
    identity: CurrentIdentity,
    approvals: Approvals,
    status: Annotated[
        ApprovalStatus | Literal["any"], Query(description="Only approvals in this state (any: all of them)")
    ] = "pending",
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[ApprovalResponse]:
    return await approvals.inbox(identity, status=None if status == "any" else status, cursor=cursor, limit=limit)


@router.get("/approvals/{approval_id}", response_model=ApprovalResponse, summary="One approval", tags=["approvals"])
async def get_approval(approval_id: uuid.UUID, identity: CurrentIdentity, approvals: Approvals) -> ApprovalResponse:
    return ApprovalResponse.model_validate(await approvals.get(identity, approval_id))


@router.post(
    "/approvals/{approval_id}/decision",
    response_model=ApprovalResponse,
    summary="Approve (optionally with edited parameters) or reject a held tool call; the run continues",
    tags=["approvals"],
    responses={
        403: {"description": "An agent identity never decides"},
        409: {"description": "Already decided, expired or cancelled (approval_already_decided)"},
        422: {"description": "The edit changes the tool or its parameters are unusable"},
    },
)
async def decide_approval(
    approval_id: uuid.UUID, body: ApprovalDecision, identity: PersonIdentity, approvals: Approvals
) -> ApprovalResponse:
    return await approvals.decide(identity, approval_id, body)


@router.get(
    "/runs/{run_id}/artifacts",
    response_model=Page[FileResponse],
    summary="The files the run's code left in /work/outputs (download each at /files/{id}/content)",
)
async def run_artifacts(
    run_id: uuid.UUID,
    identity: CurrentIdentity,
    runs: Runs,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[FileResponse]:
    return await runs.artifacts(identity, run_id, cursor=cursor, limit=limit)


@router.get(
    "/runs/{run_id}/events",
    tags=["runs"],
    response_class=StreamingResponse,
    summary="The run's events as server-sent events, live; resume with Last-Event-ID (or ?after=)",
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": (
                "`id:` is the event id, `event:` its type, `data:` a RunEvent; ends with `event: end`. Between "
                "events, `event: progress` (no id, not replayed) says how the run's call to the embedded model "
                "stands: `state` waiting (`ahead`: generations before it) or generating (`tokens` so far), `role`, "
                "`task_id`"
            ),
        }
    },
)
async def run_events(
    request: Request,
    run_id: uuid.UUID,
    identity: CurrentIdentity,
    runs: Runs,
    state: State,
    after: Annotated[int | None, Query(ge=0, description="Send events after this id")] = None,
    last_event_id: Annotated[
        str | None, Header(max_length=18, description="The id of the last event received: resume after it")
    ] = None,
) -> StreamingResponse:
    resume_after = _event_id(last_event_id) if last_event_id is not None else None
    await runs.get(identity, run_id)
    core = core_state(request.app)
    stream = stream_run_events(
        core.sessionmaker,
        notifications=state.notifications,
        run_id=run_id,
        after_id=resume_after or after or 0,
        keepalive_seconds=state.settings.run_events_keepalive_seconds,
        read_progress=functools.partial(core.redis.get, run_model_progress_key(str(run_id))),
    )
    return StreamingResponse(
        stream, media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


def _event_id(header: str) -> int:
    """Last-Event-ID as an event id; a malformed one is a 400 in the error envelope (not FastAPI's 422)."""
    if not header.strip().isdigit():
        raise BadRequestError(
            "Last-Event-ID must be the id of an event (a non-negative integer)",
            code="invalid_last_event_id",
            details={"last_event_id": header[:18]},
        )
    return int(header)
