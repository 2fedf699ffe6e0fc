"""An agent acting for a user may use only the tools its definition allows; the agent comes from the signed
identity (never from the body), and every run is recorded against it."""

import uuid

import httpx
import pytest

from shared.identity import Identity, sign_identity
from tests.support import ThreadedServer, assert_error, sql_scalar
from tests.support.settings import INTERNAL_SECRET
from tests.support.users import make_user


def agent_headers(user_id: str, agent_id: str | None) -> dict[str, str]:
    identity = Identity(user_id=user_id, username="agent:test", role="agent", auth_method="jwt", agent_id=agent_id)
    return sign_identity(identity, INTERNAL_SECRET)


def make_agent(database_url: str, allowed_tools: list[str]) -> str:
    agent_id = str(uuid.uuid4())
    sql_scalar(
        database_url,
        "INSERT INTO agents (id, name, role, allowed_tools, capabilities) VALUES (:id, :name, 'executor', CAST(:tools "
        "AS jsonb), '[]') RETURNING id",
        id=agent_id,
        name=f"perm-{agent_id[:8]}",
        tools=str(allowed_tools).replace("'", '"'),
    )
    return agent_id


@pytest.mark.needs_sandbox
def test_agent_uses_only_its_allowed_tools(tool_server: ThreadedServer, database_url: str) -> None:
    user_id, agent_id = make_user(database_url), make_agent(database_url, ["execute_python"])
    code = {"tool_name": "execute_python", "parameters": {"code": "print(6 * 7)"}}
    ran = httpx.post(
        f"{tool_server.url}/tools/execute", json=code, headers=agent_headers(user_id, agent_id), timeout=30
    )
    assert ran.status_code == 200 and ran.json()["result"]["stdout"] == "42\n"
    recorded = sql_scalar(
        database_url, "SELECT agent_id::text FROM tool_executions WHERE id = :id", id=ran.json()["execution_id"]
    )
    assert recorded == agent_id

    fetch = {"tool_name": "http_request", "parameters": {"url": "https://example.com/"}}
    refused = httpx.post(
        f"{tool_server.url}/tools/execute", json=fetch, headers=agent_headers(user_id, agent_id), timeout=30
    )
    assert_error(refused, 403, "tool_not_permitted")
    assert refused.json()["error"]["details"]["allowed_tools"] == ["execute_python"]


def test_agent_identity_must_name_a_known_agent(tool_server: ThreadedServer, database_url: str) -> None:
    user_id = make_user(database_url)
    code = {"tool_name": "execute_python", "parameters": {"code": "print(1)"}}
    for agent_id in (None, str(uuid.uuid4()), "not-a-uuid"):
        assert_error(
            httpx.post(
                f"{tool_server.url}/tools/execute", json=code, headers=agent_headers(user_id, agent_id), timeout=30
            ),
            403,
            "unknown_agent",
        )
    smuggled = {**code, "agent_id": make_agent(database_url, ["execute_python"])}
    assert_error(
        httpx.post(f"{tool_server.url}/tools/execute", json=smuggled, headers=agent_headers(user_id, None), timeout=30),
        422,
    )
