"""tool-runner routes. Through the gateway: /api/v1/tools/execute, /api/v1/tools/tools,
/api/v1/tools/mcp-servers and /api/v1/files."""

import uuid
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.responses import StreamingResponse

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
from shared.contracts.files import FileKind, FileResponse, FilesDescribeRequest, FilesDescribeResponse
from shared.identity import CurrentIdentity, PersonIdentity
from shared.pagination import Page

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


# --- files ------------------------------------------------------------------------------------------------------

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


@router.post(
    "/files",
    response_model=FileResponse,
    status_code=status.HTTP_201_CREATED,
    summary="Upload a file (multipart/form-data, part 'file'): streamed to storage; 413 past the size or your quota",
    tags=["files"],
    openapi_extra=UPLOAD_BODY,
)
async def upload_file(
    request: Request,
    identity: CurrentIdentity,
    tools: Tools,
    team_id: Annotated[uuid.UUID | None, Query(description="Upload it for a team you belong to")] = None,
) -> FileResponse:
    return await tools.files.upload(identity, request, team_id=team_id)


@router.get("/files", response_model=Page[FileResponse], summary="Your files, newest first", tags=["files"])
async def list_files(
    identity: CurrentIdentity,
    tools: Tools,
    run_id: uuid.UUID | None = None,
    kind: FileKind | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[FileResponse]:
    return await tools.files.page(identity, run_id=run_id, kind=kind, cursor=cursor, limit=limit)


@router.post(
    "/files/describe",
    response_model=FilesDescribeResponse,
    summary="Your files with the first lines of text ones (what a run's planner is told)",
    tags=["files"],
)
async def describe_files(body: FilesDescribeRequest, identity: CurrentIdentity, tools: Tools) -> FilesDescribeResponse:
    return FilesDescribeResponse(files=await tools.files.describe(identity, body.ids))


@router.get("/files/{file_id}", response_model=FileResponse, summary="One file's metadata", tags=["files"])
async def get_file(file_id: uuid.UUID, identity: CurrentIdentity, tools: Tools) -> FileResponse:
    return FileResponse.model_validate(await tools.files.get(identity, file_id))


@router.get(
    "/files/{file_id}/content",
    summary="Download a file (as an attachment; one byte range with Range: bytes=a-b)",
    tags=["files"],
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}, 206: {"description": "The range asked for"}},
)
async def download_file(
    file_id: uuid.UUID,
    identity: CurrentIdentity,
    tools: Tools,
    range_header: Annotated[str | None, Header(alias="range", max_length=200)] = None,
) -> StreamingResponse:
    sent = await tools.files.download(identity, file_id, range_header=range_header)
    stored = sent.file
    headers = {
        "Content-Length": str(sent.end - sent.start),
        "Content-Disposition": content_disposition(stored.name),
        "X-Content-Type-Options": "nosniff",
        # Opened directly, it runs nothing and loads nothing (an uploaded HTML or SVG file included).
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Accept-Ranges": "bytes",
        "ETag": f'"{stored.sha256}"',
        "Cache-Control": "private, no-cache",
    }
    if sent.partial:
        headers["Content-Range"] = f"bytes {sent.start}-{sent.end - 1}/{stored.size}"
    return StreamingResponse(
        sent.chunks,
        status_code=status.HTTP_206_PARTIAL_CONTENT if sent.partial else status.HTTP_200_OK,
        media_type=stored.media_type,
        headers=headers,
    )


@router.delete(
    "/files/{file_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a file and its bytes", tags=["files"]
)
async def delete_file(file_id: uuid.UUID, identity: CurrentIdentity, tools: Tools) -> Response:
    await tools.files.delete(identity, file_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def content_disposition(name: str) -> str:
    """An attachment under its name: RFC 6266's `filename*` for every client that reads it, and a plain ASCII
    `filename` for those that do not (curl -J)."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
