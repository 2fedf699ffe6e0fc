"""Search sessions: autocommit, HNSW settings kept per pooled connection and changed only when needed."""

import asyncio

from sqlalchemy import text

from services.memory_service import repository
from shared.db import create_engine, create_sessionmaker

SETTINGS = text("SELECT current_setting('hnsw.ef_search'), current_setting('hnsw.iterative_scan')")
# In a transaction begun by an earlier statement, now() (the transaction's start) lags the statement by the pause.
IN_OWN_TRANSACTION = text("SELECT statement_timestamp() - now() < interval '25 milliseconds'")


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
        async with sessions() as session:  # an ordinary session is still transactional after a search used the connection
            await session.execute(text("SELECT 1"))
            await asyncio.sleep(0.05)
            assert (await session.execute(IN_OWN_TRANSACTION)).scalar_one() is False
    finally:
        await engine.dispose()
