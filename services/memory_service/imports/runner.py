"""The import loader: commits run here, off the request, one transaction each; a load whose process died is
resumed by the sweep (its transaction rolled back, so it starts again from the staged rows)."""

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from services.memory_service import repository as memory_repository
from services.memory_service.config import MemorySettings
from services.memory_service.imports import repository
from services.memory_service.imports.repository import GroupKey
from services.memory_service.service import existing_duplicates, unit_rows
from shared.background import BackgroundComponent, PeriodicTask

logger = logging.getLogger(__name__)
CHUNK_ROWS = 1024  # rows compared at once: a chunk against everything kept so far is one matrix product
PROBE_BATCH = 1000  # rows per HNSW dedup probe, as in a store batch
MAX_ATTEMPTS = 3  # loads of one import that failed unexpectedly before it is marked failed
# A sweep resumes an import only once it has been committing this long: until then the process that committed it is
# starting the load (between the commit and the loader's lock another process's sweep could take it first).
RESUME_AFTER_SECONDS = 5.0


def repeated_rows(vectors: np.ndarray, threshold: float) -> np.ndarray:
    """For each row (unit vectors, upload order), the earliest kept row it repeats, or itself when it is kept:
    the rule of one store batch (a row repeats the first earlier kept row within the threshold), exactly, for
    any number of rows."""
    count = len(vectors)
    parent = np.arange(count)
    kept_vectors = np.empty_like(vectors)
    kept_rows = np.empty(count, dtype=np.int64)
    kept = 0
    for start in range(0, count, CHUNK_ROWS):
        chunk = vectors[start : start + CHUNK_ROWS]
        earlier = (chunk @ kept_vectors[:kept].T) >= threshold if kept else np.zeros((len(chunk), 0), dtype=bool)
        within = np.tril((chunk @ chunk.T) >= threshold, k=-1)
        kept_here = np.ones(len(chunk), dtype=bool)
        # Rows close to nothing before them are kept: only the others are decided one by one, in order.
        for row in np.flatnonzero(earlier.any(axis=1) | within.any(axis=1)):
            if earlier[row].any():
                parent[start + row] = kept_rows[int(earlier[row].argmax())]
                kept_here[row] = False
                continue
            repeats = np.flatnonzero(within[row] & kept_here)
            if repeats.size:
                parent[start + row] = start + int(repeats[0])
                kept_here[row] = False
        new = np.flatnonzero(kept_here)
        kept_vectors[kept : kept + new.size] = chunk[new]
        kept_rows[kept : kept + new.size] = start + new
        kept += new.size
    return parent


def nearest_stored(vectors: np.ndarray, stored: np.ndarray, threshold: float) -> dict[int, int]:
    """Row -> the stored row it repeats (the nearest one within the threshold), exactly."""
    found: dict[int, int] = {}
    if not len(stored) or not len(vectors):
        return found
    for start in range(0, len(vectors), CHUNK_ROWS):
        similarity = vectors[start : start + CHUNK_ROWS] @ stored.T
        best = similarity.argmax(axis=1)
        for row in np.flatnonzero(similarity[np.arange(len(best)), best] >= threshold):
            found[start + int(row)] = int(best[row])
    return found


@dataclass
class Strengthening:
    """What the repeats of one memory add up to (MemoryService's merge rule, applied once for all of them)."""

    repeats: int = 0
    confidence: float = 0.0
    metadata: dict[str, Any] = field(default_factory=dict)

    def add(self, *, confidence: float, metadata: dict[str, Any]) -> None:
        self.repeats += 1
        self.confidence = max(self.confidence, confidence)
        self.metadata |= metadata


@dataclass(kw_only=True)
class GroupOutcome:
    new: list[int]  # ordinals to load
    merged: list[int]  # ordinals that repeated a memory
    targets: list[uuid.UUID]  # the memory each merged ordinal strengthens
    strengthened: dict[uuid.UUID, Strengthening]


