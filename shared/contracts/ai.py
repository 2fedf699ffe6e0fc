"""The ai-runtime's bodies that other services send and read: /complete, /embed and a budget
(PUT /admin/budgets/{scope}/{id}). The ai-runtime's routes take and
return exactly these models, and the typed client (shared/contracts/clients.py) sends and parses them."""

import json
import uuid
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_MESSAGE_CHARS = 200_000
MAX_EMBED_TEXTS = 256


class ToolCallFunction(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    arguments: str = Field(max_length=MAX_MESSAGE_CHARS, description="JSON-encoded arguments")

    @field_validator("arguments")
    @classmethod
    def arguments_are_json(cls, value: str) -> str:
        try:
            json.loads(value or "{}")
        except ValueError as exc:
            raise ValueError("arguments must be a JSON string") from exc
        return value


class ToolCall(BaseModel):
    id: str = Field(min_length=1, max_length=128)
    type: Literal["function"] = "function"
    function: ToolCallFunction


class ChatMessage(BaseModel):
    """OpenAI's message shape: tool calls on assistant messages, results in `tool` messages."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str | None = Field(default=None, max_length=MAX_MESSAGE_CHARS)
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = Field(default=None, max_length=128)

    @model_validator(mode="after")
    def consistent(self) -> "ChatMessage":
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs tool_call_id")
        if self.content is None and not self.tool_calls:
            raise ValueError("content is required unless the message carries tool_calls")
        return self


class FunctionDefinition(BaseModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str = Field(default="", max_length=4096)
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class ToolDefinition(BaseModel):
    type: Literal["function"] = "function"
    function: FunctionDefinition


class ResponseFormat(BaseModel):
    """`{"type": "json_object"}`, or `{"type": "json_schema", "json_schema": {"name": ..., "schema": {...}}}`."""

    model_config = ConfigDict(extra="allow")
    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = None

    @model_validator(mode="after")
    def schema_given(self) -> "ResponseFormat":
        if self.type == "json_schema" and not (self.json_schema and isinstance(self.json_schema.get("schema"), dict)):
            raise ValueError("json_schema.schema (an object) is required when type is json_schema")
        return self


class CompleteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: (
        Literal["planner", "executor", "critic", "summarizer", "assistant", "memory_extractor", "memory_updater"] | None
    ) = None
    prompt: str | None = Field(default=None, max_length=MAX_MESSAGE_CHARS)
    context: list[ChatMessage] = Field(default_factory=list, max_length=500)
    system_context: str | None = Field(
        default=None,
        max_length=MAX_MESSAGE_CHARS,
        description="Added after the system prompt (the role's, or the context's own): memories, a summary",
    )
    max_tokens: int | None = Field(default=None, ge=1, le=32_000)
    temperature: float = Field(default=0.2, ge=0, le=2)
    model: str | None = Field(default=None, max_length=128)
    response_format: ResponseFormat | Literal["json"] | None = Field(
        default=None, description='"json" uses the role prompt\'s schema; or an OpenAI-style response_format'
    )
    prompt_version: str | None = Field(default=None, pattern=r"^v\d+$")
    tools: list[ToolDefinition] | None = Field(default=None, max_length=128)
    tool_choice: Literal["auto", "none", "required"] | dict[str, Any] | None = None
    stream: bool = False
    cache: bool | None = Field(
        default=None, description="Use the response cache (default: config; temperature 0 only unless true)"
    )
    cache_namespace: Literal["user", "shared"] = Field(
        default="user",
        description='Cached answers are the caller\'s own; "shared" reads and writes answers shared with every '
        'caller who also asks for "shared"',
    )
    user_id: uuid.UUID | None = Field(default=None, description="Only agents and admins may act for another user")
    run_id: uuid.UUID | None = None
    task_id: uuid.UUID | None = None
    agent_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def has_input(self) -> "CompleteRequest":
        if not self.prompt and not self.context:
            raise ValueError("give a prompt or a non-empty context")
        return self


class CompleteResponse(BaseModel):
    content: str
    model_used: str
    provider: str
    tokens_used: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_ms: float
    finish_reason: str | None
    cached: bool
    prompt_version: str | None = None
    fallbacks_tried: list[str] = Field(default_factory=list)
    tool_calls: list[ToolCall] | None = None


class EmbedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    texts: list[str] = Field(min_length=1, max_length=MAX_EMBED_TEXTS)
    model: str | None = None
    user_id: uuid.UUID | None = None
    run_id: uuid.UUID | None = None

    @field_validator("texts")
    @classmethod
    def texts_not_empty(cls, texts: list[str]) -> list[str]:
        if any(not t.strip() for t in texts):
            raise ValueError("texts must not be empty strings")
        if any(len(t) > MAX_MESSAGE_CHARS for t in texts):
            raise ValueError(f"each text must be at most {MAX_MESSAGE_CHARS} characters")
        return texts


class EmbedResponse(BaseModel):
    embeddings: list[list[float]]
    model_used: str
    dimensions: int
    tokens_used: int
    cost_usd: float


class BudgetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    daily_usd: Decimal | None = Field(default=None, ge=0)
    monthly_usd: Decimal | None = Field(default=None, ge=0)
    total_usd: Decimal | None = Field(default=None, ge=0)
    daily_tokens: int | None = Field(default=None, ge=0)
    monthly_tokens: int | None = Field(default=None, ge=0)
    total_tokens: int | None = Field(default=None, ge=0)
    policy: Literal["reject", "downgrade"] = "reject"


class BudgetUsage(BaseModel):
    period: str
    spent_usd: float
    reserved_usd: float
    tokens: int
    reserved_tokens: int
    limit_usd: float | None
    limit_tokens: int | None


class BudgetResponse(BudgetRequest):
    scope: Literal["user", "run", "team"]
    scope_id: str
    usage: list[BudgetUsage] = Field(default_factory=list)


class ModelEntry(BaseModel):
    name: str
    provider: str
    kind: str
    available: bool
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    context_window: int
    dimensions: int | None
    roles: list[str]


class ModelsResponse(BaseModel):
    price_table_version: str
    models: list[ModelEntry]
    aliases: dict[str, str]
    role_models: dict[str, list[str]]
    role_assignments: dict[str, list[str]] = Field(
        description="The original API's name for role_models (the same map): kept for its clients"
    )
    providers: dict[str, str]
