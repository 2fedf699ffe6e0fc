"""The memory-service's bodies that other services send and read: store a memory (POST /memories), change one
(PUT /memories/{id}) and retrieve memories (POST /memories/retrieve). The memory-service's routes take and return
exactly these models."""

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from shared.schemas import FiniteFloat, JsonObject, Text

MemoryType = Literal[
    "working", "short_term", "long_term", "episodic", "semantic", "fact", "pattern", "preference", "skill"
]
# "eval": memories of an eval's runs, seen only by searches that ask for that scope, deleted when the eval ends.
Scope = Literal["global", "user", "task", "session", "eval"]
EVAL_SCOPE = "eval"
MAX_CONTENT_CHARS = 20_000


def _in_the_future(value: datetime | None) -> datetime | None:
    if value is not None and (value.tzinfo is None or value <= datetime.now(UTC)):
        raise ValueError("expires_at must be a time in the future, with its time zone")
    return value


Expiry = Annotated[datetime | None, AfterValidator(_in_the_future)]
Vector = list[FiniteFloat]


class MemoryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: Text = Field(min_length=1, max_length=MAX_CONTENT_CHARS)
    memory_type: MemoryType = "fact"
    scope: Scope = "user"
    metadata: JsonObject = Field(default_factory=dict)
    source: Text | None = Field(default=None, max_length=255)
    confidence: float = Field(default=1.0, ge=0, le=1)
    is_sensitive: bool = False
    user_id: uuid.UUID | None = Field(default=None, description="Only agents and admins may write for another user")
    agent_id: uuid.UUID | None = None
    session_id: Text | None = Field(default=None, max_length=128)
    source_message_id: uuid.UUID | None = Field(
        default=None, description="The conversation message this memory came from (kept in its history)"
    )
    run_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = Field(
        default=None,
        description="A team you belong to (owner, member): its members find it; default: the team of the key or the "
        "run, else yours alone",
    )
    expires_at: Expiry = None
    embedding: Vector | None = Field(default=None, description="Precomputed embedding of embedding_model (bulk loads)")

    @field_validator("content")
    @classmethod
    def not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("content must not be blank")
        return value


class MemoryResponse(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    content: str
    memory_type: str
    scope: str
    metadata: dict[str, Any]
    source: str | None
    confidence: float
    is_sensitive: bool
    agent_id: uuid.UUID | None
    session_id: str | None
    run_id: uuid.UUID | None
    team_id: uuid.UUID | None = None
    access_count: int
    accessed_at: datetime | None
    expires_at: datetime | None
    embedding_model: str | None
    created_at: datetime
    updated_at: datetime
    deduplicated: bool = False


class RetrievedMemory(MemoryResponse):
    relevance_score: float = Field(description="Cosine similarity to the query")
    fused_score: float | None = Field(default=None, description="Reciprocal rank fusion score (hybrid)")


class RetrieveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: Text | None = Field(default=None, min_length=1, max_length=MAX_CONTENT_CHARS)
    query_embedding: Vector | None = Field(default=None, description="Skip embedding: a vector of embedding_model")
    k: int = Field(default=10, ge=1, le=100)
    user_id: uuid.UUID | None = None
    memory_types: list[MemoryType] | None = None
    scopes: list[Scope] | None = None
    metadata: JsonObject | None = Field(default=None, description="Rows whose metadata contains this object")
    min_confidence: float = Field(default=0.0, ge=0, le=1)
    hybrid: bool = False
    include_sensitive: bool = False
    session_id: Text | None = Field(default=None, max_length=128)
    agent_id: uuid.UUID | None = None

    @field_validator("query")
    @classmethod
    def not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("query must not be blank")
        return value


class MemoryUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source_message_id: uuid.UUID | None = Field(
        default=None, description="The conversation message this change came from (kept in the memory's history)"
    )

    content: Text | None = Field(default=None, min_length=1, max_length=MAX_CONTENT_CHARS)
    memory_type: MemoryType | None = None
    metadata: JsonObject | None = None
    confidence: float | None = Field(default=None, ge=0, le=1)
    expires_at: Expiry = None