class ImportLoader(BackgroundComponent):
    def __init__(
        self, *, engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession], settings: MemorySettings
    ) -> None:
        self.engine = engine
        self.sessionmaker = sessionmaker
        self.settings = settings
        self._loads: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._attempts: Counter[uuid.UUID] = Counter()
        self._sweeper = PeriodicTask("memory-imports", settings.purge_interval_seconds, self.sweep)

    def start(self) -> None:
        self._sweeper.start()

    async def stop(self) -> None:
        await self._sweeper.stop()
        for load in self._loads.values():
            load.cancel()
        await asyncio.gather(*self._loads.values(), return_exceptions=True)

    def submit(self, import_id: uuid.UUID) -> None:
        if import_id not in self._loads:
            self._loads[import_id] = asyncio.create_task(self.load(import_id), name=f"memory-import-{import_id}")
            self._loads[import_id].add_done_callback(lambda _: self._loads.pop(import_id, None))

    async def sweep(self) -> None:
        """Resume loads left by a process that died, rebuild an index a build left invalid, finish imports whose
        index is back, drop imports left open."""
        async with self.sessionmaker() as session:
            stuck = await repository.committing(session, committed_before_seconds=RESUME_AFTER_SECONDS)
            expired = await repository.expire_open(session, older_than_hours=self.settings.import_open_hours)
            await session.commit()
        if expired:
            logger.info("idle memory imports dropped", extra={"count": expired})
        for import_id in stuck:
            if import_id not in self._loads:
                await self.load(import_id)
        await self.ensure_index(wait=False)

    async def load(self, import_id: uuid.UUID) -> None:
        # Held from the rebuild decision until the index is back, so that a sweep in another process cannot load
        # the import meanwhile on its own terms.
        async with self._holding(repository.loader_lock_key(import_id), wait=False) as connection:
            if connection is not None:
                await self._decide_and_load(import_id)

    async def _decide_and_load(self, import_id: uuid.UUID) -> None:
        rebuild = await self._rebuilds_index(import_id)
        if rebuild:
            await self._drop_index()
        try:
            await self._load(import_id, rebuild=rebuild)
        except (IntegrityError, DataError) as exc:
            await self._fail(import_id, exc)
        except Exception as exc:
            self._attempts[import_id] += 1
            if self._attempts[import_id] >= MAX_ATTEMPTS:
                await self._fail(import_id, exc)
            else:
                logger.exception("memory import load failed; the sweep retries it", extra={"import_id": str(import_id)})
        finally:
            if rebuild:
                await self.ensure_index(wait=True)

    async def _rebuilds_index(self, import_id: uuid.UUID) -> bool:
        """Whether the import is big next to the table, and every owner in it small enough to deduplicate
        exactly (the store path's dedup probe needs the index)."""
        async with self.sessionmaker() as session:
            job = await repository.get(session, import_id)
            if job is None or job.status != "committing" or job.rows_staged < self.settings.import_rebuild_min_rows:
                return False
            enough = int(job.rows_staged / self.settings.import_rebuild_fraction) + 1
            if await repository.memories_at_least(session, enough) >= enough:
                return False
            for key in await repository.groups(session, import_id):
                if await self._owner_is_large(session, key):
                    return False
            return True

    async def _owner_is_large(self, session: AsyncSession, key: GroupKey) -> bool:
        return await memory_repository.owner_has_more_than(
            session,
            user_id=key.user_id,
            team_id=None,  # an import's memories are its user's own
            scope=key.scope,
            is_sensitive=key.is_sensitive,
            limit=self.settings.import_exact_dedup_rows,
        )

    async def _load(self, import_id: uuid.UUID, *, rebuild: bool) -> None:
        async with self.sessionmaker() as session:
            job = await repository.get(session, import_id, for_update=True)
            if job is None or job.status != "committing":
                return
            keys = await repository.groups(session, import_id)
            for key in keys:  # in one order everywhere, so two loads cannot wait on each other
                await memory_repository.lock_owner_scope(session, key.user_id, None, key.scope)
            outcomes = [await self._deduplicate(session, import_id, key) for key in keys]
            new = sorted(ordinal for outcome in outcomes for ordinal in outcome.new)  # the heap in upload order
            await repository.load(session, import_id, new, embedding_model=self.settings.embedding_model)
            strengthened = {m: s for outcome in outcomes for m, s in outcome.strengthened.items()}
            await repository.strengthen(
                session,
                memory_ids=list(strengthened),
                repeats=[s.repeats for s in strengthened.values()],
                confidence=[s.confidence for s in strengthened.values()],
                metadata=[s.metadata for s in strengthened.values()],
            )
            merged = [ordinal for outcome in outcomes for ordinal in outcome.merged]
            targets = [memory_id for outcome in outcomes for memory_id in outcome.targets]
            await repository.record_merges(session, import_id, ordinals=merged, memory_ids=targets)
            await repository.clear_staged(session, import_id)
            job.status = "indexing" if rebuild else "done"
            job.imported, job.deduplicated, job.index_rebuilt = len(new), len(merged), rebuild
            job.finished_at = None if rebuild else datetime.now(UTC)
            await session.commit()
        logger.info(
            "memories imported", extra={"import_id": str(import_id), "imported": len(new), "merged": len(merged)}
        )

    async def _deduplicate(self, session: AsyncSession, import_id: uuid.UUID, key: GroupKey) -> GroupOutcome:
        group = await repository.staged_group(session, import_id, key)
        vectors = unit_rows(group.vectors)
        parent = repeated_rows(vectors, self.settings.dedup_threshold)
        kept = np.flatnonzero(parent == np.arange(len(parent)))
        stored = await self._stored_repeats(session, key, vectors[kept], kept)
        target: dict[int, uuid.UUID] = {}  # position in the group -> the memory it strengthens
        for position in np.flatnonzero(parent != np.arange(len(parent))).tolist() + list(stored):
            origin = int(parent[position])
            target[position] = stored[origin] if origin in stored else group.memory_ids[origin]
        values = await repository.repeat_values(session, import_id, [group.ordinals[p] for p in target])
        strengthened: dict[uuid.UUID, Strengthening] = {}
        for position in sorted(target):  # in upload order, as the stores would have come
            confidence, metadata = values[group.ordinals[position]]
            strengthened.setdefault(target[position], Strengthening()).add(confidence=confidence, metadata=metadata)
        return GroupOutcome(
            new=[group.ordinals[p] for p in kept.tolist() if p not in target],
            merged=[group.ordinals[p] for p in target],
            targets=list(target.values()),
            strengthened=strengthened,
        )

    async def _stored_repeats(
        self, session: AsyncSession, key: GroupKey, vectors: np.ndarray, positions: np.ndarray
    ) -> dict[int, uuid.UUID]:
        """Position (of the kept rows, `vectors` in order) -> the stored memory it repeats: exactly for an owner of
        modest size, else by the store path's probes."""
        if not await self._owner_is_large(session, key):
            ids, stored = await repository.owner_vectors(session, key, limit=self.settings.import_exact_dedup_rows)
            matches = nearest_stored(vectors, unit_rows(stored), self.settings.dedup_threshold)
            return {int(positions[row]): ids[match] for row, match in matches.items()}
        repeats: dict[int, uuid.UUID] = {}
        for start in range(0, len(positions), PROBE_BATCH):
            found = await existing_duplicates(
                session,
                threshold=self.settings.dedup_threshold,
                owner=key.user_id,
                team=None,
                scope=key.scope,
                sensitive=key.is_sensitive,
                vectors=vectors[start : start + PROBE_BATCH].tolist(),
            )
            repeats |= {int(positions[start + row]): memory_id for row, memory_id in found.items()}
        return repeats

    async def _fail(self, import_id: uuid.UUID, exc: Exception) -> None:
        logger.warning("memory import failed", extra={"import_id": str(import_id), "error": str(exc)[:500]})
        async with self.sessionmaker() as session:
            job = await repository.get(session, import_id, for_update=True)
            if job is not None and job.status == "committing":
                job.status = "failed"
                job.error = _reason(exc)
                job.finished_at = datetime.now(UTC)
                await repository.clear_staged(session, import_id)
                await session.commit()

    # --- the vector index -----------------------------------------------------------------------------------------

    @asynccontextmanager
    async def _holding(self, key: str, *, wait: bool) -> AsyncIterator[AsyncConnection | None]:
        """An autocommit connection holding the session lock `key`, or None when another process holds it
        (wait=False). Outside any transaction: one open here would make DROP or CREATE INDEX CONCURRENTLY wait."""
        async with self.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            if not await repository.session_lock(autocommit, key, wait=wait):
                yield None
                return
            try:
                yield autocommit
            finally:
                await repository.session_unlock(autocommit, key)

    async def _drop_index(self) -> None:
        async with self._holding(repository.INDEX_LOCK_KEY, wait=True) as connection:
            assert connection is not None  # waited for the lock
            await repository.drop_vector_index(connection)

    async def ensure_index(self, *, wait: bool) -> None:
        """Build the vector index if it is missing or a build left it invalid, then finish the imports waiting
        for it."""
        async with self._holding(repository.INDEX_LOCK_KEY, wait=wait) as connection:
            if connection is None:
                return
            state = await repository.vector_index_state(connection)
            if state != "valid":
                await self._build_index(connection, invalid=state == "invalid")
            # Under the lock: no load can drop the index between the build and this.
            await repository.finish_indexed_imports(connection)

    async def _build_index(self, connection: AsyncConnection, *, invalid: bool) -> None:
        if invalid:
            await repository.drop_vector_index(connection)
        started = asyncio.get_running_loop().time()
        memory = self.settings.import_index_memory
        try:
            notices = await repository.build_vector_index(
                connection, memory=memory, workers=self.settings.import_index_workers
            )
        except Exception as exc:
            # Parallel workers need the build's memory in shared memory (Docker's /dev/shm is 64 MB unless told).
            logger.warning("parallel vector index build failed; building with one process", extra={"error": str(exc)})
            await repository.drop_vector_index(connection)
            notices = await repository.build_vector_index(connection, memory=memory, workers=0)
        for notice in notices:
            if "maintenance_work_mem" in notice:  # pgvector: the rest of the graph was built on disk
                logger.warning(
                    "the vector index outgrew IMPORT_INDEX_MEMORY and was finished on disk, several times slower; "
                    "raise IMPORT_INDEX_MEMORY (about 2.3 kB per 384-dimension memory)",
                    extra={"import_index_memory": memory, "notice": notice},
                )
        logger.info("vector index built", extra={"seconds": round(asyncio.get_running_loop().time() - started, 1)})


def _reason(exc: Exception) -> str:
    if isinstance(exc, IntegrityError):
        return "A row names a user, agent or run that does not exist; nothing was imported"
    if isinstance(exc, DataError):
        return f"A row could not be stored ({type(exc).__name__}); nothing was imported"
    return f"The load failed {MAX_ATTEMPTS} times ({type(exc).__name__}); nothing was imported"
