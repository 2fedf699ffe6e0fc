"""The task-planner's running state and the dependencies its routes declare."""

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from services.task_planner.service import PlannerService
from shared.app import DbSession, service_state
from shared.clients import ServiceClient


@dataclass(kw_only=True)
class PlannerState:
    ai: ServiceClient
    tools: ServiceClient  # for the caller's MCP tools, which the plan may use
    plan_schema: dict[str, Any] | None  # the planner role's schema, extended with them


async def get_planner_service(request: Request, session: DbSession) -> PlannerService:
    state = service_state(request.app, PlannerState)
    return PlannerService(session=session, ai=state.ai, tools=state.tools, plan_schema=state.plan_schema)


Planner = Annotated[PlannerService, Depends(get_planner_service)]
