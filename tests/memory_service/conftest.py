"""memory-service wired to a real ai-runtime (local MiniLM embeddings) on the session's Postgres and Redis."""

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import create_async_engine

from database.models import User
from services.ai_runtime.main import create_app as create_runtime
from services.memory_service.config import MemorySettings
from services.memory_service.main import create_app as create_memory
from tests.ai_runtime.conftest import runtime_settings, signed_client
from tests.conftest import common_settings
from tests.support import ThreadedServer, serving


def make_user(database_url: str) -> str:
    user_id = uuid.uuid4()

    async def create() -> None:
        engine = create_async_engine(database_url)
        async with engine.begin() as connection:
            await connection.execute(
                insert(User).values(
                    id=user_id, username=f"m_{user_id.hex[:12]}", email=f"{user_id.hex}@example.com", password_hash="x"
                )
            )
        await engine.dispose()

    asyncio.run(create())
    return str(user_id)


def memory_settings(database_url: str, redis_url: str, ai_url: str, **overrides: Any) -> MemorySettings:
    return MemorySettings(
        **{
            **common_settings(database_url, redis_url),
            "ai_runtime_url": ai_url,
            "access_flush_seconds": 0.1,
            "purge_interval_seconds": 0.2,
            **overrides,
        }
    )  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def embedding_runtime(database_url: str, redis_url: str) -> Iterator[ThreadedServer]:
    with serving(create_runtime(runtime_settings(database_url, redis_url, None, local_llm_enabled=False))) as server:
        yield server


@pytest.fixture(scope="session")
def memory_server(database_url: str, redis_url: str, embedding_runtime: ThreadedServer) -> Iterator[ThreadedServer]:
    with serving(create_memory(memory_settings(database_url, redis_url, embedding_runtime.url))) as server:
        yield server


class Caller:
    """A memory-service client signed as one user (or role)."""

    def __init__(self, url: str, user_id: str, role: str = "user") -> None:
        self.user_id = user_id
        self.client = signed_client(user_id, role, base_url=url)

    def remember(self, content: str, **fields: Any) -> dict[str, Any]:
        response = self.client.post("/memories", json={"content": content, **fields})
        assert response.status_code in (200, 201), response.text
        return response.json()

    def retrieve(self, query: str, **fields: Any) -> list[dict[str, Any]]:
        response = self.client.post("/memories/retrieve", json={"query": query, **fields})
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def alice(memory_server: ThreadedServer, database_url: str) -> Iterator[Caller]:
    caller = Caller(memory_server.url, make_user(database_url))
    yield caller
    caller.client.close()


@pytest.fixture
def bob(memory_server: ThreadedServer, database_url: str) -> Iterator[Caller]:
    caller = Caller(memory_server.url, make_user(database_url))
    yield caller
    caller.client.close()
