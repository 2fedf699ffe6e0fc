"""Alembic owns the schema: upgrade and downgrade both work on a fresh database."""

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from cognitionos_cli.embedded import EmbeddedPostgres
from database.migrate import downgrade, upgrade
from database.models import Base

SCRATCH_DB = "cognitionos_migrations_test"


async def _scalar_set(url: str, sql: str) -> set[str]:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        rows = (await connection.execute(text(sql))).scalars().all()
    await engine.dispose()
    return set(rows)


@pytest.fixture
def scratch_url(embedded_postgres: EmbeddedPostgres) -> str:
    if embedded_postgres.server is None:
        pytest.skip("needs the embedded server to create a scratch database")
    embedded_postgres.server.psql(f'DROP DATABASE IF EXISTS "{SCRATCH_DB}"; CREATE DATABASE "{SCRATCH_DB}";')
    return embedded_postgres.database_url.replace("/cognitionos_test?", f"/{SCRATCH_DB}?")


def test_upgrade_creates_every_table_and_pgvector(scratch_url: str) -> None:
    upgrade(scratch_url)
    tables = asyncio.run(_scalar_set(scratch_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
    assert set(Base.metadata.tables) <= tables
    assert not {"tools", "agent_task_assignments"} & tables  # dropped unused by migration 0007
    extensions = asyncio.run(_scalar_set(scratch_url, "SELECT extname FROM pg_extension"))
    assert "vector" in extensions
    indexes = asyncio.run(
        _scalar_set(scratch_url, "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_memories_embedding_hnsw'")
    )
    assert any("hnsw" in definition and "vector_cosine_ops" in definition for definition in indexes)


def test_downgrade_removes_everything_and_upgrade_again(scratch_url: str) -> None:
    upgrade(scratch_url)
    downgrade(scratch_url, "base")
    tables = asyncio.run(_scalar_set(scratch_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
    assert tables <= {"alembic_version"}
    upgrade(scratch_url)
    tables = asyncio.run(_scalar_set(scratch_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
    assert set(Base.metadata.tables) <= tables


def test_models_match_migrations(database_url: str) -> None:
    """Autogenerate against the migrated database finds nothing to do: models and migrations agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    async def diff() -> list:
        engine = create_async_engine(database_url)
        async with engine.connect() as connection:
            result = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
        await engine.dispose()
        return result

    assert asyncio.run(diff()) == []
