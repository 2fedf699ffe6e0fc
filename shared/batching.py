"""Rows written in batches off the request path: queued in memory, inserted every `flush_seconds` or
`batch_size` rows, drained on shutdown so a clean stop loses nothing; a failed batch is kept and retried, except a
row the database refuses outright, which is logged whole and dropped so that it cannot stall the rows behind it."""

import asyncio
import logging
from collections import deque
from typing import Any, cast

import asyncpg
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase

from shared.background import BackgroundComponent, PeriodicTask

logger = logging.getLogger(__name__)

# What PostgreSQL says of a row itself (bad data, a broken constraint), as opposed to failures of the connection.
REFUSED_ROWS = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)


class BatchedInserter(BackgroundComponent):
    def __init__(
        self,
        name: str,
        model: type[DeclarativeBase],
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        flush_seconds: float,
        batch_size: int,
    ) -> None:
        self.name = name
        self.table = cast(Table, model.__table__)  # a mapped class's table (typed as any FromClause)
        self.sessionmaker = sessionmaker
        self.batch_size = batch_size
        # A plain deque: nothing waits on it, and asyncio.Queue's bookkeeping cost more than the row itself.
        self._queue: deque[dict[str, Any]] = deque()
        # One batch in flight at a time: a flush then waits for the rows the periodic writer has already taken.
        self._writing = asyncio.Lock()
        self._writer = PeriodicTask(name, flush_seconds, self._write_next_batch)

    def start(self) -> None:
        self._writer.start()

    def record(self, row: dict[str, Any]) -> None:
        self._queue.append(row)

    async def flush(self) -> None:
        """Write everything recorded so far, the batch being written included (reads use this for
        read-your-writes)."""
        async with self._writing:
            while batch := self._drain():
                await self._write_or_split(batch)

    async def stop(self) -> None:
        await self._writer.stop()
        await self.flush()

    def _drain(self) -> list[dict[str, Any]]:
        queue = self._queue
        return [queue.popleft() for _ in range(min(len(queue), self.batch_size))]

    async def _write_or_split(self, batch: list[dict[str, Any]]) -> None:
        """The batch, or, when the database refuses some row in it, each row on its own. Any other failure (the
        database unreachable) is raised, and the caller keeps the rows."""
        try:
            await self._write(batch)
        except REFUSED_ROWS:
            await self._write_each(batch)

    async def _write(self, batch: list[dict[str, Any]]) -> None:
        async with self.sessionmaker() as session:
            await self._copy(session, batch)
            await session.commit()

    async def _write_each(self, batch: list[dict[str, Any]]) -> None:
        """Each row under its own savepoint, all in one transaction: a row the database will never take (a value too
        long for its column, say) is logged whole and dropped instead of failing every batch after it, and a
        connection lost midway commits none of them, so the caller keeps the batch without writing any row twice."""
        async with self.sessionmaker() as session:
            for row in batch:
                try:
                    async with session.begin_nested():
                        await self._copy(session, [row])
                except REFUSED_ROWS as refused:
                    logger.error(
                        "row refused by the database; dropped",
                        extra={"writer": self.name, "row": repr(row)[:4000], "reason": str(refused)},
                    )
            await session.commit()

    async def _copy(self, session: AsyncSession, rows: list[dict[str, Any]]) -> None:
        """One COPY: about half the CPU per row of an INSERT's executemany (these rows are written for every request
        through the gateway and every LLM call)."""
        columns = list(dict.fromkeys(key for row in rows for key in row))
        records = [tuple(row.get(column) for column in columns) for row in rows]
        connection = await session.connection()
        driver = (await connection.get_raw_connection()).driver_connection  # asyncpg's own connection
        if driver is None:
            raise RuntimeError("the database connection is closed")
        await driver.copy_records_to_table(
            self.table.name, schema_name=self.table.schema, records=records, columns=columns
        )

    async def _write_next_batch(self) -> None:
        async with self._writing:
            batch = self._drain()
            if not batch:
                return
            try:
                await self._write_or_split(batch)
            except Exception:
                logger.exception("batched insert failed; will retry", extra={"writer": self.name, "rows": len(batch)})
                self._queue.extend(batch)
