"""What every provider speaks: one request/response shape, one error type."""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatRequest:
    """Messages, tools and tool calls use OpenAI's wire shapes; providers translate them."""

    model: str
    messages: list[dict[str, Any]]
    max_tokens: int
    temperature: float
    response_format: dict[str, Any] | None = None
    timeout_seconds: float = 60.0
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    run_id: str | None = None  # the run it is for: a provider may stop it when the run is cancelled
    task_id: str | None = None  # with role, says what the call is doing in the run's progress
    role: str | None = None


@dataclass(slots=True, kw_only=True)
class ChatResult:
    content: str
    finish_reason: str | None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    tool_calls: list[dict[str, Any]] | None = None


@dataclass(slots=True, kw_only=True)
class StreamChunk:
    delta: str = ""
    finish_reason: str | None = None
    # OpenAI's streamed tool-call deltas: [{"index", "id"?, "type"?, "function": {"name"?, "arguments"?}}]
    tool_calls: list[dict[str, Any]] | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(slots=True)
class EmbeddingResult:
    vectors: list[list[float]]
    prompt_tokens: int | None = None


@dataclass
class ProviderError(Exception):
    """A failed provider call. `retryable`: worth another try on the same deployment (429, 5xx, timeouts).
    `client_error`: the request itself is wrong (the caller gets a 4xx; no fallback would help)."""

    provider: str
    message: str
    status: int | None = None
    retryable: bool = False
    client_error: bool = False
    retry_after_seconds: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    # The model is saturated (its queue is longer than a caller should wait): not a fault, so no retry here and no
    # cooldown; the caller is told to come back after retry_after_seconds.
    busy: bool = False

    def __str__(self) -> str:
        return f"{self.provider}: {self.message}"


class ChatProvider(Protocol):
    name: str

    async def complete(self, request: ChatRequest) -> ChatResult: ...

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]: ...


class EmbeddingProvider(Protocol):
    name: str

    async def embed(self, model: str, texts: list[str]) -> EmbeddingResult: ...


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def json_instruction(response_format: dict[str, Any]) -> str:
    """For providers without native JSON mode: say precisely what to output."""
    import json

    schema = (response_format.get("json_schema") or {}).get("schema") or response_format.get("schema")
    if schema:
        return (
            "Respond with a single JSON object that validates against this JSON schema, and nothing else:\n"
            + json.dumps(schema)
        )
    return "Respond with a single JSON object and nothing else."
