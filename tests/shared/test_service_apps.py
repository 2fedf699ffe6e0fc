"""Every service starts, answers its probes and publishes OpenAPI that documents its routes."""

import gc

import httpx
import pytest

from shared.services import SERVICES, ServiceSpec
from tests.support import serving
from tests.support.settings import service_app


@pytest.mark.parametrize("spec", SERVICES, ids=[s.name for s in SERVICES])
def test_probes_and_openapi(spec: ServiceSpec, database_url: str, redis_url: str) -> None:
    with (
        serving(service_app(spec.package, database_url, redis_url)) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        assert client.get("/ready").json() == {
            "status": "ready",
            "service": spec.name,
            "checks": {"database": True, "redis": True},
        }
        health = client.get("/health")
        assert health.status_code == 200
        openapi = client.get("/openapi.json").json()
        assert "/health" in openapi["paths"] and "/ready" in openapi["paths"]
        assert openapi["info"]["title"].endswith(spec.name)
        missing = client.get("/definitely-not-here")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("spec", SERVICES[1:], ids=[s.name for s in SERVICES[1:]])
def test_ready_is_503_when_dependencies_are_down(spec: ServiceSpec, redis_url: str) -> None:
    app = service_app(spec.package, "postgresql+asyncpg://nobody@127.0.0.1:1/none", "redis://127.0.0.1:1/0")
    with serving(app) as server, httpx.Client(base_url=server.url) as client:
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"] == {"database": False, "redis": False}
        assert client.get("/health").status_code == 200


def test_auth_openapi_documents_every_endpoint(database_url: str, redis_url: str) -> None:
    app = service_app("auth_service", database_url, redis_url)
    paths = app.openapi()["paths"]
    assert {
        "/register",
        "/login",
        "/refresh",
        "/logout",
        "/me",
        "/users",
        "/users/{user_id}/role",
        "/api-keys",
        "/api-keys/{key_id}",
    } <= set(paths)
    assert "409" in paths["/register"]["post"]["responses"]


def test_startup_objects_are_frozen_out_of_the_collector(database_url: str, redis_url: str) -> None:
    with serving(service_app("api_gateway", database_url, redis_url)):
        assert gc.get_freeze_count() > 100_000


def test_only_the_gateway_answers_browsers_cross_origin(database_url: str, redis_url: str) -> None:
    origin = {"Origin": "https://console.example"}
    with serving(service_app("memory_service", database_url, redis_url)) as server:
        assert "access-control-allow-origin" not in httpx.get(f"{server.url}/health", headers=origin).headers
    with serving(service_app("api_gateway", database_url, redis_url)) as server:
        assert httpx.get(f"{server.url}/ready", headers=origin).headers["access-control-allow-origin"] == "*"
