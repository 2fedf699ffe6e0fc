"""task-planner routes. Through the gateway: /api/v1/plans/… (the seed's /plan and /replan are kept too)."""

import uuid

from fastapi import APIRouter, status

from services.task_planner.deps import Planner
from services.task_planner.schemas import PlanRequest, PlanResponse, ReplanRequest
from services.task_planner.service import to_response
from shared.identity import CurrentIdentity

router = APIRouter(tags=["planner"])


@router.post(
    "/plans",
    response_model=PlanResponse,
    status_code=status.HTTP_201_CREATED,
    summary="Plan a goal as a validated DAG of tasks",
    responses={422: {"description": "No valid plan after one corrective retry"}},
)
@router.post("/plan", response_model=PlanResponse, status_code=status.HTTP_201_CREATED, include_in_schema=False)
async def create_plan(body: PlanRequest, identity: CurrentIdentity, planner: Planner) -> PlanResponse:
    return await planner.create(identity, body)


@router.post(
    "/plans/replan",
    response_model=PlanResponse,
    status_code=status.HTTP_201_CREATED,
    summary="New plan for the remaining work after a failure",
)
@router.post("/replan", response_model=PlanResponse, status_code=status.HTTP_201_CREATED, include_in_schema=False)
async def replan(body: ReplanRequest, identity: CurrentIdentity, planner: Planner) -> PlanResponse:
    return await planner.replan(identity, body)


@router.get("/plans/{plan_id}", response_model=PlanResponse, summary="A stored plan")
@router.get("/plan/{plan_id}", response_model=PlanResponse, include_in_schema=False)
async def get_plan(plan_id: uuid.UUID, identity: CurrentIdentity, planner: Planner) -> PlanResponse:
    return to_response(await planner.get_plan(identity, plan_id))
