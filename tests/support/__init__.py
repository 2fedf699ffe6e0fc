"""Test helpers: real embedded Postgres/Redis and real uvicorn servers on free ports."""

import asyncio
import functools
import json
import os
import shutil
import subprocess
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import schemathesis
import uvicorn
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import FlakyFailure
from pydantic_settings import BaseSettings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from cognitionos_cli.embedded import free_port
from services.tool_runner.config import ToolRunnerSettings
from services.tool_runner.sandbox import bwrap_path, run_python
from shared.http_protocol import PROTOCOL as HTTP_PROTOCOL


class ThreadedServer:
    """A real uvicorn server in a background thread (its own event loop), for black-box HTTP tests."""

    def __init__(self, app: FastAPI, port: int | None = None) -> None:
        self.app = app
        self.port = port or free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            access_log=False,
            proxy_headers=False,  # as every service is launched: see cognitionos_cli/supervisor.py
            http=HTTP_PROTOCOL,
        )
        self.server = uvicorn.Server(config)
        self.server.install_signal_handlers = lambda: None  # type: ignore[attr-defined]  # uvicorn < 0.29 only
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=lambda: self.loop.run_until_complete(self.server.serve()), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ThreadedServer":
        self.thread.start()
        eventually(lambda: self.server.started or not self.thread.is_alive(), every=0.02)
        if not self.server.started:
            raise RuntimeError("test server did not start")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        if not self.thread.is_alive():
            self.loop.close()


@contextmanager
def serving(app: FastAPI, port: int | None = None) -> Iterator[ThreadedServer]:
    server = ThreadedServer(app, port).start()
    try:
        yield server
    finally:
        server.stop()


def settings_environment(settings: BaseSettings) -> dict[str, str]:
    """The environment variables that make a service process read exactly these settings."""
    values = settings.model_dump(mode="json", exclude_none=True)
    return {name.upper(): value if isinstance(value, str) else json.dumps(value) for name, value in values.items()}


def eventually(
    check: Callable[[], Any], *, timeout: float = 20, every: float = 0.1, failure: Callable[[], str] | None = None
) -> Any:
    """The one way the tests wait for background work: polls `check` until it returns something truthy (which is
    returned), failing after `timeout` seconds with what `failure` says (the state that was not reached)."""
    deadline = time.monotonic() + timeout
    while not (result := check()):  # checked at least once, and once more at the deadline
        if time.monotonic() >= deadline:
            raise AssertionError(f"not true within {timeout} s" + (f": {failure()}" if failure else ""))
        time.sleep(every)
    return result


async def eventually_async(check: Callable[[], Any], *, timeout: float = 20, every: float = 0.05) -> Any:
    """`eventually` inside an event loop: the loop runs while it waits."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() >= deadline:
            raise AssertionError(f"not true within {timeout} s")
        await asyncio.sleep(every)
    return result


def sql_scalar(database_url: str, sql: str, **params: object) -> object:
    """Run one statement straight on the database (committed) and return its first value (None for a statement
    that returns no rows)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def fetch() -> object:
        engine = create_async_engine(database_url)
        async with engine.begin() as connection:
            result = await connection.execute(text(sql), params)
            value = result.scalar() if result.returns_rows else None
        await engine.dispose()
        return value

    return asyncio.run(fetch())


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is the error envelope {"error": {"code", "message", "details"}} with this status (and code)."""
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    if code:
        assert error["code"] == code
    return error


def docker_unavailable_reason() -> str | None:
    """Why images cannot be built and run here (None when they can): no docker CLI, or no daemon answering."""
    if not shutil.which("docker"):
        return "docker is not installed (scripts/test.sh installs Debian's docker.io when run as root)"
    info = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True)
    if info.returncode != 0:
        return f"dockerd is not running: {info.stderr.strip()[:200]} (scripts/test.sh starts it when run as root)"
    return None


@functools.cache
def sandbox_unavailable_reason() -> str | None:
    """Why execute_python cannot run on this machine (None when it can), found by running the real sandbox once."""
    if bwrap_path() is None:
        return (
            "needs the bubblewrap sandbox, which is not installed: apt-get install bubblewrap "
            "(scripts/test.sh installs it when run as root)"
        )
    limits = ToolRunnerSettings().sandbox_limits()
    result = asyncio.run(run_python("print('ok')", timeout_seconds=20, limits=limits, sandboxed=True))
    if result.stdout.strip() != "ok":
        return f"needs the bubblewrap sandbox, which cannot start here: {result.stderr.strip()[:300]}"
    return None


# --- schemathesis: every operation of a service's OpenAPI, fuzzed ------------------------------------------------

FUZZ_CHECKS = [not_a_server_error, response_schema_conformance]
# JSON lines bodies (memory imports) are text: fuzzed as any text would be.
schemathesis.serializer.alias("application/x-ndjson", "text/plain")
# Few examples per operation keep the whole suite within CI's time; derandomized so a failure reproduces.
fuzz_settings = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "12")),
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


def _describe(exc: BaseException) -> str:
    """The failure and, for a group (hypothesis reports flaky or several failures so), each one inside it."""
    inner = getattr(exc, "exceptions", ())
    return "\n".join([str(exc), *(f"  - {type(e).__name__}: {_describe(e)}" for e in inner)])


def fuzz_every_operation(base_url: str, headers: Callable[[], dict[str, str]]) -> None:
    """Generate requests for every operation of the service's OpenAPI (valid and invalid ones) and fail, listing
    each operation and its first failure, if any answer is a 5xx or a documented response breaks its schema.
    Driven through hypothesis directly: schemathesis' pytest plugin does not run on this pytest."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    failures: list[str] = []
    for loaded in schema.get_all_operations():
        operation = loaded.ok()  # type: ignore[union-attr]  # an invalid operation fails here, loudly

        @fuzz_settings
        @given(case=operation.as_strategy())
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers(), checks=FUZZ_CHECKS, timeout=60)

        try:
            check()
        except FlakyFailure as exc:
            # Failed once and not again on the same input: load on this shared machine (a slow fake provider
            # timing out), not a bug the input causes. Reported, not failed; a real bug reproduces.
            warnings.warn(f"{operation.label}: did not reproduce: {_describe(exc)[:2000]}", stacklevel=1)
        except (Exception, BaseExceptionGroup) as exc:  # every operation is fuzzed, all failures reported together
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)


def forget_ip_limit(redis_url: str, ip: str = "127.0.0.1") -> None:
    """Clears the gateway's per-address rate-limit bucket, so that one test's anonymous requests do not count
    against the next."""
    import redis

    with redis.Redis.from_url(redis_url) as client:
        client.delete(f"rl:ip:{ip}")
