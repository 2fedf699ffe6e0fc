"""Memory rules: who may see and change what, dedup on store, hybrid retrieval, encryption of sensitive rows."""

import dataclasses
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from cryptography.fernet import Fernet
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import Memory, MemoryHistory
from services.memory_service import repository
from services.memory_service.background import AccessRecorder
from services.memory_service.config import MemorySettings
from services.memory_service.crypto import decrypt_or_placeholder
from services.memory_service.repository import MemoryFilter, MemoryRow
from services.memory_service.schemas import MemoryCreate, MemoryResponse, MemoryUpdate, RetrievedMemory, RetrieveRequest
from shared import audit, metrics, teams
from shared.clients import ServiceClient
from shared.contracts import clients as contracts
from shared.contracts.ai import EmbedRequest
from shared.errors import BadRequestError, ForbiddenError, NotFoundError, ServiceUnavailableError
from shared.identity import Identity, acting_user_id
from shared.pagination import after_cursor, encode_cursor
from shared.schemas import check_json_value

RRF_K = 60  # reciprocal rank fusion constant, as in the original paper and most hybrid engines
EXACT_DEDUP_MAX_ROWS = 2000


def acting_user(identity: Identity, requested: uuid.UUID | None) -> uuid.UUID:
    return uuid.UUID(acting_user_id(identity, requested))


