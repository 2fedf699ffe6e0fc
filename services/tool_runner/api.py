"""tool-runner routes. Through the gateway: /api/v1/tools/execute, /api/v1/tools/tools."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from services.tool_runner.schemas import (
    TOOL_DESCRIPTIONS,
    TOOL_PARAMETERS,
    ExecuteRequest,
    ExecuteResponse,
    ToolDescription,
)
from services.tool_runner.service import ToolService
from shared.db import DbSession
from shared.identity import CurrentIdentity

router = APIRouter(tags=["tools"])


async def get_service(request: Request, session: DbSession) -> ToolService:
    state = request.app.state
    return ToolService(session=session, settings=state.settings, memory=state.memory_client, ai=state.ai_client)


Service = Annotated[ToolService, Depends(get_service)]


@router.post(
    "/execute", response_model=ExecuteResponse, summary="Run a tool as the verified caller; every run is recorded"
)
async def execute(body: ExecuteRequest, identity: CurrentIdentity, service: Service) -> ExecuteResponse:
    return await service.execute(identity, body)


@router.get("/tools", response_model=list[ToolDescription], summary="The tools and their parameter schemas")
async def list_tools(_: CurrentIdentity) -> list[ToolDescription]:
    return [
        ToolDescription(name=name, description=TOOL_DESCRIPTIONS[name], parameters=model.model_json_schema())
        for name, model in TOOL_PARAMETERS.items()
    ]
