"""SQL for bulk imports: staging rows with COPY, reading them back per owner, loading them into memories in one
statement, and dropping and rebuilding the vector index around a large load."""

import json
import uuid
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from sqlalchemy import Table, func, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.schema import CreateIndex

from database.models import Memory, MemoryImport, MemoryImportRow

VECTOR_INDEX = "ix_memories_embedding_hnsw"
STAGED_COLUMNS = [column.name for column in cast(Table, MemoryImportRow.__table__).columns]
# Copied from a staged row to its memory as they are (the rest: embedding_model and access_count).
LOADED_COLUMNS = (
    "user_id, agent_id, session_id, run_id, content, memory_type, scope, embedding, metadata, source, confidence, "
    "is_sensitive, expires_at"
)


@dataclass(frozen=True, kw_only=True)
class GroupKey:
    """Dedup compares a memory with those of the same owner, scope and sensitivity only."""

    user_id: uuid.UUID
    scope: str
    is_sensitive: bool


@dataclass(kw_only=True)
class StagedGroup:
    ordinals: list[int]  # in upload order
    vectors: list[np.ndarray]
    memory_ids: list[uuid.UUID]


async def create(session: AsyncSession, user_id: uuid.UUID) -> MemoryImport:
    job = MemoryImport(user_id=user_id)
    session.add(job)
    await session.flush()
    await session.refresh(job)
    return job


async def unfinished_count(session: AsyncSession, user_id: uuid.UUID) -> int:
    query = select(func.count()).where(MemoryImport.user_id == user_id, MemoryImport.status.in_(("open", "committing")))
    return int((await session.execute(query)).scalar_one())