@dataclass
class MemoryService:
    session: AsyncSession
    settings: MemorySettings
    ai: ServiceClient
    cipher: Fernet
    access: AccessRecorder

    # --- embedding ---------------------------------------------------------------------------

    async def embed(self, identity: Identity, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), 256):
            request = EmbedRequest(texts=texts[start : start + 256], model=self.settings.embedding_model)
            body = await contracts.embed(self.ai, request, identity=identity)
            if body.dimensions != self.settings.embedding_dimensions:
                raise ServiceUnavailableError(
                    f"{body.model_used} gives {body.dimensions}-dimensional vectors but memories store "
                    f"{self.settings.embedding_dimensions}: see docs/memory.md (changing the embedding model)",
                    code="embedding_dimension_mismatch",
                )
            vectors += body.embeddings
        return vectors

    def check_vector(self, vector: list[float]) -> None:
        if len(vector) != self.settings.embedding_dimensions:
            raise BadRequestError(
                f"embedding must have {self.settings.embedding_dimensions} dimensions "
                f"({self.settings.embedding_model})",
                code="bad_embedding",
                details={"got": len(vector)},
            )

    async def vectors_for(self, identity: Identity, items: list[MemoryCreate]) -> list[list[float]]:
        """Each new memory's vector, in order: the one it brought (checked), else embedded (all in one call);
        refused before anything is embedded when the caller may not write a memory of the batch."""
        for item in items:
            if item.scope == "global" and identity.role not in ("admin", "agent"):
                raise ForbiddenError("Only agents and admins may write global memories")
            if item.embedding is not None:
                self.check_vector(item.embedding)
        missing = [item.content for item in items if item.embedding is None]
        embedded = iter(await self.embed(identity, missing) if missing else [])
        return [item.embedding if item.embedding is not None else next(embedded) for item in items]

    def stored_content(self, content: str, *, sensitive: bool) -> str:
        """What the content column holds: the text, or its Fernet ciphertext for a sensitive memory."""
        return self.cipher.encrypt(content.encode()).decode() if sensitive else content

    # --- views ---------------------------------------------------------------------------------

    def to_response(self, memory: Memory | MemoryRow, *, deduplicated: bool = False, **scores: float | None) -> Any:
        content = decrypt_or_placeholder(self.cipher, memory.content) if memory.is_sensitive else memory.content
        model = RetrievedMemory if scores else MemoryResponse
        return model(
            id=memory.id,
            user_id=memory.user_id,
            content=content,
            memory_type=memory.memory_type,
            scope=memory.scope,
            metadata=memory.meta,
            source=memory.source,
            confidence=memory.confidence,
            is_sensitive=memory.is_sensitive,
            agent_id=memory.agent_id,
            session_id=memory.session_id,
            run_id=memory.run_id,
            team_id=memory.team_id,
            access_count=memory.access_count,
            accessed_at=memory.accessed_at,
            expires_at=memory.expires_at,
            embedding_model=memory.embedding_model,
            created_at=memory.created_at,
            updated_at=memory.updated_at,
            deduplicated=deduplicated,
            **scores,
        )

    # --- store ---------------------------------------------------------------------------------

    async def store_many(self, identity: Identity, items: list[MemoryCreate]) -> list[MemoryResponse]:
        """Store a batch: embed what has no vector, then per (owner, scope) group one dedup query and one insert."""
        if len(items) > self.settings.max_batch:
            raise BadRequestError(f"At most {self.settings.max_batch} memories per call", code="batch_too_large")
        vectors = await self.vectors_for(identity, items)
        team_of = {
            asked: await teams.team_for_new_row(self.session, identity, asked) for asked in {i.team_id for i in items}
        }
        groups: dict[tuple[uuid.UUID, uuid.UUID | None, str, bool], list[int]] = {}
        for index, item in enumerate(items):
            owner = acting_user(identity, item.user_id)
            groups.setdefault((owner, team_of[item.team_id], item.scope, item.is_sensitive), []).append(index)
        stored: dict[int, tuple[Memory, bool]] = {}
        for (owner, team, scope, sensitive), indexes in groups.items():
            stored |= await self._store_group(
                owner=owner,
                team=team,
                scope=scope,
                sensitive=sensitive,
                items=[items[i] for i in indexes],
                vectors=[vectors[i] for i in indexes],
                positions=indexes,
            )
        await repository.record_history(
            self.session,
            [
                _history_of(
                    memory,
                    event="MERGE" if deduplicated else "ADD",
                    old=memory.content if deduplicated else None,
                    new=memory.content,
                    source_message_id=items[position].source_message_id,
                )
                for position, (memory, deduplicated) in stored.items()
            ],
        )
        await self.session.commit()
        for _, deduplicated in stored.values():
            metrics.MEMORIES_STORED.labels("deduplicated" if deduplicated else "new").inc()
        return [
            self.to_response(memory, deduplicated=deduplicated)
            for memory, deduplicated in (stored[i] for i in range(len(items)))
        ]

    async def _store_group(
        self,
        *,
        owner: uuid.UUID,
        team: uuid.UUID | None,
        scope: str,
        sensitive: bool,
        items: list[MemoryCreate],
        vectors: list[list[float]],
        positions: list[int],
    ) -> dict[int, tuple[Memory, bool]]:
        await repository.lock_owner_scope(self.session, owner, team, scope)
        matrix = unit_rows(vectors)
        existing_ids = await existing_duplicates(
            self.session,
            threshold=self.settings.dedup_threshold,
            owner=owner,
            team=team,
            scope=scope,
            sensitive=sensitive,
            vectors=vectors,
        )
        existing = (
            await repository.get_for_update(self.session, list(set(existing_ids.values()))) if existing_ids else {}
        )
        new_rows: dict[int, dict[str, Any]] = {}  # item index -> row to insert
        merged_into: dict[int, int] = {}  # item index -> the earlier item of this batch it repeats
        repeats = (matrix @ matrix.T) >= self.settings.dedup_threshold  # all pairs at once, not a Python loop over them
        kept = np.zeros(len(items), dtype=bool)
        for index, item in enumerate(items):
            if index in existing_ids:
                self._merge(existing[existing_ids[index]], item)
                continue
            earlier = np.flatnonzero(repeats[index, :index] & kept[:index])
            if earlier.size:
                merged_into[index] = int(earlier[0])
                _merge_row(new_rows[merged_into[index]], item)
                continue
            kept[index] = True
            new_rows[index] = self._row(owner, item, vectors[index]) | {"team_id": team}
        inserted = dict(zip(new_rows, await repository.insert_many(self.session, list(new_rows.values())), strict=True))
        results: dict[int, tuple[Memory, bool]] = {}
        for index, position in enumerate(positions):
            if index in existing_ids:
                results[position] = (existing[existing_ids[index]], True)
            elif index in merged_into:
                results[position] = (inserted[merged_into[index]], True)
            else:
                results[position] = (inserted[index], False)
        return results

    def _merge(self, memory: Memory, item: MemoryCreate) -> None:
        """A near-identical memory arrived again: strengthen the one we have, never add a copy."""
        memory.access_count += 1
        memory.confidence = max(memory.confidence, item.confidence)
        memory.meta = {**memory.meta, **item.metadata}
        memory.updated_at = datetime.now(UTC)

    def _row(self, owner: uuid.UUID, item: MemoryCreate, embedding: list[float]) -> dict[str, Any]:
        return {
            "id": uuid.uuid4(),
            "user_id": owner,
            "agent_id": item.agent_id,
            "session_id": item.session_id,
            "run_id": item.run_id,
            "content": self.stored_content(item.content, sensitive=item.is_sensitive),
            "memory_type": item.memory_type,
            "scope": item.scope,
            "embedding": embedding,
            "embedding_model": self.settings.embedding_model,
            "meta": item.metadata,
            "source": item.source,
            "confidence": item.confidence,
            "is_sensitive": item.is_sensitive,
            "expires_at": item.expires_at,
            "access_count": 0,
        }

    # --- retrieve ------------------------------------------------------------------------------

    async def retrieve(self, identity: Identity, request: RetrieveRequest) -> list[RetrievedMemory]:
        if request.query_embedding is not None:
            self.check_vector(request.query_embedding)
            embedding = request.query_embedding
        elif request.query:
            embedding = (await self.embed(identity, [request.query]))[0]
        else:
            raise BadRequestError("Give a query or a query_embedding", code="missing_query")
        if request.hybrid and not request.query:
            raise BadRequestError("Hybrid search needs the query text", code="missing_query")
        where = MemoryFilter(
            user_id=acting_user(identity, request.user_id),
            team_id=uuid.UUID(identity.team_id) if identity.team_id else None,
            memory_types=request.memory_types,
            scopes=request.scopes,
            metadata=request.metadata,
            min_confidence=request.min_confidence,
            include_sensitive=request.include_sensitive,
            session_id=request.session_id,
            agent_id=request.agent_id,
            embedding_model=self.settings.embedding_model,
        )
        where = await self.with_teams(where)
        searching = time.perf_counter()
        await repository.prepare_search(self.session, request.k, self.settings.hnsw_ef_search)
        if not request.hybrid:
            hits = await repository.vector_search(self.session, where, embedding=embedding, k=request.k)
            results = [self._retrieved(memory, score, None) for memory, score in hits]
        else:
            pool = max(request.k * 4, 20)
            semantic = await repository.vector_search(self.session, where, embedding=embedding, k=pool)
            lexical = await repository.text_search(
                self.session, where, query_text=request.query or "", embedding=embedding, limit=pool
            )
            results = self._fuse(semantic, lexical)[: request.k]
        metrics.MEMORY_SEARCH.labels("hybrid" if request.hybrid else "vector").observe(time.perf_counter() - searching)
        self.access.record([r.id for r in results])
        return results

    def _retrieved(self, memory: MemoryRow, score: float, fused: float | None) -> RetrievedMemory:
        return self.to_response(memory, relevance_score=round(score, 6), fused_score=fused)

    def _fuse(
        self, semantic: list[tuple[MemoryRow, float]], lexical: list[tuple[MemoryRow, float]]
    ) -> list[RetrievedMemory]:
        fused: dict[uuid.UUID, float] = {}
        found: dict[uuid.UUID, tuple[MemoryRow, float]] = {}
        for ranking in (semantic, lexical):
            for rank, (memory, score) in enumerate(ranking, start=1):
                fused[memory.id] = fused.get(memory.id, 0.0) + 1.0 / (RRF_K + rank)
                found[memory.id] = (memory, score)
        order = sorted(fused, key=lambda memory_id: (-fused[memory_id], -found[memory_id][1]))
        return [self._retrieved(found[i][0], found[i][1], round(fused[i], 6)) for i in order]

    # --- read, change, delete ----------------------------------------------------------------------

    async def _get_visible(self, identity: Identity, memory_id: uuid.UUID, *, for_write: bool) -> Memory:
        memory = await self.session.get(Memory, memory_id)
        caller = uuid.UUID(identity.user_id)
        expired = memory is not None and memory.expires_at is not None and memory.expires_at <= datetime.now(UTC)
        if memory is None or expired:
            raise NotFoundError("Memory not found")
        if memory.team_id is not None and not identity.is_admin:
            access: teams.Access = "write" if for_write else "read"
            await teams.check_row(
                self.session, identity, owner_id=None, team_id=memory.team_id, access=access, missing="Memory not found"
            )
            return memory
        if not repository.visible(memory, user_id=caller, is_admin=identity.is_admin):
            raise NotFoundError("Memory not found")
        if for_write and memory.user_id != caller and not identity.is_admin:
            raise ForbiddenError("Only the owner or an admin may change this memory")
        return memory

    async def get(self, identity: Identity, memory_id: uuid.UUID) -> MemoryResponse:
        return self.to_response(await self._get_visible(identity, memory_id, for_write=False))

    async def update(self, identity: Identity, memory_id: uuid.UUID, change: MemoryUpdate) -> MemoryResponse:
        memory = await self._get_visible(identity, memory_id, for_write=True)
        old_content = memory.content
        if change.content is not None:
            memory.embedding = (await self.embed(identity, [change.content]))[0]
            memory.embedding_model = self.settings.embedding_model
            memory.content = self.stored_content(change.content, sensitive=memory.is_sensitive)
        for name, value in (
            ("memory_type", change.memory_type),
            ("meta", change.metadata),
            ("confidence", change.confidence),
        ):
            if value is not None:
                setattr(memory, name, value)
        if "expires_at" in change.model_fields_set:
            memory.expires_at = change.expires_at
        await repository.record_history(
            self.session,
            [
                _history_of(
                    memory,
                    event="UPDATE",
                    old=old_content,
                    new=memory.content,
                    source_message_id=change.source_message_id,
                )
            ],
        )
        await self.session.commit()
        await self.session.refresh(memory)
        return self.to_response(memory)

    async def delete(
        self, identity: Identity, memory_id: uuid.UUID, *, source_message_id: uuid.UUID | None = None
    ) -> None:
        memory = await self._get_visible(identity, memory_id, for_write=True)
        await repository.record_history(
            self.session,
            [
                _history_of(
                    memory,
                    event="DELETE",
                    old=memory.content,
                    new=None,
                    source_message_id=source_message_id,
                )
            ],
        )
        await self.session.delete(memory)
        await self.session.commit()

    async def history(self, identity: Identity, memory_id: uuid.UUID) -> list[MemoryHistory]:
        """What changed, when and from which message: the owner's view (an admin's: anyone's), even once deleted."""
        owner = None if identity.is_admin else uuid.UUID(identity.user_id)
        entries = await repository.history(self.session, memory_id, user_id=owner)
        if not entries:
            raise NotFoundError("Memory not found")
        return entries

    async def delete_matching(self, identity: Identity, where: MemoryFilter, *, has_filter: bool) -> int:
        if not has_filter:
            raise BadRequestError(
                "Deleting needs at least one filter (memory_type, scope, session_id, agent_id, run_id or metadata)",
                code="filter_required",
            )
        owner = uuid.UUID(identity.user_id)
        deleted = await repository.delete_matching(self.session, owner, await self.with_teams(where))
        await repository.record_history(
            self.session,
            [
                _history_entry(
                    memory_id=memory_id,
                    user_id=owner,
                    sensitive=sensitive,
                    event="DELETE",
                    old=content,
                    new=None,
                    source_message_id=None,
                )
                for memory_id, content, sensitive in deleted
            ],
        )
        if deleted:
            asked = {k: v for k, v in dataclasses.asdict(where).items() if v is not None and k != "user_id"}
            details = {"filter": asked, "deleted": len(deleted)}
            await audit.record(
                self.session, identity, "memory.deleted_by_filter", target_type="user", target_id=owner, details=details
            )
        await self.session.commit()
        return len(deleted)

    async def list_page(
        self, where: MemoryFilter, cursor: str | None, limit: int
    ) -> tuple[list[MemoryResponse], str | None]:
        rows = await repository.page(
            self.session, await self.with_teams(where), after=after_cursor(cursor), limit=limit + 1
        )
        next_cursor = encode_cursor(rows[limit - 1].created_at, rows[limit - 1].id) if len(rows) > limit else None
        return [self.to_response(m) for m in rows[:limit]], next_cursor

    async def with_teams(self, where: MemoryFilter) -> MemoryFilter:
        """The filter with the teams its user is in now (their rows are the user's to see)."""
        return dataclasses.replace(where, team_ids=tuple(await teams.teams_of(self.session, where.user_id)))

    async def reembed(self, identity: Identity, limit: int) -> tuple[int, int]:
        rows, remaining = await repository.stale_embeddings(self.session, self.settings.embedding_model, limit)
        if rows:
            texts = [decrypt_or_placeholder(self.cipher, m.content) if m.is_sensitive else m.content for m in rows]
            for memory, vector in zip(rows, await self.embed(identity, texts), strict=True):
                memory.embedding = vector
                memory.embedding_model = self.settings.embedding_model
        await self.session.commit()
        return len(rows), remaining - len(rows)


