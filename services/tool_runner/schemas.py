from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from shared.contracts.memory import MemoryType
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


class MemoryStoreParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")
    content: str = Field(min_length=1, max_length=20_000)
    memory_type: MemoryType = "fact"
    metadata: dict[str, Any] = Field(default_factory=dict)


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
