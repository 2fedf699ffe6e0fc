"""SQL for memories: pgvector HNSW search with per-query ef_search and iterative scans, full-text search,
dedup lookups, cursor pages, bookkeeping and purges."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from pgvector import Vector as PgVector
from sqlalchemy import ColumnElement, CursorResult, Row, Table, and_, delete, func, insert, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from database.models import Memory, MemoryHistory
from shared import teams
from shared.contracts.memory import EVAL_SCOPE

COSINE_DISTANCE = Memory.embedding.cosine_distance
# Rows are loaded without their vector and tsvector: parsing 384 floats per row costs more than the search.
WITHOUT_VECTORS = defer(Memory.embedding), defer(Memory.content_tsv)
# Searches read plain rows (attributes named as on Memory), not ORM objects: nothing is changed through them.
SEARCH_COLUMNS = tuple(
    getattr(Memory, attr.key) for attr in Memory.__mapper__.column_attrs if attr.key not in ("embedding", "content_tsv")
)

MemoryRow = Row[*tuple[Any, ...]]  # the SEARCH_COLUMNS of a memory


@dataclass(kw_only=True)
class MemoryFilter:
    """Which rows a caller may see and asked for. `user_id` sees its own rows, its teams' (only `team_id`'s when
    acting for one team) and global ones."""

    user_id: uuid.UUID
    team_id: uuid.UUID | None = None
    team_ids: tuple[uuid.UUID, ...] = ()  # the user's teams (shared.teams.teams_of), read before the query
    memory_types: Sequence[str] | None = None
    scopes: Sequence[str] | None = None
    metadata: dict[str, Any] | None = None
    min_confidence: float = 0.0
    include_sensitive: bool = False
    session_id: str | None = None
    agent_id: uuid.UUID | None = None
    run_id: uuid.UUID | None = None
    embedding_model: str | None = None
    include_global: bool = True

    def owned(self) -> ColumnElement[bool]:
        return teams.reachable_among(
            user_id=self.user_id,
            acting_for=self.team_id,
            owner=Memory.user_id,
            team=Memory.team_id,
            team_ids=self.team_ids,
        )

    def clauses(self) -> list[ColumnElement[bool]]:
        owner = or_(self.owned(), Memory.scope == "global") if self.include_global else self.owned()
        clauses: list[ColumnElement[bool]] = [owner, or_(Memory.expires_at.is_(None), Memory.expires_at > func.now())]
        if not self.include_sensitive:
            clauses.append(Memory.is_sensitive.is_(False))
        if self.memory_types:
            clauses.append(Memory.memory_type.in_(self.memory_types))
        if self.scopes:
            clauses.append(Memory.scope.in_(self.scopes))
        else:  # an eval's memories are its own: no search or listing sees them unless it asks for that scope
            clauses.append(Memory.scope != EVAL_SCOPE)
        if self.metadata:
            clauses.append(Memory.meta.contains(self.metadata))
        if self.min_confidence > 0:
            clauses.append(Memory.confidence >= self.min_confidence)
        for column, value in (
            (Memory.session_id, self.session_id),
            (Memory.agent_id, self.agent_id),
            (Memory.run_id, self.run_id),
        ):
            if value is not None:
                clauses.append(column == value)
        if self.embedding_model:
            clauses.append(Memory.embedding_model == self.embedding_model)
        return clauses


TUNE_VECTOR_SEARCH = (
    "SELECT set_config('hnsw.ef_search', :ef_search, {local}), set_config('hnsw.iterative_scan', 'relaxed_order', "
    "{local})"
)


def _ef_search(k: int, ef_search_floor: int) -> str:
    # Filtered HNSW scans (one user among many) keep scanning until k rows pass the filter.
    return str(max(ef_search_floor, 4 * k))


async def tune_vector_search(session: AsyncSession, k: int, ef_search_floor: int) -> None:
    """Both settings for this transaction only, in one round trip."""
    await session.execute(text(TUNE_VECTOR_SEARCH.format(local="true")), {"ef_search": _ef_search(k, ef_search_floor)})


async def prepare_search(session: AsyncSession, k: int, ef_search_floor: int) -> None:
    """Read-only searches run in autocommit (no BEGIN/ROLLBACK round trips), with the HNSW settings kept on the
    pooled connection: set once per connection and value, not per query."""
    connection = await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    ef_search = _ef_search(k, ef_search_floor)
    if connection.info.get("hnsw.ef_search") != ef_search:
        await connection.execute(text(TUNE_VECTOR_SEARCH.format(local="false")), {"ef_search": ef_search})
        connection.info["hnsw.ef_search"] = ef_search


async def vector_search(
    session: AsyncSession, where: MemoryFilter, *, embedding: list[float], k: int
) -> list[tuple[MemoryRow, float]]:
    distance = COSINE_DISTANCE(embedding)
    query = select(*SEARCH_COLUMNS, (1 - distance).label("score")).where(*where.clauses()).order_by(distance).limit(k)
    rows = (await session.execute(query)).all()
    # relaxed_order may return near-neighbours slightly out of order: put them back in order.
    scored: list[tuple[MemoryRow, float]] = [(row, float(row.score)) for row in rows]
    return sorted(scored, key=lambda pair: -pair[1])


async def text_search(
    session: AsyncSession, where: MemoryFilter, *, query_text: str, embedding: list[float], limit: int
) -> list[tuple[MemoryRow, float]]:
    tsquery = func.websearch_to_tsquery("english", query_text)
    rank = func.ts_rank_cd(Memory.content_tsv, tsquery)
    query = (
        select(*SEARCH_COLUMNS, (1 - COSINE_DISTANCE(embedding)).label("score"))
        .where(*where.clauses(), Memory.content_tsv.op("@@")(tsquery))
        .order_by(rank.desc())
        .limit(limit)
    )
    scored: list[tuple[MemoryRow, float]] = [(row, float(row.score)) for row in (await session.execute(query)).all()]
    return scored


# Dedup looks for a live memory of the same owner/scope/sensitivity within the threshold of each new vector.
# First pass, for a whole batch in one query: an unfiltered HNSW probe for the nearest DEDUP_PROBE rows of the
# table, keeping the owner's. Unfiltered is what HNSW does fastest (a filtered walk for one owner among many visits
# many times more rows); it can only miss the owner's duplicate when DEDUP_PROBE or more memories, anyone's, are
# that close: those vectors ("crowded") get the owner-filtered lookup below.
DEDUP_PROBE = 10
# The probe is approximate: at 100k memories (benchmarks/memory.py) ef_search 64 matches 99.4% of near-copies to their
# original, 32 only 98.5%, for 5% more insert throughput.
DEDUP_EF_SEARCH = 64
_NEAREST_IN_TABLE = """
SELECT item.ordinal,
       (array_agg(near.id ORDER BY near.distance) FILTER (WHERE near.owned))[1] AS id,
       count(*) AS close
