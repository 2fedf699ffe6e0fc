"""The users' own tools over MCP: a registered server's tools are listed as mcp__<server>__<tool> and run through
the official SDK, recorded like any tool; credentials stay encrypted; the SSRF policy and the agents' allowlists hold;
another user sees nothing of it."""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from services.tool_runner.main import create_app
from shared.identity import Identity, sign_identity
from tests.support import ThreadedServer, assert_error, free_port, serving, sql_scalar
from tests.support.mcp_server import create_mcp_test_app
from tests.support.settings import INTERNAL_SECRET, tool_settings
from tests.support.users import identity_headers, make_user

SECRET = "Bearer mcp-s3cret-token"


@dataclass
class McpSetup:
    runner: ThreadedServer
    mcp: ThreadedServer
    user_id: str
    client: httpx.Client

    @property
    def mcp_url(self) -> str:
        return f"{self.mcp.url}/mcp"

    def register(self, name: str = "test", **fields: Any) -> httpx.Response:
        body = {"name": name, "url": self.mcp_url, "headers": {"Authorization": SECRET}, **fields}
        return self.client.post("/tools/mcp-servers", json=body)

    def call(self, tool: str, parameters: dict[str, Any], **fields: Any) -> httpx.Response:
        return self.client.post("/tools/execute", json={"tool_name": tool, "parameters": parameters, **fields})


@pytest.fixture
def setup(database_url: str, redis_url: str) -> Iterator[McpSetup]:
    # The test MCP server listens on loopback: allowed here as an operator allows a self-hosted server.
    settings = tool_settings(database_url, redis_url, http_allowed_private_addresses=["127.0.0.1"])
    user_id = make_user(database_url)
    with (
        serving(create_mcp_test_app()) as mcp_server,
        serving(create_app(settings)) as runner,
        httpx.Client(base_url=runner.url, headers=identity_headers(user_id), timeout=60) as client,
    ):
        yield McpSetup(runner, mcp_server, user_id, client)


def test_a_registered_servers_tools_are_listed_and_run_like_any_tool(setup: McpSetup, database_url: str) -> None:
    registered = setup.register()
    assert registered.status_code == 201, registered.text
    server = registered.json()
    assert {t["name"] for t in server["tools"]} == {"mcp__test__add", "mcp__test__slow"}
    add = next(t for t in server["tools"] if t["name"] == "mcp__test__add")
    assert add["input_schema"]["required"] == ["a", "b"] and add["tool"] == "add"
    listed = {t["name"]: t for t in setup.client.get("/tools").json()}
    assert listed["mcp__test__add"]["parameters"]["properties"]["a"]["type"] == "integer"
    assert "execute_python" in listed

    ran = setup.call("mcp__test__add", {"a": 2, "b": 3})
    assert ran.status_code == 200, ran.text
    body = ran.json()
    assert (
        body["status"] == "succeeded"
        and body["result"]["text"] == "5"
        and body["result"]["structured"] == {"result": 5}
    )
    recorded = sql_scalar(database_url, "SELECT tool_name FROM tool_executions WHERE id = :e", e=body["execution_id"])
    assert recorded == "mcp__test__add"
    assert any(h.get("authorization") == SECRET for h in setup.mcp.app.state.headers)  # the stored credential went


def test_an_older_server_on_the_sse_transport_works_too(setup: McpSetup) -> None:
    registered = setup.client.post(
        "/tools/mcp-servers", json={"name": "legacy", "url": f"{setup.mcp.url}/sse", "transport": "sse"}
    )
    assert registered.status_code == 201, registered.text
    assert {t["name"] for t in registered.json()["tools"]} == {"mcp__legacy__add", "mcp__legacy__slow"}
    body = setup.call("mcp__legacy__add", {"a": 40, "b": 2}).json()
    assert body["status"] == "succeeded" and body["result"]["text"] == "42"


