"""The usage ledger: every LLM and embedding call becomes an llm_usage row, written in batches off the
response path and drained on shutdown."""

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from database.models import LlmUsage
from shared.batching import BatchedInserter


class UsageLedger(BatchedInserter):
    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, flush_seconds: float, batch_size: int
    ) -> None:
        super().__init__(
            "usage-ledger",
            LlmUsage,
            sessionmaker=sessionmaker,
            flush_seconds=flush_seconds,
            batch_size=batch_size,
        )
