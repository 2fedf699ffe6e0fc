"""tool-runner routes. Through the gateway: /api/v1/tools/execute, /api/v1/tools/tools."""

from fastapi import APIRouter

from services.tool_runner.deps import Tools
from services.tool_runner.schemas import (
    TOOL_DESCRIPTIONS,
    TOOL_PARAMETERS,
    ExecuteRequest,
    ExecuteResponse,
    ToolDescription,
)
from shared.identity import CurrentIdentity

router = APIRouter(tags=["tools"])


@router.post(
    "/tools/execute", response_model=ExecuteResponse, summary="Run a tool as the verified caller; every run is recorded"
)
async def execute(body: ExecuteRequest, identity: CurrentIdentity, tools: Tools) -> ExecuteResponse:
    return await tools.execute(identity, body)


@router.get("/tools", response_model=list[ToolDescription], summary="The tools and their parameter schemas")
async def list_tools(_: CurrentIdentity) -> list[ToolDescription]:
    return [
        ToolDescription(name=name, description=TOOL_DESCRIPTIONS[name], parameters=model.model_json_schema())
        for name, model in TOOL_PARAMETERS.items()
    ]
