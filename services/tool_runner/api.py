"""tool-runner routes. Through the gateway: /api/v1/tools/execute, /api/v1/tools/tools and
/api/v1/tools/mcp-servers."""

import uuid

from fastapi import APIRouter, Response, status

from services.tool_runner.deps import Tools
from services.tool_runner.schemas import (
    TOOL_DESCRIPTIONS,
    TOOL_PARAMETERS,
    ExecuteRequest,
    ExecuteResponse,
    McpServerCreate,
    McpServerResponse,
    ToolDescription,
)
from shared.identity import CurrentIdentity, PersonIdentity

router = APIRouter(tags=["tools"])


@router.post(
    "/tools/execute", response_model=ExecuteResponse, summary="Run a tool as the verified caller; every run is recorded"
)
async def execute(body: ExecuteRequest, identity: CurrentIdentity, tools: Tools) -> ExecuteResponse:
    return await tools.execute(identity, body)


@router.get(
    "/tools",
    response_model=list[ToolDescription],
    summary="The tools and their parameter schemas: the built-in ones, then your MCP servers' (mcp__server__tool)",
)
async def list_tools(identity: CurrentIdentity, tools: Tools) -> list[ToolDescription]:
    built_in = [
        ToolDescription(name=name, description=TOOL_DESCRIPTIONS[name], parameters=model.model_json_schema())
        for name, model in TOOL_PARAMETERS.items()
    ]
    return built_in + await tools.mcp_servers.tools_of(identity)


@router.post(
    "/tools/mcp-servers",
    response_model=McpServerResponse,
    status_code=status.HTTP_201_CREATED,
    summary="Register an MCP server: it is connected to and its tools listed (422 mcp_unreachable if it cannot be)",
    tags=["mcp"],
)
async def register_mcp_server(body: McpServerCreate, identity: PersonIdentity, tools: Tools) -> McpServerResponse:
    return await tools.mcp_servers.register(identity, body)


@router.get(
    "/tools/mcp-servers",
    response_model=list[McpServerResponse],
    summary="Your MCP servers and the shared ones, with their tools",
    tags=["mcp"],
)
async def list_mcp_servers(identity: CurrentIdentity, tools: Tools) -> list[McpServerResponse]:
    return await tools.mcp_servers.listed(identity)


@router.get("/tools/mcp-servers/{server_id}", response_model=McpServerResponse, summary="One MCP server", tags=["mcp"])
async def get_mcp_server(server_id: uuid.UUID, identity: CurrentIdentity, tools: Tools) -> McpServerResponse:
    registry = tools.mcp_servers
    return registry.response(await registry.get(identity, server_id))


@router.post(
    "/tools/mcp-servers/{server_id}/refresh",
    response_model=McpServerResponse,
    summary="List the server's tools again",
    tags=["mcp"],
)
async def refresh_mcp_server(server_id: uuid.UUID, identity: PersonIdentity, tools: Tools) -> McpServerResponse:
    return await tools.mcp_servers.refresh(identity, server_id)


@router.delete(
    "/tools/mcp-servers/{server_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Forget an MCP server; its tools are gone from the list",
    tags=["mcp"],
)
async def delete_mcp_server(server_id: uuid.UUID, identity: PersonIdentity, tools: Tools) -> Response:
    await tools.mcp_servers.delete(identity, server_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
