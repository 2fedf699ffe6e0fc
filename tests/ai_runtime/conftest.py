"""An ai-runtime wired to the OpenAI and Anthropic test servers and the real embedded local models."""

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from services.ai_runtime.config import AIRuntimeSettings
from services.ai_runtime.main import create_app
from shared.identity import Identity, sign_identity
from tests.conftest import INTERNAL_SECRET, common_settings
from tests.providers import Providers
from tests.support import ThreadedServer


def runtime_settings(
    database_url: str, redis_url: str, providers: Providers | None, **overrides: Any
) -> AIRuntimeSettings:
    values: dict[str, Any] = {
        **common_settings(database_url, redis_url),
        "retry_base_seconds": 0.01,
        "cooldown_failures": 3,
        "cooldown_seconds": 30,
        "request_timeout_seconds": 2.0,
        "usage_flush_seconds": 0.05,
        "role_models": {
            r: ["gpt-4o-mini", "claude-3-5-haiku-latest", "smollm2-135m-instruct"]
            for r in ("planner", "executor", "critic", "summarizer")
        },
        "local_threads": 2,
    }
    if providers:
        values |= {
            "openai_api_key": "sk-test",
            "openai_base_url": f"{providers.openai.url}/v1",
            "anthropic_api_key": "sk-ant-test",
            "anthropic_base_url": providers.anthropic.url,
            "openai_compatible_base_url": f"{providers.openai.url}/v1",
            "openai_compatible_models": ["llama3.1:8b"],
        }
    return AIRuntimeSettings(**(values | overrides))


@pytest.fixture(scope="session")
def runtime_server(database_url: str, redis_url: str, providers: Providers) -> Iterator[ThreadedServer]:
    server = ThreadedServer(create_app(runtime_settings(database_url, redis_url, providers))).start()
    yield server
    server.stop()


def identity_headers(user_id: str | None = None, role: str = "user", api_key_id: str | None = None) -> dict[str, str]:
    identity = Identity(
        user_id=user_id or str(uuid.uuid4()),
        username="tester",
        role=role,  # type: ignore[arg-type]
        auth_method="api_key" if api_key_id else "jwt",
        api_key_id=api_key_id,
    )
    return sign_identity(identity, INTERNAL_SECRET)


def signed_client(
    user_id: str, role: str = "user", base_url: str = "", timeout: float = 60, api_key_id: str | None = None
) -> httpx.Client:
    """A client calling services directly as the gateway would for this user: identity re-signed on every request
    (a signature is only good for a few minutes)."""

    def sign(request: httpx.Request) -> None:
        request.headers.update(identity_headers(user_id, role, api_key_id))

    return httpx.Client(base_url=base_url, timeout=timeout, event_hooks={"request": [sign]})


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
