"""API keys as LiteLLM's virtual keys, through the gateway on the real services: a model allowlist, a USD budget,
tokens and requests per minute, and spend recorded per key and shown to its owner."""

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.support import ThreadedServer, assert_error
from tests.support.users import RegisteredUser, register_and_login


@pytest.fixture
def owner(platform_gateway: ThreadedServer, unique: str) -> Iterator[tuple[httpx.Client, RegisteredUser]]:
    with httpx.Client(base_url=f"{platform_gateway.url}/api/v1", timeout=60) as client:
        yield client, register_and_login(client, f"vk{unique}", prefix="/auth")


def make_key(owner: tuple[httpx.Client, RegisteredUser], **limits: Any) -> dict[str, Any]:
    client, user = owner
    created = client.post("/auth/api-keys", headers=user.headers, json={"name": f"vk-{uuid.uuid4().hex[:6]}", **limits})
    assert created.status_code == 201, created.text
    return created.json()


def chat(client: httpx.Client, key: str, model: str = "gpt-4o-mini") -> int:
    """One chat call with the official openai SDK signed by the key: the HTTP status it ended with."""
    sdk = openai.OpenAI(base_url=f"{client.base_url}ai/v1", api_key=key, max_retries=0)
    try:
        sdk.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}], max_tokens=10)
    except openai.APIStatusError as error:
        chat.last_error = error  # type: ignore[attr-defined]
        return error.status_code
    return 200


def test_a_key_may_use_only_its_allowed_models(owner: tuple[httpx.Client, RegisteredUser]) -> None:
    key = make_key(owner, allowed_models=["gpt-4o-mini"])
    assert key["allowed_models"] == ["gpt-4o-mini"]
    client, _ = owner
    assert chat(client, key["key"]) == 200
    assert chat(client, key["key"], model="claude-3-5-haiku-latest") == 403
    assert isinstance(chat.last_error, openai.PermissionDeniedError)  # type: ignore[attr-defined]
    assert chat.last_error.code == "model_not_allowed"  # type: ignore[attr-defined]


def test_a_key_stops_at_its_budget(owner: tuple[httpx.Client, RegisteredUser]) -> None:
    key = make_key(owner, max_budget_usd="0.00002")
    client, _ = owner
    statuses = []
    for _ in range(6):
        statuses.append(chat(client, key["key"]))
        if statuses[-1] == 402:
            break
    assert statuses[0] == 200 and statuses[-1] == 402 and len(statuses) >= 2, statuses
    refused = chat.last_error  # type: ignore[attr-defined]
    assert refused.code == "budget_exceeded" and "api_key" in refused.message


def test_a_key_stops_at_its_tokens_per_minute(owner: tuple[httpx.Client, RegisteredUser]) -> None:
    key = make_key(owner, tpm_limit=45)
    client, user = owner
    statuses = [chat(client, key["key"]) for _ in range(5)]
    assert statuses[0] == 200 and 429 in statuses, statuses
    assert chat(client, key["key"]) == 429
    limited = chat.last_error  # type: ignore[attr-defined]
    assert isinstance(limited, openai.RateLimitError) and limited.code == "tpm_limit_exceeded"
    assert 0 < int(limited.response.headers["retry-after"]) <= 60
    # the limit is the key's, not its owner's
    assert (
        client.post(
            "/ai/v1/chat/completions",
            headers=user.headers,
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10},
        ).status_code
        == 200
    )


def test_a_key_stops_at_its_requests_per_minute(owner: tuple[httpx.Client, RegisteredUser]) -> None:
    key = make_key(owner, rpm_limit=3)
    client, user = owner
    statuses = [client.get("/auth/me", headers={"X-API-Key": key["key"]}).status_code for _ in range(5)]
    assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429]
    assert client.get("/auth/me", headers=user.headers).status_code == 200


def test_spend_is_recorded_per_key_and_shown_to_its_owner(owner: tuple[httpx.Client, RegisteredUser]) -> None:
    client, user = owner
    first, second = make_key(owner), make_key(owner)
    for key, calls in ((first, 2), (second, 1)):
        for _ in range(calls):
            assert chat(client, key["key"]) == 200
    rows = {
        r["key"]: r
        for r in client.get("/ai/spend", params={"group_by": "api_key"}, headers=user.headers).json()["rows"]
    }
    assert rows[first["id"]]["calls"] == 2 and rows[second["id"]]["calls"] == 1 and rows[first["id"]]["cost_usd"] > 0


def test_limits_are_validated(owner: tuple[httpx.Client, RegisteredUser]) -> None:
    client, user = owner
    for bad in ({"rpm_limit": 0}, {"max_budget_usd": "-1"}, {"allowed_models": [""]}, {"tpm_limit": "many"}):
        assert_error(client.post("/auth/api-keys", headers=user.headers, json={"name": "x", **bad}), 422)
