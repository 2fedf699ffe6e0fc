"""Inputs a fuzzer sends to the memory-service, each test named after what it used to break: every one is a 4xx
with the error envelope, never a 500."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.support import assert_error
from tests.support.users import Caller


def _deep(levels: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(levels):
        value = {"n": value}
    return value


@pytest.mark.parametrize("field", ["agent_id", "run_id"])
def test_a_reference_to_a_missing_agent_or_run_is_refused(alice: Caller, field: str) -> None:
    one = alice.client.post("/memories", json={"content": "dangling reference", field: str(uuid.uuid4())})
    assert_error(one, 422, "unknown_reference")
    batch = alice.client.post(
        "/memories/batch", json={"memories": [{"content": "dangling in a batch", field: str(uuid.uuid4())}]}
    )
    assert_error(batch, 422, "unknown_reference")


def test_an_expiry_in_the_past_is_refused(alice: Caller) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    assert_error(alice.client.post("/memories", json={"content": "stale", "expires_at": past}), 422)
    naive = (datetime.now() + timedelta(days=1)).replace(tzinfo=None).isoformat()
    assert_error(alice.client.post("/memories", json={"content": "no zone", "expires_at": naive}), 422)


def test_nul_characters_cannot_reach_the_database(alice: Caller) -> None:
    assert_error(alice.client.post("/memories", json={"content": "a\u0000b"}), 422)
    assert_error(alice.client.post("/memories", json={"content": "x", "metadata": {"k\u0000": 1}}), 422)
    retrieve = alice.client.post("/memories/retrieve", json={"query": "x", "metadata": {"a\u0000b": "c"}})
    assert_error(retrieve, 422)
    assert_error(alice.client.get("/memories", params={"metadata": json.dumps({"a\u0000": 1})}), 400)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_embeddings_are_refused(alice: Caller, literal: str) -> None:
    vector = ", ".join(["0.1"] * 383 + [literal])
    body = f'{{"content": "odd vector", "embedding": [{vector}]}}'
    response = alice.client.post("/memories", content=body, headers={"Content-Type": "application/json"})
    assert_error(response, 422)
    query = f'{{"query_embedding": [{vector}]}}'
    response = alice.client.post("/memories/retrieve", content=query, headers={"Content-Type": "application/json"})
    assert_error(response, 422)


def test_metadata_nested_thousands_deep_is_refused(alice: Caller) -> None:
    deep = '{"n": ' * 5000 + "1" + "}" * 5000  # written out: Python's own encoder stops at its recursion limit
    in_query = '{"n": ' * 2000 + "1" + "}" * 2000  # past the decoder's recursion limit, within a URL's length
    assert_error(alice.client.get("/memories", params={"metadata": in_query}), 400, "invalid_metadata")
    shallow_enough = alice.client.post("/memories", json={"content": "nested a little", "metadata": _deep(10)})
    assert shallow_enough.status_code == 201, shallow_enough.text
    too_deep = json.dumps({"content": "x", "metadata": _deep(40)})
    response = alice.client.post("/memories", content=too_deep, headers={"Content-Type": "application/json"})
    assert_error(response, 422)
    body = '{"query": "x", "metadata": ' + deep + "}"
    response = alice.client.post("/memories/retrieve", content=body, headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
