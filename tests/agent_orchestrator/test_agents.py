from collections.abc import Iterator

import httpx
import pytest

from services.agent_orchestrator.config import OrchestratorSettings
from services.agent_orchestrator.main import create_app
from tests.support import assert_error, serving
from tests.support.settings import common_settings
from tests.support.users import identity_headers, make_user


@pytest.fixture(scope="module")
def orchestrator(database_url: str, redis_url: str) -> Iterator[str]:
    with serving(create_app(OrchestratorSettings(**common_settings(database_url, redis_url)))) as server:  # type: ignore[arg-type]
        yield server.url


def test_built_in_agents_are_seeded(orchestrator: str, database_url: str) -> None:
    agents = httpx.get(f"{orchestrator}/agents", headers=identity_headers(make_user(database_url))).json()["items"]
    assert {"planner", "executor", "critic", "summarizer"} <= {a["name"] for a in agents}


def test_registered_agents_keep_their_model_settings(orchestrator: str, database_url: str, unique: str) -> None:
    owner = identity_headers(make_user(database_url))
    body = {
        "name": f"coder-{unique}",
        "role": "executor",
        "model": "gpt-4o-mini",
        "temperature": 0.7,
        "max_tokens": 2048,
        "allowed_tools": ["execute_python"],
        "system_prompt": "You write tidy Python.",
    }
    created = httpx.post(f"{orchestrator}/agents", headers=owner, json=body)
    assert created.status_code == 201, created.text
    fetched = httpx.get(f"{orchestrator}/agents/coder-{unique}", headers=owner).json()
    assert (fetched["model"], fetched["temperature"], fetched["max_tokens"], fetched["allowed_tools"]) == (
        "gpt-4o-mini",
        0.7,
        2048,
        ["execute_python"],
    )
    assert_error(httpx.post(f"{orchestrator}/agents", headers=owner, json=body), 409, "already_exists")
    stranger = identity_headers(make_user(database_url))
    assert_error(httpx.get(f"{orchestrator}/agents/coder-{unique}", headers=stranger), 404)
    listed = httpx.get(f"{orchestrator}/agents", headers=stranger).json()["items"]
    assert all(a["name"] != f"coder-{unique}" for a in listed)


def test_bad_agent_definitions(orchestrator: str, database_url: str) -> None:
    headers = identity_headers(make_user(database_url))
    for body in (
        {"name": "x", "role": "executor"},
        {"name": "ok-name", "role": "wizard"},
        {"name": "ok-name", "role": "executor", "allowed_tools": ["rm"]},
        {"name": "ok-name", "role": "executor", "temperature": 3},
    ):
        assert_error(httpx.post(f"{orchestrator}/agents", headers=headers, json=body), 422)
    assert_error(httpx.get(f"{orchestrator}/agents"), 401)


def test_a_nul_character_in_an_agent_definition_is_refused_not_a_server_error(
    orchestrator: str, database_url: str, unique: str
) -> None:
    """Found by the OpenAPI fuzzer: PostgreSQL cannot store NUL in text, and its refusal was a 500."""
    headers = identity_headers(make_user(database_url))
    body = {"name": f"nul{unique}", "role": "critic", "system_prompt": "a\u0000b"}
    assert_error(httpx.post(f"{orchestrator}/agents", json=body, headers=headers), 422, "invalid_value")


def test_an_agent_identity_cannot_register_agents_by_any_path(orchestrator: str, database_url: str) -> None:
    agent = identity_headers(make_user(database_url), role="agent")
    body = {"name": "sneaky-agent", "role": "executor"}
    assert_error(httpx.post(f"{orchestrator}/agents", json=body, headers=agent), 403)
