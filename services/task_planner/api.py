"""task-planner routes. Through the gateway: /api/v1/plans/… (the seed's /plan and /replan are kept too)."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from services.task_planner.schemas import PlanRequest, PlanResponse, ReplanRequest
from services.task_planner.service import PlannerService, to_response
from shared.db import DbSession
from shared.identity import CurrentIdentity

router = APIRouter(tags=["planner"])


async def get_service(request: Request, session: DbSession) -> PlannerService:
    return PlannerService(session=session, ai=request.app.state.ai_client)


Service = Annotated[PlannerService, Depends(get_service)]


@router.post(
    "/plans",
    response_model=PlanResponse,
    status_code=status.HTTP_201_CREATED,
    summary="Plan a goal as a validated DAG of tasks",
    responses={422: {"description": "No valid plan after one corrective retry"}},
)
@router.post("/plan", response_model=PlanResponse, status_code=status.HTTP_201_CREATED, include_in_schema=False)
async def create_plan(body: PlanRequest, identity: CurrentIdentity, service: Service) -> PlanResponse:
    return await service.create(identity, body)


@router.post(
    "/plans/replan",
    response_model=PlanResponse,
    status_code=status.HTTP_201_CREATED,
    summary="New plan for the remaining work after a failure",
)
@router.post("/replan", response_model=PlanResponse, status_code=status.HTTP_201_CREATED, include_in_schema=False)
async def replan(body: ReplanRequest, identity: CurrentIdentity, service: Service) -> PlanResponse:
    return await service.replan(identity, body)


@router.get("/plans/{plan_id}", response_model=PlanResponse, summary="A stored plan")
@router.get("/plan/{plan_id}", response_model=PlanResponse, include_in_schema=False)
async def get_plan(plan_id: uuid.UUID, identity: CurrentIdentity, service: Service) -> PlanResponse:
    return to_response(await service.get_plan(identity, plan_id))
