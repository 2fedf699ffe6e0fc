import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

AgentRole = Literal["planner", "executor", "critic", "summarizer"]
KNOWN_TOOLS = ("execute_python", "http_request", "memory_search", "memory_store", "llm_complete")


class AgentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,63}$")
    role: AgentRole
    description: str | None = Field(default=None, max_length=2000)
    capabilities: list[str] = Field(default_factory=list, max_length=50)
    allowed_tools: list[Literal["execute_python", "http_request", "memory_search", "memory_store", "llm_complete"]] = Field(default_factory=list)
    model: str | None = Field(default=None, max_length=128, description="Model or alias for this agent (default: the role's chain)")
    temperature: float = Field(default=0.2, ge=0, le=2)
    max_tokens: int = Field(default=1024, ge=1, le=32_000)
    system_prompt: str | None = Field(default=None, max_length=20_000)


class AgentResponse(AgentCreate):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str  # type: ignore[assignment]  # seeded names need not follow the pattern for new ones
    is_active: bool
    owner_id: uuid.UUID | None
    created_at: datetime
