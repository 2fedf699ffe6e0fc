"""One way to reach Postgres: an async engine per process and a session per request."""

import contextlib
import time
import weakref
from typing import Any

from pgvector.asyncpg import register_vector
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def normalize_database_url(url: str) -> str:
    """Accept plain postgres:// URLs (as Heroku/compose write them) and use the asyncpg driver."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://", "postgresql+psycopg://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def create_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    engine = create_async_engine(
        normalize_database_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
    )
    event.listen(engine.sync_engine, "connect", _register_vector_codec)
    return engine


def _register_vector_codec(dbapi_connection: Any, _record: Any) -> None:
    """pgvector values travel in binary (database.models.BinaryVector hands them to this codec as they are):
    formatting and parsing floats as text cost more than the rest of a bulk insert."""
    # "unknown type: vector": the extension is created by the first migration
    with contextlib.suppress(ValueError):
        dbapi_connection.run_async(register_vector)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


# PostgreSQL refuses writes when its disk, memory or connection slots run out (SQLSTATE class 53) while it still
# answers SELECT 1: readiness reports the database as unavailable for a while after such a refusal, so health says
# so instead of "healthy", and recovers by itself once refusals stop. Kept per engine (per service).
OUT_OF_RESOURCES_SECONDS = 15.0
_out_of_resources_until: weakref.WeakKeyDictionary[AsyncEngine, float] = weakref.WeakKeyDictionary()


def note_out_of_resources(engine: AsyncEngine) -> None:
    _out_of_resources_until[engine] = time.monotonic() + OUT_OF_RESOURCES_SECONDS


async def database_is_ready(engine: AsyncEngine) -> bool:
    if time.monotonic() < _out_of_resources_until.get(engine, 0.0):
        return False
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
