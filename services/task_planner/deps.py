"""The task-planner's running state and the dependencies its routes declare."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from services.task_planner.service import PlannerService
from shared.app import DbSession, service_state
from shared.clients import ServiceClient


@dataclass(kw_only=True)
class PlannerState:
    ai: ServiceClient


async def get_planner_service(request: Request, session: DbSession) -> PlannerService:
    return PlannerService(session=session, ai=service_state(request.app, PlannerState).ai)


Planner = Annotated[PlannerService, Depends(get_planner_service)]
