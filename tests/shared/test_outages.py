"""A database outage is a 503 with Retry-After, health says which dependency is gone, and service resumes by
itself when it is back: tested by stopping and restarting a real PostgreSQL."""

import asyncio
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from cognitionos_cli.embedded import EmbeddedPostgres, start_postgres, start_redis
from database.migrate import upgrade
from services.api_gateway.config import GatewaySettings
from services.api_gateway.main import create_app as create_gateway
from services.auth_service.config import AuthSettings
from services.auth_service.main import create_app as create_auth
from tests.support import ThreadedServer, assert_error, free_port, serving
from tests.support.settings import common_settings
from tests.support.stack import Stack
from tests.support.users import RegisteredUser


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[tuple[Path, EmbeddedPostgres]]:
    """A PostgreSQL of this test's own, so stopping it disturbs no other test."""
    data_dir = tmp_path / "pg"
    postgres = start_postgres(data_dir, database="outage")
    upgrade(postgres.database_url)
    yield data_dir, postgres
    postgres.stop()


def test_a_database_outage_is_a_503_and_service_resumes_when_it_returns(
    own_postgres: tuple[Path, EmbeddedPostgres], redis_url: str, unique: str
) -> None:
    data_dir, postgres = own_postgres
    with auth_behind_gateway(postgres.database_url, redis_url) as (auth, client):
        account = {"username": f"out{unique}", "email": f"out{unique}@example.com", "password": "outage-pass-1"}
        assert client.post("/api/v1/auth/register", json=account).status_code == 201

        postgres.stop()
        login = client.post("/api/v1/auth/login", json=account)
        error = assert_error(login, 503, "database_unavailable")
        assert int(login.headers["retry-after"]) >= 1 and error["details"]["dependency"] == "database"
        assert_error(httpx.post(f"{auth.url}/login", json=account), 503, "database_unavailable")
        health = client.get("/health").json()
        assert health["status"] == "unhealthy" and "database" in health["unavailable"]
        assert health["services"]["auth-service"]["unavailable"] == ["database"]

        restarted = start_postgres(data_dir, database="outage")
        try:
            assert restarted.database_url == postgres.database_url
            assert client.post("/api/v1/auth/login", json=account).status_code == 200
            assert client.get("/health").json()["services"]["auth-service"]["status"] == "ok"
        finally:
            restarted.stop()


def test_a_redis_outage_fails_closed_with_a_503_and_service_resumes_when_it_returns(
    stack: Stack, user: RegisteredUser, tmp_path: Path
) -> None:
    port = free_port()
    redis = start_redis(tmp_path / "redis", port=port)
    settings = stack.gateway_settings(redis_url=redis.redis_url, redis_fail_open=False)
    with serving(create_gateway(settings)) as gateway, httpx.Client(base_url=gateway.url, timeout=10) as client:
        assert client.get("/api/v1/memories/x", headers=user.headers).status_code == 200
        redis.stop()
        down = client.get("/api/v1/memories/x", headers=user.headers)
        assert assert_error(down, 503, "redis_unavailable")["details"]["dependency"] == "redis"
        assert int(down.headers["retry-after"]) >= 1
        assert "redis" in client.get("/health").json()["unavailable"]
        redis = start_redis(tmp_path / "redis", port=port)
        try:
            assert client.get("/api/v1/memories/x", headers=user.headers).status_code == 200
        finally:
            redis.stop()


@pytest.fixture
def small_disk(tmp_path: Path, own_postgres: tuple[Path, EmbeddedPostgres]) -> Iterator[Path]:
    """A 4 MB filesystem the embedded PostgreSQL's user can write to (mounting needs root)."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    owner = (own_postgres[0] / "PG_VERSION").stat().st_uid  # the user PostgreSQL runs as owns its data
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size=4m,mode=0700,uid={owner}", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here ({mounted.stderr.strip()[:200]})")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_is_a_503_health_says_degraded_and_service_resumes_when_space_returns(
    own_postgres: tuple[Path, EmbeddedPostgres], small_disk: Path, redis_url: str, unique: str
) -> None:
    _, postgres = own_postgres
    # The users table lives on the small disk, empty (its first row must extend it), and a filler takes the rest.
    _autocommit(
        postgres.database_url,
        f"CREATE TABLESPACE small LOCATION '{small_disk}'",
        "ALTER TABLE users SET TABLESPACE small",
        "CREATE TABLE filler (x text) TABLESPACE small",
    )
    with pytest.raises(DBAPIError, match=r"No space left on device"):
        rows = (
            "SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 64), generate_series(1, 9) b GROUP BY b"
        )
        _autocommit(postgres.database_url, *[f"INSERT INTO filler {rows}"] * 2000)
    with auth_behind_gateway(postgres.database_url, redis_url) as (_, client):
        account = {"username": f"disk{unique}", "email": f"disk{unique}@example.com", "password": "full-disk-1"}
        refused = client.post("/api/v1/auth/register", json=account)
        error = assert_error(refused, 503, "database_disk_full")
        assert int(refused.headers["retry-after"]) >= 1 and error["details"]["dependency"] == "database"
        health = client.get("/health").json()
        assert health["status"] == "degraded" and health["services"]["auth-service"]["unavailable"] == ["database"]

        _autocommit(postgres.database_url, "DROP TABLE filler")
        assert client.post("/api/v1/auth/register", json=account).status_code == 201


@contextmanager
def auth_behind_gateway(database_url: str, redis_url: str) -> Iterator[tuple[ThreadedServer, httpx.Client]]:
    """An auth-service on this database behind a gateway, and a client of the gateway."""
    common = common_settings(database_url, redis_url)
    auth_settings = AuthSettings.model_validate({**common, "password_time_cost": 1, "password_memory_kib": 1024})
    with serving(create_auth(auth_settings)) as auth:
        gateway_settings = GatewaySettings.model_validate({**common, "auth_service_url": auth.url})
        with serving(create_gateway(gateway_settings)) as gateway, httpx.Client(base_url=gateway.url) as client:
            yield auth, client


def _autocommit(database_url: str, *statements: str) -> None:
    async def run() -> None:
        engine = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                for statement in statements:
                    await connection.execute(text(statement))
        finally:
            await engine.dispose()

    asyncio.run(run())