async def existing_duplicates(
    session: AsyncSession,
    *,
    threshold: float,
    owner: uuid.UUID,
    team: uuid.UUID | None,
    scope: str,
    sensitive: bool,
    vectors: list[list[float]],
) -> dict[int, uuid.UUID]:
    """Position in the batch -> id of a stored near-duplicate: one unfiltered HNSW pass for the batch, then an
    owner-filtered lookup (exact for small owners, HNSW for large ones) for vectors with too many close rows."""
    found, crowded = await repository.nearest_in_table(
        session,
        user_id=owner,
        team_id=team,
        scope=scope,
        is_sensitive=sensitive,
        embeddings=vectors,
        threshold=threshold,
    )
    if crowded:
        exact = not await repository.owner_has_more_than(
            session, user_id=owner, team_id=team, scope=scope, is_sensitive=sensitive, limit=EXACT_DEDUP_MAX_ROWS
        )
        again = await repository.nearest_duplicates(
            session,
            user_id=owner,
            team_id=team,
            scope=scope,
            is_sensitive=sensitive,
            embeddings=[vectors[i] for i in crowded],
            threshold=threshold,
            exact=exact,
        )
        found |= {crowded[position]: memory_id for position, memory_id in again.items()}
    return found


def unit_rows(vectors: Sequence[Any]) -> np.ndarray:
    """The vectors as rows of a float32 matrix, each scaled to length 1 (a product of two is then their cosine)."""
    if not len(vectors):
        return np.zeros((0, 0), dtype=np.float32)
    matrix = np.asarray(vectors, dtype=np.float32)
    matrix /= np.clip(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12, None)
    return matrix