FROM unnest(CAST(:vectors AS vector[])) WITH ORDINALITY AS item(vector, ordinal)
CROSS JOIN LATERAL (
    SELECT m.id, m.embedding <=> item.vector AS distance,
           ({owner} AND m.scope = :scope AND m.is_sensitive = :is_sensitive AND (m.expires_at IS NULL OR
               m.expires_at > now())) AS owned
    FROM memories AS m
    ORDER BY m.embedding <=> item.vector
    LIMIT :probe
) AS near
WHERE near.distance <= :max_distance
GROUP BY item.ordinal
"""
# Whose rows a new memory is deduplicated against: the owner's own (no team), or its team's (any member's).
OWNER = {False: "m.user_id = :user_id AND m.team_id IS NULL", True: "m.team_id = :team_id"}
NEAREST_IN_TABLE = {team: text(_NEAREST_IN_TABLE.format(owner=f"({owner})")) for team, owner in OWNER.items()}

# The owner-filtered lookup, in two forms:
# - owners with many memories: an HNSW probe per vector. The owner test is written "(…) IS TRUE", which a B-tree
#   cannot serve, so the planner walks HNSW (iterative scan skipping other owners' rows) instead of sorting every
#   row of the owner; the distance test stays outside the LATERAL, since "ORDER BY distance LIMIT 1" is what
#   HNSW answers.
# - owners with few memories: exact. "+ 0" makes the ordering unservable by HNSW, so the owner's B-tree rows are
#   compared directly; a filtered HNSW walk for a small owner in a big table would visit up to
#   hnsw.max_scan_tuples rows per vector.
_NEAREST_DUPLICATES = """
SELECT item.ordinal, nearest.id
FROM unnest(CAST(:vectors AS vector[])) WITH ORDINALITY AS item(vector, ordinal)
CROSS JOIN LATERAL (
    SELECT m.id, m.embedding <=> item.vector AS distance FROM memories AS m
    WHERE {owner} AND m.is_sensitive = :is_sensitive AND (m.expires_at IS NULL OR m.expires_at > now())
    ORDER BY {order}
    LIMIT 1
) AS nearest
WHERE nearest.distance <= :max_distance
"""
NEAREST_DUPLICATES_BY_HNSW = {
    team: text(
        _NEAREST_DUPLICATES.format(owner=f"({owner} AND m.scope = :scope) IS TRUE", order="m.embedding <=> item.vector")
    )
    for team, owner in OWNER.items()
}
NEAREST_DUPLICATES_EXACT = {
    team: text(
        _NEAREST_DUPLICATES.format(owner=f"{owner} AND m.scope = :scope", order="(m.embedding <=> item.vector) + 0")
    )
    for team, owner in OWNER.items()
}


async def nearest_in_table(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    team_id: uuid.UUID | None,
    scope: str,
    is_sensitive: bool,
    embeddings: list[list[float]],
    threshold: float,
) -> tuple[dict[int, uuid.UUID], list[int]]:
    """First pass: (position -> the owner's near-duplicate, positions too crowded to tell)."""
    await tune_vector_search(session, 1, DEDUP_EF_SEARCH)
    params = {
        "vectors": [PgVector(e) for e in embeddings],
        "user_id": user_id,
        "scope": scope,
        "is_sensitive": is_sensitive,
        "max_distance": 1 - threshold,
        "probe": DEDUP_PROBE,
    } | ({"team_id": team_id} if team_id else {})
    found, crowded = {}, []
    query = NEAREST_IN_TABLE[team_id is not None]
    for ordinal, memory_id, close in (await session.execute(query, params)).all():
        if memory_id is not None:
            found[int(ordinal) - 1] = memory_id
        elif close >= DEDUP_PROBE:
            crowded.append(int(ordinal) - 1)
    return found, crowded


async def nearest_duplicates(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    team_id: uuid.UUID | None,
    scope: str,
    is_sensitive: bool,
    embeddings: list[list[float]],
    threshold: float,
    exact: bool,
) -> dict[int, uuid.UUID]:
    """Owner-filtered: for each embedding (by position), the id of an existing near-identical memory, in one round
    trip."""
    if not exact:
        await tune_vector_search(session, 1, DEDUP_EF_SEARCH)
    rows = await session.execute(
        (NEAREST_DUPLICATES_EXACT if exact else NEAREST_DUPLICATES_BY_HNSW)[team_id is not None],
        {
            "vectors": [PgVector(e) for e in embeddings],
            "user_id": user_id,
            "scope": scope,
            "is_sensitive": is_sensitive,
            "max_distance": 1 - threshold,
        }
        | ({"team_id": team_id} if team_id else {}),
    )
    return {int(ordinal) - 1: memory_id for ordinal, memory_id in rows.all()}


def _dedup_owner(user_id: uuid.UUID, team_id: uuid.UUID | None) -> ColumnElement[bool]:
    """OWNER above, as a clause."""
    return Memory.team_id == team_id if team_id else and_(Memory.user_id == user_id, Memory.team_id.is_(None))


async def owner_has_more_than(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    team_id: uuid.UUID | None,
    scope: str,
    is_sensitive: bool,
    limit: int,
) -> bool:
    """Bounded count: stops after limit + 1 rows, so a big owner costs no more than a small one."""
    rows = (
        select(Memory.id)
        .where(_dedup_owner(user_id, team_id), Memory.scope == scope, Memory.is_sensitive == is_sensitive)
        .limit(limit + 1)
    )
    count = (await session.execute(select(func.count()).select_from(rows.subquery()))).scalar_one()
    return int(count) > limit


async def get_for_update(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, Memory]:
    rows = await session.execute(select(Memory).where(Memory.id.in_(ids)).with_for_update())
    return {m.id: m for m in rows.scalars()}


async def insert_many(session: AsyncSession, rows: list[dict[str, Any]]) -> list[Memory]:
    """Bulk insert (one statement); returns detached Memory objects built from the rows and the server defaults."""
    if not rows:
        return []
    table = cast(Table, Memory.__table__)
    values = [{("metadata" if key == "meta" else key): value for key, value in row.items()} for row in rows]
    returned = (
        await session.execute(insert(table).returning(table.c.id, table.c.created_at, table.c.updated_at), values)
    ).all()
    stamps = {memory_id: (created_at, updated_at) for memory_id, created_at, updated_at in returned}
    return [
        Memory(**row, accessed_at=None, created_at=stamps[row["id"]][0], updated_at=stamps[row["id"]][1])
        for row in rows
    ]


async def lock_owner_scope(session: AsyncSession, user_id: uuid.UUID, team_id: uuid.UUID | None, scope: str) -> None:
    """Serialise stores for one user (or team) and scope so two identical memories cannot both be inserted."""
    owner = f"team:{team_id}" if team_id else str(user_id)
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"memory:{owner}:{scope}"))))