def test_headers_are_stored_encrypted_and_never_returned(setup: McpSetup, database_url: str) -> None:
    server = setup.register().json()
    stored = str(sql_scalar(database_url, "SELECT headers_encrypted FROM mcp_servers WHERE id = :s", s=server["id"]))
    assert "s3cret" not in stored and stored.startswith("gAAAA")  # a Fernet token
    for answer in (
        setup.client.get(f"/tools/mcp-servers/{server['id']}"),
        setup.client.get("/tools/mcp-servers"),
        setup.client.post(f"/tools/mcp-servers/{server['id']}/refresh"),
    ):
        assert answer.status_code == 200 and "s3cret" not in answer.text
    assert setup.client.get(f"/tools/mcp-servers/{server['id']}").json()["header_names"] == ["Authorization"]


def test_registering_and_deleting_a_server_are_audited_without_its_headers(setup: McpSetup, database_url: str) -> None:
    server = setup.register().json()
    assert setup.client.delete(f"/tools/mcp-servers/{server['id']}").status_code == 204
    rows: Any = sql_scalar(
        database_url,
        "SELECT json_agg(json_build_object('action', action, 'actor', actor_user_id, 'details', details) ORDER BY id) "
        "FROM audit_events WHERE target_id = :s",
        s=server["id"],
    )
    assert [(r["action"], r["actor"]) for r in rows] == [
        ("mcp_server.created", setup.user_id),
        ("mcp_server.deleted", setup.user_id),
    ]
    assert "s3cret" not in str(rows) and "Authorization" not in str(rows)


def test_a_slow_tool_ends_in_a_timeout(setup: McpSetup) -> None:
    setup.register()
    body = setup.call("mcp__test__slow", {"seconds": 30}, timeout_seconds=1).json()
    assert body["status"] == "timeout" and body["result"] is None


def test_a_tool_error_or_bad_arguments_are_a_failed_run_not_a_server_error(setup: McpSetup) -> None:
    setup.register()
    bad = setup.call("mcp__test__add", {"a": "two"}).json()
    assert bad["status"] == "failed" and bad["result"]["is_error"] is True and "validation" in bad["error"]
    assert_error(setup.call("mcp__test__nosuch", {}), 404, "unknown_tool")
    assert_error(setup.call("mcp__other__add", {}), 404, "unknown_tool")
    assert_error(setup.call("mcp__Bad Name", {}), 422)


def test_a_loopback_or_link_local_server_is_refused_unless_allowed(database_url: str, redis_url: str) -> None:
    user_id = make_user(database_url)
    with (
        serving(create_mcp_test_app()) as mcp_server,
        serving(create_app(tool_settings(database_url, redis_url))) as runner,
        httpx.Client(base_url=runner.url, headers=identity_headers(user_id), timeout=60) as client,
    ):
        for url in (f"{mcp_server.url}/mcp", "http://169.254.169.254/mcp", "http://[::1]:8080/mcp"):
            refused = client.post("/tools/mcp-servers", json={"name": "local", "url": url})
            assert_error(refused, 422, "ssrf_blocked")
        assert client.get("/tools/mcp-servers").json() == []


def test_an_unreachable_or_non_mcp_server_is_422_mcp_unreachable(setup: McpSetup) -> None:
    nothing_there = setup.client.post(
        "/tools/mcp-servers", json={"name": "gone", "url": f"http://127.0.0.1:{free_port()}/mcp"}
    )
    assert_error(nothing_there, 422, "mcp_unreachable")
    not_mcp = setup.client.post("/tools/mcp-servers", json={"name": "web", "url": f"{setup.mcp.url}/not-mcp"})
    assert_error(not_mcp, 422, "mcp_unreachable")
    assert "reason" in not_mcp.json()["error"]["details"]


