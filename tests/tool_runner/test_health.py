"""The tool-runner's /health tells whether code can really run: it starts a sandbox once at start-up."""

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.tool_runner import sandbox
from services.tool_runner.main import create_app
from services.tool_runner.seccomp import REFUSED_SYSCALLS, sandbox_filter
from tests.support import serving
from tests.support.settings import tool_settings


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


def test_the_host_sandbox_refuses_what_the_container_profile_refuses() -> None:
    profile = json.loads((Path(__file__).parents[2] / "deploy/docker/seccomp-sandbox.json").read_text())
    (refused,) = [rule["names"] for rule in profile["syscalls"] if rule["action"] == "SCMP_ACT_ERRNO"]
    assert tuple(refused) == REFUSED_SYSCALLS
    assert sandbox_filter() is not None  # libseccomp is there: every host sandbox runs under the filter


@pytest.mark.needs_sandbox
def test_health_says_the_syscall_filter_is_on(database_url: str, redis_url: str) -> None:
    assert health(database_url, redis_url)["details"]["syscall_filter"] == "seccomp"
