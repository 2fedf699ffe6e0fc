"""The usage ledger: every call becomes an llm_usage row, written in batches off the response path.

Rows wait in a queue; a background task inserts them every `flush_seconds` or `batch_size` rows. Shutdown
drains the queue, so nothing is lost on a clean stop. If the database is briefly down, the batch is kept
and retried.
"""

import asyncio
import logging
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from database.models import LlmUsage
from shared.background import PeriodicTask

logger = logging.getLogger(__name__)


class UsageLedger:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], flush_seconds: float, batch_size: int) -> None:
        self.sessionmaker = sessionmaker
        self.flush_seconds = flush_seconds
        self.batch_size = batch_size
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._writer = PeriodicTask("usage-ledger", flush_seconds, self._write_next_batch)

    def start(self) -> None:
        self._writer.start()

    def record(self, row: dict[str, Any]) -> None:
        self._queue.put_nowait(row)

    async def flush(self) -> None:
        """Write everything queued so far (tests and admin reads use this for read-your-writes)."""
        batch = self._drain()
        while batch:
            await self._write(batch)
            batch = self._drain()

    async def stop(self) -> None:
        await self._writer.stop()
        await self.flush()

    def _drain(self) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        while not self._queue.empty() and len(batch) < self.batch_size:
            batch.append(self._queue.get_nowait())
        return batch

    async def _write(self, batch: list[dict[str, Any]]) -> None:
        async with self.sessionmaker() as session:
            await session.execute(insert(LlmUsage), batch)
            await session.commit()

    async def _write_next_batch(self) -> None:
        batch = self._drain()
        if not batch:
            return
        try:
            await self._write(batch)
        except Exception:
            logger.exception("usage ledger write failed; will retry", extra={"rows": len(batch)})
            for row in batch:
                self._queue.put_nowait(row)