def test_an_agent_allowed_one_mcp_tool_gets_403_on_another(setup: McpSetup, database_url: str) -> None:
    setup.register()
    agent_id = str(uuid.uuid4())
    sql_scalar(
        database_url,
        "INSERT INTO agents (id, name, role, allowed_tools, owner_id) "
        "VALUES (:a, :n, 'executor', '[\"mcp__test__add\"]'::jsonb, :u) RETURNING 1",
        a=agent_id,
        n=f"adder-{agent_id[:8]}",
        u=setup.user_id,
    )
    with httpx.Client(base_url=setup.runner.url, timeout=60) as client:

        def as_agent(tool: str, parameters: dict[str, Any]) -> httpx.Response:
            headers = agent_identity(setup.user_id, agent_id)
            return client.post("/tools/execute", json={"tool_name": tool, "parameters": parameters}, headers=headers)

        assert as_agent("mcp__test__add", {"a": 1, "b": 1}).json()["status"] == "succeeded"
        assert_error(as_agent("mcp__test__slow", {"seconds": 0}), 403, "tool_not_permitted")


def test_an_api_key_allowed_one_mcp_tool_gets_403_on_another(setup: McpSetup, database_url: str) -> None:
    setup.register()
    key_id = str(uuid.uuid4())
    sql_scalar(
        database_url,
        "INSERT INTO api_keys (id, user_id, name, prefix, key_hash, allowed_tools) "
        "VALUES (:k, :u, 'adder', 'cos_x', :h, '[\"mcp__test__add\"]'::jsonb) RETURNING 1",
        k=key_id,
        u=setup.user_id,
        h=uuid.uuid4().hex,
    )
    headers = identity_headers(setup.user_id, api_key_id=key_id)
    with httpx.Client(base_url=setup.runner.url, headers=headers, timeout=60) as as_key:

        def run(tool: str, parameters: dict[str, Any]) -> httpx.Response:
            return as_key.post("/tools/execute", json={"tool_name": tool, "parameters": parameters})

        assert run("mcp__test__add", {"a": 1, "b": 1}).json()["status"] == "succeeded"
        assert_error(run("mcp__test__slow", {"seconds": 0}), 403, "tool_not_permitted")
        assert_error(run("execute_python", {"code": "print(1)"}), 403, "tool_not_permitted")


def test_another_user_cannot_see_or_call_the_servers_tools(setup: McpSetup, database_url: str) -> None:
    server = setup.register().json()
    other = identity_headers(make_user(database_url))
    with httpx.Client(base_url=setup.runner.url, headers=other, timeout=60) as client:
        assert_error(client.get(f"/tools/mcp-servers/{server['id']}"), 404)
        assert_error(client.delete(f"/tools/mcp-servers/{server['id']}"), 404)
        assert client.get("/tools/mcp-servers").json() == []
        assert "mcp__test__add" not in {t["name"] for t in client.get("/tools").json()}
        assert_error(
            client.post("/tools/execute", json={"tool_name": "mcp__test__add", "parameters": {"a": 1, "b": 2}}),
            404,
            "unknown_tool",
        )


def test_registry_input_is_checked_and_a_deleted_servers_tools_are_gone(setup: McpSetup) -> None:
    for body in (
        {"name": "two__underscores", "url": setup.mcp_url},
        {"name": "UPPER", "url": setup.mcp_url},
        {"name": "ok", "url": "file:///etc/passwd"},
        {"name": "ok", "url": setup.mcp_url, "transport": "stdio"},
        {"name": "ok", "url": setup.mcp_url, "command": "rm -rf /"},
    ):
        assert_error(setup.client.post("/tools/mcp-servers", json=body), 422)
    server = setup.register().json()
    assert_error(setup.register(), 409, "already_exists")
    assert_error(setup.register(name="everyone", shared=True), 403, "admin_only")
    assert setup.client.delete(f"/tools/mcp-servers/{server['id']}").status_code == 204
    assert "mcp__test__add" not in {t["name"] for t in setup.client.get("/tools").json()}
    assert_error(setup.call("mcp__test__add", {"a": 1, "b": 2}), 404, "unknown_tool")


def agent_identity(user_id: str, agent_id: str) -> dict[str, str]:
    """Signed headers of an agent acting for the user (the agent named in the identity, as the orchestrator signs)."""
    identity = Identity(user_id=user_id, username="agent:adder", role="agent", auth_method="jwt", agent_id=agent_id)
    return sign_identity(identity, INTERNAL_SECRET)
