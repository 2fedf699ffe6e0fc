"""Batched inserts: whatever was recorded before a flush is in the database when the flush returns."""

import asyncio
import logging
import uuid
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from database.models import ApiUsage
from shared.batching import BatchedInserter
from shared.db import create_engine, create_sessionmaker
from tests.support import eventually_async, sql_scalar


def usage_inserter(engine: AsyncEngine) -> BatchedInserter:
    """A writer of api_usage rows that writes only when told to."""
    return BatchedInserter("test", ApiUsage, sessionmaker=create_sessionmaker(engine), flush_seconds=60, batch_size=10)


def usage_row(method: str, path: str) -> dict[str, Any]:
    return {"method": method, "path": path, "status_code": 200, "duration_ms": 1.0}


def methods_written(database_url: str, path: str) -> object:
    """The methods of the rows written for `path`, in the order they went in."""
    return sql_scalar(database_url, "SELECT string_agg(method, ',' ORDER BY id) FROM api_usage WHERE path = :p", p=path)


def test_a_flush_waits_for_the_batch_the_periodic_writer_is_writing(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = f"/flush-{uuid.uuid4().hex}"

    async def scenario() -> None:
        engine = create_engine(database_url)
        inserter = usage_inserter(engine)
        write = inserter._write

        async def slow_write(batch: list[dict[str, Any]]) -> None:
            await asyncio.sleep(0.3)
            await write(batch)

        monkeypatch.setattr(inserter, "_write", slow_write)
        inserter.record(usage_row("GET", path))
        writer = asyncio.create_task(inserter._write_next_batch())
        await eventually_async(inserter._writing.locked)  # the periodic writer has taken the row and is writing it
        await inserter.flush()
        flushed = await asyncio.to_thread(
            sql_scalar, database_url, "SELECT count(*) FROM api_usage WHERE path = :p", p=path
        )
        await writer
        await engine.dispose()
        assert flushed == 1

    asyncio.run(scenario())


def test_a_row_the_database_refuses_does_not_stall_the_rows_batched_with_it(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = f"/refused-{uuid.uuid4().hex}"
    caplog.set_level(logging.ERROR, logger="shared.batching")

    async def scenario() -> None:
        engine = create_engine(database_url)
        inserter = usage_inserter(engine)
        for method in ("GET", "TOOLONGMETHOD", "POST"):  # the column holds 8 characters
            inserter.record(usage_row(method, path))
        await inserter.flush()
        inserter.record(usage_row("PUT", path))
        await inserter.flush()
        await engine.dispose()

    asyncio.run(scenario())
    assert methods_written(database_url, path) == "GET,POST,PUT"
    refused = [r for r in caplog.records if r.getMessage() == "row refused by the database; dropped"]
    assert len(refused) == 1 and "TOOLONGMETHOD" in refused[0].__dict__["row"]


def test_a_connection_lost_while_rows_are_written_one_by_one_writes_none_of_them_twice(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = f"/lost-{uuid.uuid4().hex}"

    async def scenario() -> None:
        engine = create_engine(database_url)
        inserter = usage_inserter(engine)
        copy, copies = inserter._copy, 0

        async def copy_then_lose_the_connection(session: Any, rows: list[dict[str, Any]]) -> None:
            nonlocal copies
            copies += 1
            if copies == 4:  # the batch, then GET, the refused row, and now POST
                raise ConnectionResetError("connection lost")
            await copy(session, rows)

        monkeypatch.setattr(inserter, "_copy", copy_then_lose_the_connection)
        for method in ("GET", "TOOLONGMETHOD", "POST"):
            inserter.record(usage_row(method, path))
        await inserter._write_next_batch()  # fails midway: the rows go back in the queue
        await inserter.flush()
        await engine.dispose()

    asyncio.run(scenario())
    assert methods_written(database_url, path) == "GET,POST"
