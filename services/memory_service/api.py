"""memory-service routes. Through the gateway: /api/v1/memories/… ; /retrieve is kept for the seed API."""

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import TypeAdapter

from services.memory_service.deps import Memories
from services.memory_service.repository import MemoryFilter
from services.memory_service.schemas import (
    DeleteResult,
    MemoryBatchCreate,
    MemoryCreate,
    MemoryHistoryEntry,
    MemoryPage,
    MemoryResponse,
    MemoryType,
    MemoryUpdate,
    ReembedResult,
    RetrievedMemory,
    RetrieveRequest,
    Scope,
)
from services.memory_service.service import metadata_filter
from shared.identity import AdminIdentity, CurrentIdentity, Identity
from shared.schemas import body_openapi, json_body

router = APIRouter(tags=["memory"])
RETRIEVED_MEMORIES = TypeAdapter(list[RetrievedMemory])


@dataclass(kw_only=True)
class ListFilters:
    memory_type: list[MemoryType] | None
    scope: list[Scope] | None
    session_id: str | None
    agent_id: uuid.UUID | None
    run_id: uuid.UUID | None
    metadata: dict[str, Any] | None
    include_sensitive: bool

    def for_caller(self, identity: Identity) -> MemoryFilter:
        """The caller's own rows and their teams'; global ones only when scope=global is asked for."""
        return MemoryFilter(
            user_id=uuid.UUID(identity.user_id),
            team_id=uuid.UUID(identity.team_id) if identity.team_id else None,
            memory_types=self.memory_type,
            scopes=self.scope,
            metadata=self.metadata,
            include_sensitive=self.include_sensitive,
            session_id=self.session_id,
            agent_id=self.agent_id,
            run_id=self.run_id,
            include_global=bool(self.scope and "global" in self.scope),
        )

    @property
    def any_given(self) -> bool:
        return any(
            v is not None
            for v in (self.memory_type, self.scope, self.session_id, self.agent_id, self.run_id, self.metadata)
        )


async def list_filters(
    *,
    memory_type: Annotated[list[MemoryType] | None, Query()] = None,
    scope: Annotated[list[Scope] | None, Query()] = None,
    session_id: Annotated[str | None, Query(max_length=128)] = None,
    agent_id: uuid.UUID | None = None,
    run_id: uuid.UUID | None = None,
    metadata: Annotated[str | None, Query(description="JSON object the metadata must contain")] = None,
    include_sensitive: bool = False,
) -> ListFilters:
    """The query filters of listing and deleting (a function: FastAPI would run a plain class in its thread pool)."""
    return ListFilters(
        memory_type=memory_type,
        scope=scope,
        session_id=session_id,
        agent_id=agent_id,
        run_id=run_id,
        metadata=metadata_filter(metadata),
        include_sensitive=include_sensitive,
    )


Filters = Annotated[ListFilters, Depends(list_filters)]


@router.post(
    "/memories",
    response_model=MemoryResponse,
    status_code=status.HTTP_201_CREATED,
    summary="Store a memory (near-duplicates update the existing one)",
)
async def store(
    body: MemoryCreate, identity: CurrentIdentity, memories: Memories, response: Response
) -> MemoryResponse:
    (stored,) = await memories.store_many(identity, [body])
    if stored.deduplicated:
        response.status_code = status.HTTP_200_OK
    return stored


@router.post(
    "/memories/batch",
    response_model=list[MemoryResponse],
    status_code=status.HTTP_201_CREATED,
    summary="Store many memories in one call",
    openapi_extra=body_openapi(MemoryBatchCreate),
)
async def store_batch(
    body: Annotated[MemoryBatchCreate, Depends(json_body(MemoryBatchCreate))],
    identity: CurrentIdentity,
    memories: Memories,
) -> list[MemoryResponse]:
    return await memories.store_many(identity, body.memories)


@router.post(
    "/memories/retrieve", response_model=list[RetrievedMemory], summary="Semantic (or hybrid) search, best first"
)
@router.post("/retrieve", response_model=list[RetrievedMemory], include_in_schema=False)
async def retrieve(body: RetrieveRequest, identity: CurrentIdentity, memories: Memories) -> Response:
    # Serialised here, once: the results are already validated models (FastAPI would validate them again).
    return Response(
        RETRIEVED_MEMORIES.dump_json(await memories.retrieve(identity, body)), media_type="application/json"
    )


@router.get("/memories", response_model=MemoryPage, summary="List your memories, newest first, with a cursor")
async def list_memories(
    identity: CurrentIdentity,
    memories: Memories,
    filters: Filters,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> MemoryPage:
    items, next_cursor = await memories.list_page(filters.for_caller(identity), cursor, limit)
    return MemoryPage(items=items, next_cursor=next_cursor)


@router.delete(
    "/memories", response_model=DeleteResult, summary="Delete your memories matching a filter (a filter is required)"
)
async def delete_matching(identity: CurrentIdentity, memories: Memories, filters: Filters) -> DeleteResult:
    where = filters.for_caller(identity)
    where.include_sensitive = True
    return DeleteResult(deleted=await memories.delete_matching(identity, where, has_filter=filters.any_given))


@router.post(
    "/memories/admin/reembed",
    response_model=ReembedResult,
    summary="Re-embed memories stored with another embedding model (admin)",
)
async def reembed(
    identity: AdminIdentity, memories: Memories, limit: Annotated[int, Query(ge=1, le=5000)] = 500
) -> ReembedResult:
    done, remaining = await memories.reembed(identity, limit)
    return ReembedResult(reembedded=done, remaining=remaining, model=memories.settings.embedding_model)


@router.get("/memories/{memory_id}", response_model=MemoryResponse, summary="One memory")
async def get_memory(memory_id: uuid.UUID, identity: CurrentIdentity, memories: Memories) -> MemoryResponse:
    return await memories.get(identity, memory_id)


@router.put(
    "/memories/{memory_id}", response_model=MemoryResponse, summary="Change a memory (new content is re-embedded)"
)
async def update_memory(
    memory_id: uuid.UUID, body: MemoryUpdate, identity: CurrentIdentity, memories: Memories
) -> MemoryResponse:
    return await memories.update(identity, memory_id, body)


@router.delete("/memories/{memory_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a memory")
async def delete_memory(
    memory_id: uuid.UUID,
    identity: CurrentIdentity,
    memories: Memories,
    source_message_id: Annotated[uuid.UUID | None, Query(description="The message this came from (history)")] = None,
) -> Response:
    await memories.delete(identity, memory_id, source_message_id=source_message_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/memories/{memory_id}/history",
    response_model=list[MemoryHistoryEntry],
    summary="What changed in a memory, when, and from which message (oldest first; kept after deletion)",
)
async def memory_history(
    memory_id: uuid.UUID, identity: CurrentIdentity, memories: Memories
) -> list[MemoryHistoryEntry]:
    return [MemoryHistoryEntry.model_validate(entry) for entry in await memories.history(identity, memory_id)]
