import asyncio
import time
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from database.models import LlmUsage


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

    deadline = time.monotonic() + timeout
    while True:
        rows = asyncio.run(fetch())
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)
