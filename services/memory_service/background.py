"""Background work: access bookkeeping in batches (off the retrieval path) and the expired-memory purge."""

import logging
import uuid
from collections import Counter

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.memory_service import repository
from shared.background import BackgroundComponent, PeriodicTask

logger = logging.getLogger(__name__)


class AccessRecorder(BackgroundComponent):
    """Counts retrievals in memory and writes them every `flush_seconds` in one UPDATE."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], flush_seconds: float) -> None:
        self.sessionmaker = sessionmaker
        self._pending: Counter[uuid.UUID] = Counter()
        self._writer = PeriodicTask("memory-access", flush_seconds, self.flush)

    def record(self, ids: list[uuid.UUID]) -> None:
        self._pending.update(ids)

    async def flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, Counter()
        async with self.sessionmaker() as session:
            await repository.record_access(session, dict(pending))
            await session.commit()

    def start(self) -> None:
        self._writer.start()

    async def stop(self) -> None:
        await self._writer.stop()
        await self.flush()


def expiry_purge(sessionmaker: async_sessionmaker[AsyncSession], interval_seconds: float) -> PeriodicTask:
    async def purge() -> None:
        async with sessionmaker() as session:
            purged = await repository.purge_expired(session)
            await session.commit()
        if purged:
            logger.info("expired memories purged", extra={"count": purged})

    return PeriodicTask("memory-expiry-purge", interval_seconds, purge)
