"""memory-service wired to a real ai-runtime (local MiniLM embeddings) on the session's Postgres and Redis."""

from collections.abc import Iterator

import pytest

from services.ai_runtime.main import create_app as create_runtime
from services.memory_service.main import create_app as create_memory
from tests.support import ThreadedServer, serving
from tests.support.settings import memory_settings, runtime_settings
from tests.support.users import Caller, make_user


@pytest.fixture(scope="session")
def embedding_runtime(database_url: str, redis_url: str) -> Iterator[ThreadedServer]:
    with serving(create_runtime(runtime_settings(database_url, redis_url, None, local_llm_enabled=False))) as server:
        yield server


@pytest.fixture(scope="session")
def memory_server(database_url: str, redis_url: str, embedding_runtime: ThreadedServer) -> Iterator[ThreadedServer]:
    with serving(create_memory(memory_settings(database_url, redis_url, embedding_runtime.url))) as server:
        yield server


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
