"""Batched inserts: whatever was recorded before a flush is in the database when the flush returns."""

import asyncio
import uuid
from typing import Any

import pytest

from database.models import ApiUsage
from shared.batching import BatchedInserter
from shared.db import create_engine, create_sessionmaker
from tests.support import sql_scalar


def test_a_flush_waits_for_the_batch_the_periodic_writer_is_writing(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = f"/flush-{uuid.uuid4().hex}"

    async def scenario() -> None:
        engine = create_engine(database_url)
        inserter = BatchedInserter(
            "test", ApiUsage, sessionmaker=create_sessionmaker(engine), flush_seconds=60, batch_size=10
        )
        write = inserter._write

        async def slow_write(batch: list[dict[str, Any]]) -> None:
            await asyncio.sleep(0.3)
            await write(batch)

        monkeypatch.setattr(inserter, "_write", slow_write)
        inserter.record({"method": "GET", "path": path, "status_code": 200, "duration_ms": 1.0})
        writer = asyncio.create_task(inserter._write_next_batch())
        await asyncio.sleep(0.05)  # the periodic writer has taken the row and is writing it
        await inserter.flush()
        flushed = await asyncio.to_thread(
            sql_scalar, database_url, "SELECT count(*) FROM api_usage WHERE path = :p", p=path
        )
        await writer
        await engine.dispose()
        assert flushed == 1

    asyncio.run(scenario())
