"""Conversations on the wire: a conversation, its messages, a reply, and one cursor page of either."""

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.agent_orchestrator.schemas import ApprovalResponse, ToolPattern
from shared.schemas import JsonObject, Text

ToolName = Literal["execute_python", "http_request", "memory_search", "start_run"]
DEFAULT_TOOLS: tuple[ToolName, ...] = ("execute_python", "http_request", "memory_search", "start_run")


class ConversationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Text | None = Field(default=None, max_length=255)
    agent: Text | None = Field(default=None, max_length=100, description="An agent whose prompt, model and tools apply")
    system_prompt: Text | None = Field(default=None, max_length=8000)
    model: Text | None = Field(default=None, max_length=128, description="Default: the ai-runtime's assistant chain")
    metadata: JsonObject = Field(default_factory=dict)


class ConversationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Text | None = Field(default=None, max_length=255)
    system_prompt: Text | None = Field(default=None, max_length=8000)
    model: Text | None = Field(default=None, max_length=128)
    metadata: JsonObject | None = None


class ConversationResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    title: str | None
    agent: str | None
    system_prompt: str | None
    model: str | None
    metadata: dict[str, Any] = Field(validation_alias="meta")
    summary: str | None = Field(description="Older history, summarised once it no longer fit the prompt")
    created_at: datetime
    updated_at: datetime


class MessageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: Text = Field(min_length=1, max_length=32_000)
    stream: bool = Field(default=False, description="Answer as server-sent events: deltas, tool calls, then done")
    tools: list[ToolName] | None = Field(
        default=None, description="Tools the assistant may use for this message (default: all four; [] for none)"
    )
    require_approval: list[ToolPattern] | Literal["all"] = Field(
        default_factory=list,
        description='Tools whose calls wait for your approval (names or patterns, or "all"): the turn ends with '
        "approval_requested, and POST /conversations/{id}/resume continues it once you decided",
    )

    @property
    def approval_patterns(self) -> list[str]:
        return ["*"] if self.require_approval == "all" else list(self.require_approval)


class ResumeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stream: bool = Field(default=False, description="Answer as server-sent events, as a message does")


class MessageResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    role: Literal["user", "assistant", "tool"]
    content: str
    tool_calls: list[dict[str, Any]] | None
    tool_call_id: str | None
    run_id: uuid.UUID | None
    model: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None
    latency_ms: float | None
    metadata: dict[str, Any] = Field(validation_alias="meta")
    created_at: datetime


class TurnUsage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    llm_calls: int = 0


class ReplyResponse(BaseModel):
    messages: list[MessageResponse] = Field(
        description="This turn's messages: yours, tool calls and results, the reply"
    )
    usage: TurnUsage
    run_id: uuid.UUID | None = Field(default=None, description="A run the assistant started for this message")
    approvals: list[ApprovalResponse] = Field(
        default_factory=list,
        description="Tool calls held for your decision: the turn ended without a reply; decide them, then resume",
    )
