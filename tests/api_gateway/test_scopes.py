"""Scoped API keys at the gateway: a key does what its scopes name and nothing else (403 insufficient_scope naming
the missing scope); a key made without scopes keeps its user's full power."""

from collections.abc import Iterator

import httpx
import pytest

from shared.scopes import grants, required_scope
from tests.support import ThreadedServer, assert_error
from tests.support.users import RegisteredUser, register_and_login


@pytest.fixture
def gateway_client(platform_gateway: ThreadedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=platform_gateway.url, timeout=60) as client:
        yield client


@pytest.fixture
def owner(gateway_client: httpx.Client, unique: str) -> RegisteredUser:
    return register_and_login(gateway_client, f"scoped_{unique}")


def key_with(client: httpx.Client, headers: dict[str, str], scopes: list[str] | None) -> dict[str, str]:
    body = {"name": "scoped", **({"scopes": scopes} if scopes is not None else {})}
    made = client.post("/api/v1/auth/api-keys", headers=headers, json=body)
    assert made.status_code == 201, made.text
    assert made.json()["scopes"] == (scopes or [])
    return {"X-API-Key": made.json()["key"]}


def test_a_memories_read_key_searches_but_cannot_store_or_reach_admin_routes(
    gateway_client: httpx.Client, owner: RegisteredUser, admin_headers: dict[str, str]
) -> None:
    reader = key_with(gateway_client, owner.headers, ["memories:read"])
    searched = gateway_client.post("/api/v1/memories/retrieve", headers=reader, json={"query": "tea", "k": 3})
    assert searched.status_code == 200, searched.text
    assert gateway_client.get("/api/v1/memories", headers=reader).status_code == 200
    stored = gateway_client.post("/api/v1/memories", headers=reader, json={"content": "I like tea"})
    error = assert_error(stored, 403, "insufficient_scope")
    assert error["details"]["required"] == "memories:write" and "memories:write" in error["message"]
    assert_error(gateway_client.get("/api/v1/runs", headers=reader), 403, "insufficient_scope")
    assert gateway_client.get("/api/v1/auth/me", headers=reader).json()["id"] == owner.id

    admin_reader = key_with(gateway_client, admin_headers, ["memories:read"])
    for method, path in (
        ("GET", "/api/v1/auth/audit/events"),
        ("POST", "/api/v1/auth/audit/verify"),
        ("GET", "/api/v1/auth/users"),
        ("GET", "/api/v1/ai/admin/spend"),
    ):
        answer = gateway_client.request(method, path, headers=admin_reader)
        assert assert_error(answer, 403, "insufficient_scope")["details"]["required"] == "admin"
    admin_key = key_with(gateway_client, admin_headers, ["admin"])
    assert gateway_client.get("/api/v1/auth/audit/events", headers=admin_key).status_code == 200


def test_wildcards_and_keys_without_scopes(gateway_client: httpx.Client, owner: RegisteredUser) -> None:
    files = key_with(gateway_client, owner.headers, ["files:*"])
    uploaded = gateway_client.post("/api/v1/files", headers=files, files={"file": ("a.txt", b"hello")})
    assert uploaded.status_code == 201, uploaded.text
    assert gateway_client.get("/api/v1/files", headers=files).status_code == 200
    assert_error(gateway_client.get("/api/v1/templates", headers=files), 403, "insufficient_scope")
    for full in (key_with(gateway_client, owner.headers, ["*"]), key_with(gateway_client, owner.headers, None)):
        assert gateway_client.get("/api/v1/templates", headers=full).status_code == 200
        assert gateway_client.post("/api/v1/memories/retrieve", headers=full, json={"query": "x"}).status_code == 200


def test_no_key_mints_another(gateway_client: httpx.Client, owner: RegisteredUser) -> None:
    """Keys are made from a signed-in session only: a scoped key cannot make itself a wider one."""
    keeper = key_with(gateway_client, owner.headers, ["keys:*"])
    made = gateway_client.post("/api/v1/auth/api-keys", headers=keeper, json={"name": "wider"})
    assert_error(made, 403, "session_required")


def test_unknown_scopes_are_422(gateway_client: httpx.Client, owner: RegisteredUser) -> None:
    for scopes in (["memories:delete"], ["everything"], ["runs:read", "runs"]):
        made = gateway_client.post("/api/v1/auth/api-keys", headers=owner.headers, json={"name": "x", "scopes": scopes})
        assert_error(made, 422)


@pytest.mark.parametrize(
    ("prefix", "method", "subpath", "admin_route", "needed"),
    [
        ("memories", "POST", "retrieve", False, "memories:read"),
        ("memories", "POST", "admin/reembed", False, "admin"),
        ("memories", "POST", "", False, "memories:write"),
        ("memories", "DELETE", "abc", False, "memories:write"),
        ("plans", "POST", "", False, "runs:write"),
        ("schedules", "GET", "x/next", False, "automation:read"),
        ("files", "POST", "describe", False, "files:read"),
        ("auth", "GET", "me", False, None),
        ("auth", "POST", "api-keys", False, "keys:write"),
        ("ai", "GET", "admin/spend", True, "admin"),
    ],
)
def test_each_route_needs_the_scope_of_its_resource_and_access(
    prefix: str, method: str, subpath: str, admin_route: bool, needed: str | None
) -> None:
    assert required_scope(prefix, method, subpath, admin_route=admin_route) == needed


def test_a_wildcard_grants_read_and_write_but_never_admin() -> None:
    assert grants(("runs:*",), "runs:read") and grants(("runs:*",), "runs:write")
    assert not grants(("runs:read",), "runs:write") and not grants(("runs:*",), "admin")
    assert grants(("*",), "admin") and grants(("admin",), "admin")
