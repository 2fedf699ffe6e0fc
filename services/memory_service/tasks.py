"""Background work: access bookkeeping in batches (off the retrieval path) and the expired-memory purge."""

import asyncio
import contextlib
import logging
import uuid
from collections import Counter

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.memory_service import repository

logger = logging.getLogger(__name__)


class AccessRecorder:
    """Counts retrievals in memory and writes them every `flush_seconds` in one UPDATE."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], flush_seconds: float) -> None:
        self.sessionmaker = sessionmaker
        self.flush_seconds = flush_seconds
        self._pending: Counter[uuid.UUID] = Counter()
        self._task: asyncio.Task[None] | None = None

    def record(self, ids: list[uuid.UUID]) -> None:
        self._pending.update(ids)

    async def flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, Counter()
        async with self.sessionmaker() as session:
            await repository.record_access(session, dict(pending))
            await session.commit()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_seconds)
            try:
                await self.flush()
            except Exception:
                logger.exception("access bookkeeping failed")

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="memory-access")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()


async def purge_expired_forever(sessionmaker: async_sessionmaker[AsyncSession], interval_seconds: float) -> None:
    while True:
        try:
            async with sessionmaker() as session:
                purged = await repository.purge_expired(session)
                await session.commit()
            if purged:
                logger.info("expired memories purged", extra={"count": purged})
        except Exception:
            logger.exception("purge of expired memories failed")
        await asyncio.sleep(interval_seconds)
