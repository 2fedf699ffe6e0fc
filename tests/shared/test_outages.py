"""A database outage is a 503 with Retry-After, health says which dependency is gone, and service resumes by
itself when it is back: tested by stopping and restarting a real PostgreSQL."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cognitionos_cli.embedded import EmbeddedPostgres, start_postgres, start_redis
from database.migrate import upgrade
from services.api_gateway.config import GatewaySettings
from services.api_gateway.main import create_app as create_gateway
from services.auth_service.config import AuthSettings
from services.auth_service.main import create_app as create_auth
from tests.conftest import RegisteredUser, Stack, common_settings
from tests.support import assert_error, free_port, serving


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
    common = common_settings(postgres.database_url, redis_url)
    auth_settings = AuthSettings(**common, password_time_cost=1, password_memory_kib=1024)  # type: ignore[arg-type]
    with serving(create_auth(auth_settings)) as auth:
        gateway_settings = GatewaySettings(**common, auth_service_url=auth.url)  # type: ignore[arg-type]
        with serving(create_gateway(gateway_settings)) as gateway, httpx.Client(base_url=gateway.url) as client:
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