async def page(
    session: AsyncSession, where: MemoryFilter, *, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[Memory]:
    query = select(Memory).options(*WITHOUT_VECTORS).where(*where.clauses())
    if after is not None:
        created_at, memory_id = after
        query = query.where(
            or_(Memory.created_at < created_at, and_(Memory.created_at == created_at, Memory.id < memory_id))
        )
    query = query.order_by(Memory.created_at.desc(), Memory.id.desc()).limit(limit)
    return list((await session.execute(query)).scalars())


async def delete_matching(
    session: AsyncSession, owner: uuid.UUID, where: MemoryFilter
) -> list[tuple[uuid.UUID, str, bool]]:
    """Deletes only the owner's rows (never global ones through a user's filter); returns (id, content, is_sensitive)
    of each, for the history."""
    statement = (
        delete(Memory)
        .where(Memory.user_id == owner, *where.clauses())
        .returning(Memory.id, Memory.content, Memory.is_sensitive)
    )
    return [(row[0], row[1], row[2]) for row in (await session.execute(statement)).all()]


async def count(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(Memory))).scalar_one())


async def purge_expired(session: AsyncSession) -> int:
    result = cast(
        CursorResult[Any],
        await session.execute(delete(Memory).where(Memory.expires_at.is_not(None), Memory.expires_at <= func.now())),
    )
    return result.rowcount or 0


