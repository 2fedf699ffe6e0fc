"""The tool-runner's /health tells whether code can really run: it starts a sandbox once at start-up."""

from collections.abc import Iterator

import httpx
import pytest

from services.tool_runner import sandbox
from services.tool_runner.main import create_app
from tests.support import serving
from tests.tool_runner.conftest import tool_settings


def health(database_url: str, redis_url: str) -> dict:
    with serving(create_app(tool_settings(database_url, redis_url))) as runner:
        return httpx.get(f"{runner.url}/health", timeout=30).json()


@pytest.fixture
def bwrap_that_cannot_start(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """bwrap installed, but refused what it needs, as in a container under Docker's default seccomp profile."""
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: "/bin/false")
    yield


@pytest.mark.needs_sandbox
def test_a_working_sandbox_is_healthy(database_url: str, redis_url: str) -> None:
    body = health(database_url, redis_url)
    assert body["status"] == "healthy" and body["details"]["sandbox"] == "bwrap"


def test_an_installed_bwrap_that_cannot_start_a_sandbox_is_degraded(
    database_url: str, redis_url: str, bwrap_that_cannot_start: None
) -> None:
    body = health(database_url, redis_url)
    assert body["status"] == "degraded"
    assert body["details"]["sandbox"].startswith("unavailable: bwrap cannot start a sandbox here")
    assert body["details"]["degraded"].startswith("code execution: unavailable")


def test_a_missing_bwrap_is_degraded(database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: None)
    body = health(database_url, redis_url)
    assert body["status"] == "degraded" and "install bubblewrap" in body["details"]["sandbox"]
