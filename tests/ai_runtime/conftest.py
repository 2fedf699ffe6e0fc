"""An ai-runtime wired to the OpenAI and Anthropic test servers and the real embedded local models."""

import uuid
from collections.abc import Iterator

import httpx
import pytest

from services.ai_runtime.main import create_app
from tests.support import ThreadedServer
from tests.support.providers import Providers
from tests.support.settings import runtime_settings
from tests.support.users import signed_client


@pytest.fixture(scope="session")
def runtime_server(database_url: str, redis_url: str, providers: Providers) -> Iterator[ThreadedServer]:
    server = ThreadedServer(create_app(runtime_settings(database_url, redis_url, providers))).start()
    yield server
    server.stop()


@pytest.fixture
def user_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def ai(runtime_server: ThreadedServer, user_id: str) -> Iterator[httpx.Client]:
    """A client of the ai-runtime acting as one fresh user."""
    with signed_client(user_id, base_url=runtime_server.url) as client:
        yield client


@pytest.fixture
def admin_ai(runtime_server: ThreadedServer) -> Iterator[httpx.Client]:
    with signed_client(str(uuid.uuid4()), role="admin", base_url=runtime_server.url) as client:
        yield client
