"""Storage behaviour below the API: search sessions (autocommit, HNSW settings per pooled connection) and in-place
updates."""

import asyncio
import uuid
from typing import Any

import numpy as np
from sqlalchemy import text

from services.memory_service import repository
from shared.db import create_engine, create_sessionmaker
from tests.support.users import make_user

SETTINGS = text("SELECT current_setting('hnsw.ef_search'), current_setting('hnsw.iterative_scan')")
# In a transaction begun by an earlier statement, now() (the transaction's start) lags the statement by the pause.
IN_OWN_TRANSACTION = text("SELECT statement_timestamp() - now() < interval '25 milliseconds'")

PAGES = text("SELECT id, (ctid::text::point)[0] AS page FROM memories WHERE id = ANY(:ids) ORDER BY id")


async def test_searches_run_in_autocommit_with_their_hnsw_settings(database_url: str) -> None:
    engine = create_engine(database_url, pool_size=1)
    sessions = create_sessionmaker(engine)
    try:
        async with sessions() as session:
            await repository.prepare_search(session, k=30, ef_search_floor=64)
            assert tuple((await session.execute(SETTINGS)).one()) == ("120", "relaxed_order")  # 4·k above the floor
            await asyncio.sleep(0.05)
            assert (await session.execute(IN_OWN_TRANSACTION)).scalar_one() is True
        async with sessions() as session:  # the same pooled connection: a smaller k goes back to the floor
            await repository.prepare_search(session, k=10, ef_search_floor=64)
            assert tuple((await session.execute(SETTINGS)).one()) == ("64", "relaxed_order")
        async with (
            sessions() as session
        ):  # an ordinary session is still transactional after a search used the connection
            await session.execute(text("SELECT 1"))
            await asyncio.sleep(0.05)
            assert (await session.execute(IN_OWN_TRANSACTION)).scalar_one() is False
    finally:
        await engine.dispose()


async def test_access_bookkeeping_updates_rows_in_place(database_url: str) -> None:
    """HOT updates (same page, no new index entries) need free room on the page: memories keep fillfactor 50."""
    user_id = uuid.UUID(await asyncio.to_thread(make_user, database_url))
    vectors = np.random.default_rng(5).normal(size=(12, 384))
    rows: list[dict[str, Any]] = [
        {
            "id": uuid.uuid4(),
            "user_id": user_id,
            "agent_id": None,
            "session_id": None,
            "run_id": None,
            "content": f"note {n}",
            "memory_type": "fact",
            "scope": "user",
            "embedding": list(vector / np.linalg.norm(vector)),
            "embedding_model": "test",
            "meta": {},
            "source": None,
            "confidence": 1.0,
            "is_sensitive": False,
            "expires_at": None,
            "access_count": 0,
        }
        for n, vector in enumerate(vectors)
    ]
    ids = [row["id"] for row in rows]
    engine = create_engine(database_url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session:
            await repository.insert_many(session, rows)
            await session.commit()
            before = (await session.execute(PAGES, {"ids": ids})).all()
            for _ in range(3):
                await repository.record_access(session, dict.fromkeys(ids, 1))
                await session.commit()
            assert (await session.execute(PAGES, {"ids": ids})).all() == before
    finally:
        await engine.dispose()
