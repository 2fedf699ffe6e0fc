"""The wire-protocol provider servers (OpenAI, Anthropic) for the whole suite, registered once (tests/conftest.py:
pytest_plugins): every service the tests start talks to the same two servers, whichever folder started them."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from services.ai_runtime.service import AIRuntime
from shared.app import service_state
from tests.support import ThreadedServer
from tests.support.fake_providers import Script, create_fake_anthropic, create_fake_openai

DEFAULT_OPENAI_REPLY = "Hello from the OpenAI test server"
DEFAULT_ANTHROPIC_REPLY = "Hello from the Anthropic test server"


@dataclass
class Providers:
    openai: ThreadedServer
    anthropic: ThreadedServer

    @property
    def openai_app(self) -> Any:
        return self.openai.app

    @property
    def anthropic_app(self) -> Any:
        return self.anthropic.app


@pytest.fixture(scope="session")
def providers() -> Iterator[Providers]:
    openai_server = ThreadedServer(create_fake_openai()).start()
    anthropic_server = ThreadedServer(create_fake_anthropic()).start()
    yield Providers(openai_server, anthropic_server)
    openai_server.stop()
    anthropic_server.stop()


@pytest.fixture(autouse=True)
def reset_providers(request: pytest.FixtureRequest) -> None:
    if "providers" not in request.fixturenames:
        return
    p: Providers = request.getfixturevalue("providers")
    for app in (p.openai_app, p.anthropic_app):
        app.state.script = Script()
        app.state.requests.clear()
    p.openai_app.state.replies = []
    p.openai_app.state.responder = None
    p.openai_app.state.reply = DEFAULT_OPENAI_REPLY
    p.anthropic_app.state.reply = DEFAULT_ANTHROPIC_REPLY
    if "runtime_server" in request.fixturenames or "ai" in request.fixturenames:
        # Each test starts with no deployment in cooldown from an earlier test's failures.
        service_state(
            request.getfixturevalue("runtime_server").server.config.app, AIRuntime
        ).fallback.deployments.clear()
