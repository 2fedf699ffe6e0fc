import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

from shared.contracts.memory import MemoryType, Scope
from shared.contracts.tools import (  # noqa: F401 (shared as contracts)
    ExecuteRequest,
    ExecuteResponse,
    ToolDescription,
    ToolName,
)


class ExecutePythonParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=200_000)


class HttpRequestParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: HttpUrl
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = Field(default=None, max_length=1_000_000)


class MemorySearchParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=20_000)
    k: int = Field(default=5, ge=1, le=100)
    scopes: list[Scope] | None = None
    session_id: str | None = Field(default=None, max_length=128)
    metadata: dict[str, Any] | None = Field(default=None, description="Only memories whose metadata contains this")


class MemoryStoreParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")
    content: str = Field(min_length=1, max_length=20_000)
    memory_type: MemoryType = "fact"
    metadata: dict[str, Any] = Field(default_factory=dict)
    scope: Literal["user", "session", "eval"] = "user"
    session_id: str | None = Field(default=None, max_length=128)


class LlmCompleteParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str = Field(min_length=1, max_length=200_000)
    role: Literal["planner", "executor", "critic", "summarizer"] | None = None
    max_tokens: int | None = Field(default=None, ge=1, le=32_000)


TOOL_PARAMETERS: dict[str, type[BaseModel]] = {
    "execute_python": ExecutePythonParameters,
    "http_request": HttpRequestParameters,
    "memory_search": MemorySearchParameters,
    "memory_store": MemoryStoreParameters,
    "llm_complete": LlmCompleteParameters,
}
TOOL_DESCRIPTIONS = {
    "execute_python": (
        "Run Python 3 in an isolated sandbox (no network, private filesystem, CPU/memory/process limits)."
    ),
    "http_request": (
        "Call a public HTTP(S) URL; private, loopback and metadata addresses are refused, also after redirects."
    ),
    "memory_search": "Search the caller's memories by meaning.",
    "memory_store": "Store a memory for the caller.",
    "llm_complete": "Ask the LLM (ai-runtime) with the caller's budget.",
}


class McpServerCreate(BaseModel):
    """An MCP server to take tools from (streamable HTTP, or SSE for older servers; never stdio)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,19}$",
        description="Lower-case letters, digits, - and _ (not two in a row, not last); its tools are "
        "mcp__<name>__<tool>",
    )
    url: HttpUrl
    transport: Literal["streamable_http", "sse"] = "streamable_http"
    headers: dict[str, str] = Field(
        default_factory=dict,
        max_length=20,
        description="Sent with every request (credentials): kept encrypted, never shown",
    )
    shared: bool = Field(default=False, description="Every user's (admins only)")
    team_id: uuid.UUID | None = Field(default=None, description="A team's: its members' runs may use its tools")

    @field_validator("name")
    @classmethod
    def _separable(cls, name: str) -> str:
        """mcp__<name>__<tool> must split back at the first "__" after the prefix."""
        if "__" in name or name.endswith("_"):
            raise ValueError("a name has no two _ in a row and does not end with _")
        return name


class McpTool(BaseModel):
    name: str = Field(description="As the tool list and the agents name it: mcp__<server>__<tool>")
    tool: str = Field(description="The server's own name for it")
    description: str
    input_schema: dict[str, Any]


class McpServerResponse(BaseModel):
    id: uuid.UUID
    name: str
    url: str
    transport: str
    shared: bool
    team_id: uuid.UUID | None = None
    enabled: bool
    header_names: list[str] = Field(description="The headers it is sent with (their values are never shown)")
    tools: list[McpTool]
    tools_refreshed_at: datetime | None
    last_error: str | None
    created_at: datetime
