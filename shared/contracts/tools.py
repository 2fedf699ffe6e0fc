"""The tool-runner's bodies that other services send and read: the tools (GET /tools) and running one
(POST /tools/execute). Its routes take and
return exactly these models."""

import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

BuiltInTool = Literal["execute_python", "http_request", "memory_search", "memory_store", "llm_complete"]
# A tool of one of the caller's MCP servers: mcp__<server>__<tool> (what an LLM's tool calling accepts as a name).
MCP_PREFIX = "mcp__"
MCP_TOOL_PATTERN = r"^mcp__[a-z0-9_-]{1,20}__[A-Za-z0-9_-]+$"
McpToolName = Annotated[str, StringConstraints(pattern=MCP_TOOL_PATTERN, max_length=64)]
ToolName = BuiltInTool | McpToolName
# What an allowlist (an agent's, an API key's) may name: a built-in tool, or MCP tools by name or pattern (mcp__srv__*).
AllowedTool = Annotated[
    str,
    StringConstraints(
        pattern=r"^(execute_python|http_request|memory_search|memory_store|llm_complete|mcp__[A-Za-z0-9_*?-]{1,64})$"
    ),
]


class ExecuteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tool_name: ToolName
    parameters: dict[str, Any] = Field(default_factory=dict)
    timeout_seconds: float | None = Field(default=None, gt=0, le=600)
    task_id: uuid.UUID | None = None
    run_id: uuid.UUID | None = Field(
        default=None, description="execute_python: the files the code leaves in /work/outputs become the run's"
    )
    files: list[uuid.UUID] = Field(
        default_factory=list, max_length=100, description="execute_python: your files, read-only at /work/inputs"
    )
    collect_outputs: bool = Field(
        default=False, description="execute_python: keep the files left in /work/outputs (always, with run_id)"
    )


class ExecuteResponse(BaseModel):
    execution_id: uuid.UUID
    tool_name: ToolName
    status: Literal["succeeded", "failed", "timeout"]
    result: dict[str, Any] | None
    error: str | None
    duration_ms: float


class ToolDescription(BaseModel):
    name: ToolName
    description: str
    parameters: dict[str, Any]