async def get(session: AsyncSession, import_id: uuid.UUID, *, for_update: bool = False) -> MemoryImport | None:
    query = select(MemoryImport).where(MemoryImport.id == import_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def delete(session: AsyncSession, import_id: uuid.UUID) -> None:
    """The import and (by cascade) its staged rows."""
    await session.execute(text("DELETE FROM memory_imports WHERE id = :id"), {"id": import_id})


async def _driver_connection(session: AsyncSession) -> Any:
    """The session's asyncpg connection, for what SQLAlchemy has no form of (COPY) or does slowly (below)."""
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    assert raw is not None  # an open connection of the pool
    return raw


async def stage(session: AsyncSession, records: list[tuple[Any, ...]]) -> None:
    """Binary COPY of rows in STAGED_COLUMNS order (the vectors through pgvector's codec)."""
    await (await _driver_connection(session)).copy_records_to_table(
        "memory_import_rows", records=records, columns=STAGED_COLUMNS
    )


async def groups(session: AsyncSession, import_id: uuid.UUID) -> list[GroupKey]:
    rows = await session.execute(
        select(MemoryImportRow.user_id, MemoryImportRow.scope, MemoryImportRow.is_sensitive)
        .where(MemoryImportRow.import_id == import_id)
        .distinct()
        .order_by(MemoryImportRow.user_id, MemoryImportRow.scope, MemoryImportRow.is_sensitive)
    )
    return [GroupKey(user_id=user_id, scope=scope, is_sensitive=sensitive) for user_id, scope, sensitive in rows]


async def _fetch(session: AsyncSession, query: str, *args: Any) -> list[Any]:
    """Rows straight from asyncpg: vectors stay pgvector's binary Vector (SQLAlchemy's column type would turn each
    into a list of 384 Python floats, most of the cost of reading a group back)."""
    return cast(list[Any], await (await _driver_connection(session)).fetch(query, *args))


async def staged_group(session: AsyncSession, import_id: uuid.UUID, key: GroupKey) -> StagedGroup:
    rows = await _fetch(
        session,
        "SELECT ordinal, embedding, memory_id FROM memory_import_rows "
        "WHERE import_id = $1 AND user_id = $2 AND scope = $3 AND is_sensitive = $4 ORDER BY ordinal",
        import_id,
        key.user_id,
        key.scope,
        key.is_sensitive,
    )
    return StagedGroup(
        ordinals=[row[0] for row in rows],
        vectors=[row[1].to_numpy() for row in rows],
        memory_ids=[row[2] for row in rows],
    )


async def repeat_values(
    session: AsyncSession, import_id: uuid.UUID, ordinals: list[int]
) -> dict[int, tuple[float, dict[str, Any]]]:
    """(confidence, metadata) of the staged rows that repeat a memory: what they add to it."""
    rows = await _fetch(
        session,
        "SELECT ordinal, confidence, metadata FROM memory_import_rows WHERE import_id = $1 AND ordinal = ANY($2)",
        import_id,
        ordinals,
    )
    return {row[0]: (row[1], row[2]) for row in rows}  # jsonb arrives decoded (SQLAlchemy's codec on the connection)


async def owner_vectors(
    session: AsyncSession, key: GroupKey, *, limit: int
) -> tuple[list[uuid.UUID], list[np.ndarray]]:
    """The live memories an import's group is deduplicated against: at most `limit` (the caller checked the count)."""
    rows = await _fetch(
        session,
        "SELECT id, embedding FROM memories WHERE user_id = $1 AND team_id IS NULL AND scope = $2 "
        "AND is_sensitive = $3 AND embedding IS NOT NULL AND (expires_at IS NULL OR expires_at > now()) LIMIT $4",
        key.user_id,
        key.scope,
        key.is_sensitive,
        limit,
    )
    return [row[0] for row in rows], [row[1].to_numpy() for row in rows]


async def load(session: AsyncSession, import_id: uuid.UUID, ordinals: list[int], *, embedding_model: str) -> None:
    """Staged rows -> memories, server-side in one statement (no vector travels back to the service)."""
    await session.execute(
        text(
            f"INSERT INTO memories (id, {LOADED_COLUMNS}, embedding_model, access_count) "
            f"SELECT memory_id, {LOADED_COLUMNS}, :model, 0 FROM memory_import_rows "
            "WHERE import_id = :import_id AND ordinal = ANY(:ordinals) ORDER BY ordinal"
        ),
        {"import_id": import_id, "ordinals": ordinals, "model": embedding_model},
    )
    await session.execute(
        text(
            "INSERT INTO memory_history (id, memory_id, user_id, event, old_content, new_content, source_message_id) "
            "SELECT gen_random_uuid(), memory_id, user_id, 'ADD', NULL, "
            "CASE WHEN is_sensitive THEN NULL ELSE content END, source_message_id FROM memory_import_rows "
            "WHERE import_id = :import_id AND ordinal = ANY(:ordinals)"
        ),
        {"import_id": import_id, "ordinals": ordinals},
    )


async def strengthen(
    session: AsyncSession,
    *,
    memory_ids: list[uuid.UUID],
    repeats: list[int],
    confidence: list[float],
    metadata: list[dict[str, Any]],
) -> None:
    """What a near-copy does to the memory it repeats (MemoryService's merge rule), for many memories at once."""
    await session.execute(
        text(
            "UPDATE memories AS m SET access_count = m.access_count + u.repeats, "
            "confidence = greatest(m.confidence, u.confidence), metadata = m.metadata || u.metadata, "
            "updated_at = now() "
            "FROM unnest(CAST(:ids AS uuid[]), CAST(:repeats AS int[]), CAST(:confidence AS float8[]), "
            "CAST(:metadata AS jsonb[])) AS u(id, repeats, confidence, metadata) WHERE m.id = u.id"
        ),
        {
            "ids": memory_ids,
            "repeats": repeats,
            "confidence": confidence,
            "metadata": [json.dumps(m) for m in metadata],
        },
    )


async def record_merges(
    session: AsyncSession, import_id: uuid.UUID, *, ordinals: list[int], memory_ids: list[uuid.UUID]
) -> None:
    """A MERGE history entry for each staged row that repeated a memory (by then stored: an old one or a kept row)."""
    await session.execute(
        text(
            "INSERT INTO memory_history (id, memory_id, user_id, event, old_content, new_content, source_message_id) "
            "SELECT gen_random_uuid(), m.id, m.user_id, 'MERGE', shown.content, shown.content, s.source_message_id "
            "FROM unnest(CAST(:ordinals AS int[]), CAST(:ids AS uuid[])) AS d(ordinal, memory_id) "
            "JOIN memories AS m ON m.id = d.memory_id "
            "JOIN memory_import_rows AS s ON s.import_id = :import_id AND s.ordinal = d.ordinal "
            "CROSS JOIN LATERAL (SELECT CASE WHEN m.is_sensitive THEN NULL ELSE m.content END AS content) AS shown"
        ),
        {"import_id": import_id, "ordinals": ordinals, "ids": memory_ids},
    )


async def clear_staged(session: AsyncSession, import_id: uuid.UUID) -> None:
    await session.execute(text("DELETE FROM memory_import_rows WHERE import_id = :id"), {"id": import_id})


async def memories_at_least(session: AsyncSession, floor: int) -> int:
    """How many memories there are, counting no further than `floor` (enough to compare an import with)."""
    rows = select(Memory.id).limit(floor)
    return int((await session.execute(select(func.count()).select_from(rows.subquery()))).scalar_one())


async def committing(session: AsyncSession, *, committed_before_seconds: float) -> list[uuid.UUID]:
    """Imports committed at least that long ago and waiting for their load, or being loaded (the loader's lock,
    loader_lock_key, tells which)."""
    rows = await session.execute(
        text(
            "SELECT id FROM memory_imports WHERE status = 'committing' "
            "AND updated_at < now() - make_interval(secs => :seconds)"
        ),
        {"seconds": committed_before_seconds},
    )
    return [row[0] for row in rows]


async def expire_open(session: AsyncSession, *, older_than_hours: float) -> int:
    result = await session.execute(
        text(
            "DELETE FROM memory_imports WHERE status = 'open' AND updated_at < now() - make_interval(secs => :seconds)"
        ),
        {"seconds": older_than_hours * 3600},
    )
    return int(getattr(result, "rowcount", 0) or 0)


# --- the vector index --------------------------------------------------------------------------------------------
# Its definition is the model's (database.models.Memory, the same as the migration's), built CONCURRENTLY so that
# reads and writes go on meanwhile (searches are exact scans while it is missing: slower, never wrong).


def _vector_index_ddl() -> str:
    index = next(i for i in cast(Table, Memory.__table__).indexes if i.name == VECTOR_INDEX)
    ddl = str(CreateIndex(index, if_not_exists=True).compile(dialect=postgresql.dialect()))
    return ddl.replace("CREATE INDEX", "CREATE INDEX CONCURRENTLY", 1)


VECTOR_INDEX_DDL = _vector_index_ddl()


async def vector_index_state(connection: AsyncConnection) -> str:
    """'valid', 'invalid' (a concurrent build that was interrupted, or is under way) or 'missing'."""
    valid = (
        await connection.execute(
            text(
                "SELECT i.indisvalid FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid WHERE c.relname = :n"
            ),
            {"n": VECTOR_INDEX},
        )
    ).scalar_one_or_none()
    return "missing" if valid is None else "valid" if valid else "invalid"


async def drop_vector_index(connection: AsyncConnection) -> None:
    await connection.execute(text(f"DROP INDEX CONCURRENTLY IF EXISTS {VECTOR_INDEX}"))


async def build_vector_index(connection: AsyncConnection, *, memory: str, workers: int) -> list[str]:
    """Build it; PostgreSQL's notices meanwhile (pgvector's when the graph outgrows `memory`)."""
    notices: list[str] = []
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None  # a checked-out connection

    def listen(_: object, message: Any) -> None:
        notices.append(" ".join(part for part in (message.message, message.detail) if part))

    await connection.execute(text("SELECT set_config('maintenance_work_mem', :m, false)"), {"m": memory})
    await connection.execute(
        text("SELECT set_config('max_parallel_maintenance_workers', :w, false)"), {"w": str(workers)}
    )
    driver.add_log_listener(listen)
    try:
        await connection.execute(text(VECTOR_INDEX_DDL))
    finally:
        driver.remove_log_listener(listen)
        await connection.execute(text("RESET maintenance_work_mem"))
        await connection.execute(text("RESET max_parallel_maintenance_workers"))
    return notices


async def finish_indexed_imports(connection: AsyncConnection) -> None:
    await connection.execute(
        text("UPDATE memory_imports SET status = 'done', finished_at = now() WHERE status = 'indexing'")
    )


INDEX_LOCK_KEY = "memory-vector-index"  # one index change at a time across every memory-service process


def loader_lock_key(import_id: uuid.UUID) -> str:
    """One process loads an import, from its rebuild decision until the index is back."""
    return f"memory-import-loader:{import_id}"


async def session_lock(connection: AsyncConnection, key: str, *, wait: bool) -> bool:
    """A lock across every memory-service process, held by the connection's session (outside any transaction)
    until unlocked or the connection closes; False when another holds it and `wait` is off."""
    function = "pg_advisory_lock" if wait else "pg_try_advisory_lock"
    held = (await connection.execute(text(f"SELECT {function}(hashtext(:key))::text"), {"key": key})).scalar_one()
    return held != "false"


async def session_unlock(connection: AsyncConnection, key: str) -> None:
    await connection.execute(text("SELECT pg_advisory_unlock(hashtext(:key))"), {"key": key})