def metadata_filter(raw: str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
        if not isinstance(value, dict):
            raise ValueError("not an object")
        check_json_value(value)
    except (ValueError, RecursionError) as exc:
        raise BadRequestError(f"metadata must be a JSON object: {exc}", code="invalid_metadata") from exc
    return value


def _merge_row(row: dict[str, Any], item: MemoryCreate) -> None:
    """The same rule as MemoryService._merge, for a row not yet inserted."""
    row["access_count"] += 1
    row["confidence"] = max(row["confidence"], item.confidence)
    row["meta"] = {**row["meta"], **item.metadata}


def _history_of(
    memory: Memory, *, event: str, old: str | None, new: str | None, source_message_id: uuid.UUID | None
) -> dict[str, Any]:
    """The history row of a change to this memory."""
    return _history_entry(
        memory_id=memory.id,
        user_id=memory.user_id,
        sensitive=memory.is_sensitive,
        event=event,
        old=old,
        new=new,
        source_message_id=source_message_id,
    )


def _history_entry(
    *,
    memory_id: uuid.UUID,
    user_id: uuid.UUID,
    sensitive: bool,
    event: str,
    old: str | None,
    new: str | None,
    source_message_id: uuid.UUID | None,
) -> dict[str, Any]:
    """One memory_history row; a sensitive memory's text stays out of the history (it is stored encrypted)."""
    return {
        "id": uuid.uuid4(),
        "memory_id": memory_id,
        "user_id": user_id,
        "event": event,
        "old_content": None if sensitive else old,
        "new_content": None if sensitive else new,
        "source_message_id": source_message_id,
    }
