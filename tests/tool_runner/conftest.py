from collections.abc import Iterator

import httpx
import pytest

from services.tool_runner.main import create_app
from tests.support import ThreadedServer, serving
from tests.support.settings import tool_settings
from tests.support.users import make_user, signed_client


@pytest.fixture(scope="session")
def tool_server(database_url: str, redis_url: str) -> Iterator[ThreadedServer]:
    with serving(create_app(tool_settings(database_url, redis_url))) as server:
        yield server


@pytest.fixture
def tools(tool_server: ThreadedServer, database_url: str) -> Iterator[httpx.Client]:
    user_id = make_user(database_url)
    with signed_client(user_id, base_url=tool_server.url) as client:
        client.user_id = user_id  # type: ignore[attr-defined]
        yield client
