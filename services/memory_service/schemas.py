import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.memory import (  # noqa: F401 (the memory-service's own schemas, shared as contracts)
    MAX_CONTENT_CHARS,
    Expiry,
    MemoryCreate,
    MemoryResponse,
    MemoryType,
    MemoryUpdate,
    RetrievedMemory,
    RetrieveRequest,
    Scope,
    Vector,
)


class MemoryBatchCreate(BaseModel):
    memories: list[MemoryCreate] = Field(min_length=1, max_length=10_000)


class MemoryPage(BaseModel):
    items: list[MemoryResponse]
    next_cursor: str | None


class DeleteResult(BaseModel):
    deleted: int


class ReembedResult(BaseModel):
    reembedded: int
    remaining: int
    model: str


class MemoryHistoryEntry(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    memory_id: uuid.UUID
    event: Literal["ADD", "UPDATE", "MERGE", "DELETE"] = Field(
        description="ADD: stored; UPDATE: its content changed; MERGE: a near-copy arrived and strengthened it; DELETE"
    )
    old_content: str | None = Field(description="Before the change (null for sensitive memories)")
    new_content: str | None = Field(description="After the change (null for sensitive memories)")
    source_message_id: uuid.UUID | None
    created_at: datetime