async def record_access(session: AsyncSession, counts: dict[uuid.UUID, int]) -> None:
    ids, hits = list(counts), list(counts.values())
    await session.execute(
        text(
            "UPDATE memories AS m SET access_count = m.access_count + u.hits, accessed_at = now() "
            "FROM unnest(CAST(:ids AS uuid[]), CAST(:hits AS int[])) AS u(id, hits) WHERE m.id = u.id"
        ),
        {"ids": ids, "hits": hits},
    )


async def stale_embeddings(session: AsyncSession, model: str, limit: int) -> tuple[list[Memory], int]:
    stale = or_(Memory.embedding_model.is_(None), Memory.embedding_model != model)
    rows = list(
        (await session.execute(select(Memory).where(stale).limit(limit).with_for_update(skip_locked=True))).scalars()
    )
    remaining = int((await session.execute(select(func.count()).select_from(Memory).where(stale))).scalar_one())
    return rows, remaining


def visible(memory: Memory, *, user_id: uuid.UUID, is_admin: bool) -> bool:
    """Without its team (the caller checks team rows' membership)."""
    return is_admin or (memory.user_id == user_id and memory.team_id is None) or memory.scope == "global"


async def record_history(session: AsyncSession, entries: list[dict[str, Any]]) -> None:
    """Appends changes to memory_history (one statement for the lot)."""
    if entries:
        await session.execute(insert(MemoryHistory), entries)


async def history(session: AsyncSession, memory_id: uuid.UUID, *, user_id: uuid.UUID | None) -> list[MemoryHistory]:
    """A memory's changes, oldest first: the owner's (user_id), or anyone's for an admin (None)."""
    query = select(MemoryHistory).where(MemoryHistory.memory_id == memory_id)
    if user_id is not None:
        query = query.where(MemoryHistory.user_id == user_id)
    return list((await session.scalars(query.order_by(MemoryHistory.created_at, MemoryHistory.id))).all())
