import asyncio
import contextlib
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from database.models import LlmUsage
from tests.support import eventually


def usage_rows(database_url: str, user_id: str, expected: int = 1, timeout: float = 5.0) -> list[Any]:
    """The user's llm_usage rows, waiting for the batched ledger to write at least `expected` of them."""

    async def fetch() -> list[Any]:
        engine = create_async_engine(database_url)
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(LlmUsage.__table__).where(LlmUsage.user_id == uuid.UUID(user_id)).order_by(LlmUsage.id)
                )
            ).all()
        await engine.dispose()
        return list(rows)

    found: list[Any] = []

    def written() -> bool:
        found[:] = asyncio.run(fetch())
        return len(found) >= expected

    with contextlib.suppress(AssertionError):  # fewer rows than expected: the caller's assertion says what lacks
        eventually(written, timeout=timeout, every=0.05)
    return found
