"""One embedded PostgreSQL (pgvector) and one Redis for the whole test session."""

import os
import uuid
from collections.abc import Iterator

import httpx
import pytest

# The shared test code asserts too (register_and_login, the fixtures of the provider servers): its modules are
# imported here before pytest would load them as plugins, so they are marked for assertion rewriting first.
pytest.register_assert_rewrite("tests.support")

from cognitionos_cli.embedded import EmbeddedPostgres, EmbeddedRedis, start_postgres, start_redis  # noqa: E402
from database.migrate import upgrade  # noqa: E402
from services.api_gateway.main import create_app as create_gateway  # noqa: E402
from services.auth_service.config import AuthSettings  # noqa: E402
from services.auth_service.main import create_app as create_auth  # noqa: E402
from tests.support import ThreadedServer, docker_unavailable_reason, free_port, sandbox_unavailable_reason  # noqa: E402
from tests.support.echo_upstream import create_echo_app  # noqa: E402
from tests.support.settings import ADMIN_PASSWORD, INTERNAL_SECRET, common_settings  # noqa: E402
from tests.support.stack import Stack  # noqa: E402
from tests.support.users import RegisteredUser, register_and_login  # noqa: E402

TEST_DATABASE = "cognitionos_test"

# The provider test servers and the running platform (every service, one orchestrator on the session database), each
# registered once for every folder's tests.
pytest_plugins = ["tests.support.providers", "tests.support.platform", "tests.support.s3", "tests.support.automation"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked needs_sandbox run code in bubblewrap; where it cannot run, they skip with one clear reason."""
    _skip_without_docker(items)
    needing = [item for item in items if item.get_closest_marker("needs_sandbox")]
    if os.environ.get("COGNITIONOS_REQUIRE_SANDBOX"):  # CI installs bubblewrap: there a broken sandbox must fail
        return
    if needing and (reason := sandbox_unavailable_reason()):
        for item in needing:
            item.add_marker(pytest.mark.skip(reason=reason))


def _skip_without_docker(items: list[pytest.Item]) -> None:
    """Tests marked needs_docker build images and run compose; where dockerd is not running they skip, saying why."""
    needing = [item for item in items if item.get_closest_marker("needs_docker")]
    if needing and not os.environ.get("COGNITIONOS_REQUIRE_DOCKER") and (reason := docker_unavailable_reason()):
        for item in needing:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def embedded_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield EmbeddedPostgres(server=None, database_url=external)
        return
    postgres = start_postgres(tmp_path_factory.mktemp("pg") / "data", database=TEST_DATABASE)
    yield postgres
    postgres.stop()


@pytest.fixture(scope="session")
def database_url(embedded_postgres: EmbeddedPostgres) -> str:
    upgrade(embedded_postgres.database_url)
    return embedded_postgres.database_url


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    redis = start_redis(tmp_path_factory.mktemp("redis"), port=free_port())
    yield redis
    redis.stop()


@pytest.fixture(scope="session")
def redis_url(redis_server: EmbeddedRedis) -> str:
    return redis_server.redis_url


@pytest.fixture
def unique() -> str:
    """A short unique suffix so tests sharing the session database do not collide."""
    return uuid.uuid4().hex[:10]


# --- the running stack: auth-service, a test upstream and gateways, each a real uvicorn server ---------


@pytest.fixture(scope="session")
def stack(database_url: str, redis_url: str) -> Iterator[Stack]:
    auth_settings = AuthSettings(
        **common_settings(database_url, redis_url),  # type: ignore[arg-type]
        password_time_cost=1,
        password_memory_kib=1024,
        max_failed_logins=3,
        lockout_base_seconds=2,
        bootstrap_admin_username="root_admin",
        bootstrap_admin_email="root@example.com",
        bootstrap_admin_password=ADMIN_PASSWORD,
    )
    auth = ThreadedServer(create_auth(auth_settings)).start()
    echo = ThreadedServer(create_echo_app(INTERNAL_SECRET)).start()
    partial = Stack(
        auth=auth,
        echo=echo,
        gateway=None,  # type: ignore[arg-type]  # the gateway's settings need the stack's other parts first
        auth_settings=auth_settings,
        dead_url=f"http://127.0.0.1:{free_port()}",
    )
    partial.gateway = ThreadedServer(create_gateway(partial.gateway_settings())).start()
    yield partial
    for server in (partial.gateway, echo, auth):
        server.stop()


@pytest.fixture
def gateway(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.gateway.url, timeout=10) as client:
        yield client


@pytest.fixture
def auth_direct(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.auth.url, timeout=10) as client:
        yield client


@pytest.fixture
def user(gateway: httpx.Client, unique: str) -> RegisteredUser:
    return register_and_login(gateway, unique)


@pytest.fixture
def admin_headers(gateway: httpx.Client) -> dict[str, str]:
    response = gateway.post("/api/v1/auth/login", json={"username": "root_admin", "password": ADMIN_PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
