from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from services.tool_runner.config import ToolRunnerSettings
from services.tool_runner.main import create_app
from tests.ai_runtime.conftest import signed_client
from tests.conftest import common_settings
from tests.memory_service.conftest import make_user
from tests.support import ThreadedServer, serving


def tool_settings(database_url: str, redis_url: str, **overrides: Any) -> ToolRunnerSettings:
    return ToolRunnerSettings(**{**common_settings(database_url, redis_url), "sandbox_cpu_seconds": 5, **overrides})  # type: ignore[arg-type]


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
