"""One way to reach Postgres: an async engine per process and a session per request."""

import contextlib
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


async def database_is_ready(engine: AsyncEngine) -> bool:
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
