"""Memory behaviour with real pgvector and the real local embedding model."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support import ThreadedServer, assert_error, eventually, sql_scalar
from tests.support.stack import Stack
from tests.support.users import Caller, make_user

FACTS = [
    ("The user writes most of their code in Python and likes type hints", "preference"),
    ("The user's cat is called Miso", "fact"),
    ("Deployments happen every Tuesday after the standup", "pattern"),
    ("The user is allergic to peanuts", "fact"),
]


def _seed(caller: Caller) -> None:
    for content, memory_type in FACTS:
        caller.remember(content, memory_type=memory_type, metadata={"topic": memory_type})


def test_relevance_puts_the_python_memory_first(alice: Caller) -> None:
    _seed(alice)
    results = alice.retrieve("Which programming languages does the user use?", k=3)
    assert results[0]["content"].startswith("The user writes most of their code in Python")
    scores = [r["relevance_score"] for r in results]
    assert scores == sorted(scores, reverse=True) and len(results) == 3
    assert results[0]["embedding_model"] == "all-minilm-l6-v2"


def test_filters(alice: Caller) -> None:
    _seed(alice)
    assert {r["memory_type"] for r in alice.retrieve("user", k=10, memory_types=["fact"])} == {"fact"}
    assert [r["content"] for r in alice.retrieve("user", k=10, metadata={"topic": "pattern"})] == [FACTS[2][0]]
    alice.remember("The user might like jazz", memory_type="preference", confidence=0.3)
    assert all(r["confidence"] >= 0.5 for r in alice.retrieve("music", k=10, min_confidence=0.5))
    alice.remember("Working note for this session", memory_type="working", scope="session", session_id="s-1")
    assert [r["content"] for r in alice.retrieve("note", k=10, scopes=["session"], session_id="s-1")] == [
        "Working note for this session"
    ]


def test_an_evals_memories_are_seen_only_by_searches_that_ask_for_its_scope(alice: Caller) -> None:
    """An eval's runs store their memories in the eval scope: the user's own recall never meets them."""
    alice.remember("The user's favourite tea is oolong", memory_type="preference")
    alice.remember("The code word is tangerine", scope="eval", session_id="eval:e1", metadata={"run_id": "r1"})
    alice.remember("The code word is clementine", scope="eval", session_id="eval:e1", metadata={"run_id": "r2"})

    assert [r["scope"] for r in alice.retrieve("code word", k=10)] == ["user"]
    listed = alice.client.get("/memories").json()["items"]
    assert [m["scope"] for m in listed] == ["user"]
    own = alice.retrieve("code word", k=10, scopes=["eval"], session_id="eval:e1", metadata={"run_id": "r1"})
    assert [r["content"] for r in own] == ["The code word is tangerine"]
    deleted = alice.client.delete("/memories", params={"scope": "eval", "session_id": "eval:e1"}).json()
    assert deleted["deleted"] == 2
    assert alice.retrieve("code word", k=10, scopes=["eval"]) == []


def test_users_are_isolated_and_global_is_shared(
    alice: Caller, bob: Caller, memory_server: ThreadedServer, database_url: str
) -> None:
    secret = alice.remember("Alice's bank PIN hint is her first dog's name")
    assert all(r["id"] != secret["id"] for r in bob.retrieve("bank PIN hint", k=20))
    assert_error(bob.client.get(f"/memories/{secret['id']}"), 404)
    assert_error(bob.client.put(f"/memories/{secret['id']}", json={"confidence": 0.1}), 404)
    assert_error(bob.client.delete(f"/memories/{secret['id']}"), 404)
    # A user cannot act for someone else by naming them in the body.
    stored = bob.client.post("/memories", json={"content": "Bob's own note", "user_id": alice.user_id}).json()
    assert stored["user_id"] == bob.user_id
    assert all(r["id"] != secret["id"] for r in bob.retrieve("bank PIN hint", k=20, user_id=alice.user_id))

    assert_error(
        alice.client.post("/memories", json={"content": "Company holidays are in August", "scope": "global"}), 403
    )
    agent = Caller(memory_server.url, make_user(database_url), role="agent")
    shared = agent.remember("Company holidays are in August", scope="global")
    assert any(r["id"] == shared["id"] for r in bob.retrieve("When are the company holidays?", k=5))
    assert bob.client.get(f"/memories/{shared['id']}").status_code == 200
    assert_error(bob.client.delete(f"/memories/{shared['id']}"), 403)


def test_near_duplicates_update_instead_of_copying(alice: Caller) -> None:
    first = alice.remember("The user's favourite editor is Neovim", confidence=0.6, metadata={"a": 1})
    again = alice.client.post(
        "/memories", json={"content": "The user's favourite editor is Neovim.", "confidence": 0.9, "metadata": {"b": 2}}
    )
    assert again.status_code == 200
    body = again.json()
    assert body["deduplicated"] and body["id"] == first["id"]
    assert body["confidence"] == 0.9 and body["access_count"] == 1 and body["metadata"] == {"a": 1, "b": 2}
    different = alice.remember("The user's favourite drink is green tea")
    assert different["id"] != first["id"] and not different["deduplicated"]
    assert len(alice.client.get("/memories").json()["items"]) == 2


def test_hybrid_search_fuses_full_text(alice: Caller) -> None:
    _seed(alice)
    target = alice.remember("Ticket XJ-9000 tracks the flaky login test")
    results = alice.retrieve("XJ-9000", k=3, hybrid=True)
    assert results[0]["id"] == target["id"] and results[0]["fused_score"] > 0
    assert all(r["fused_score"] is not None for r in results)
    assert_error(
        alice.client.post("/memories/retrieve", json={"query_embedding": [0.0] * 384, "hybrid": True}),
        400,
        "missing_query",
    )


def test_cursor_pagination_walks_everything_once(alice: Caller) -> None:
    ids = {
        alice.remember(f"Numbered memory about topic {word}")["id"]
        for word in ("alpha", "violin", "glacier", "tax forms", "sourdough")
    }
    seen, cursor = [], None
    while True:
        page = alice.client.get("/memories", params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        seen += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 5 and set(seen) == ids
    assert_error(alice.client.get("/memories", params={"cursor": "garbage"}), 400, "invalid_cursor")


def test_update_and_delete(alice: Caller) -> None:
    memory = alice.remember("The user lives in Lisbon")
    updated = alice.client.put(
        f"/memories/{memory['id']}", json={"content": "The user lives in Porto", "confidence": 0.8}
    ).json()
    assert updated["content"] == "The user lives in Porto" and updated["confidence"] == 0.8
    assert alice.retrieve("Which city does the user live in?", k=1)[0]["content"] == "The user lives in Porto"
    assert alice.client.delete(f"/memories/{memory['id']}").status_code == 204
    assert_error(alice.client.get(f"/memories/{memory['id']}"), 404)


def test_delete_by_filter_needs_a_filter_and_touches_only_own_rows(alice: Caller, bob: Caller) -> None:
    alice.remember("Scratch note one", memory_type="working")
    alice.remember("A lasting fact about the user's garden", memory_type="long_term")
    bob.remember("Bob's scratch note", memory_type="working")
    assert_error(alice.client.delete("/memories"), 400, "filter_required")
    assert alice.client.delete("/memories", params={"memory_type": "working"}).json() == {"deleted": 1}
    assert [m["memory_type"] for m in alice.client.get("/memories").json()["items"]] == ["long_term"]
    assert len(bob.client.get("/memories").json()["items"]) == 1


def test_sensitive_memories_are_encrypted_and_hidden_by_default(alice: Caller, database_url: str) -> None:
    memory = alice.remember("The user's passport number is X1234567", is_sensitive=True)
    assert memory["content"] == "The user's passport number is X1234567"
    stored = str(sql_scalar(database_url, "SELECT content FROM memories WHERE id = :id", id=memory["id"]))
    assert "X1234567" not in stored and stored.startswith("gAAAA")  # a Fernet token
    assert all(r["id"] != memory["id"] for r in alice.retrieve("passport number", k=10))
    found = alice.retrieve("passport number", k=10, include_sensitive=True)
    assert found[0]["id"] == memory["id"] and found[0]["content"].endswith("X1234567")


def test_expired_memories_are_invisible_then_purged(alice: Caller, database_url: str) -> None:
    past = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    memory = alice.remember("A reminder that expires almost at once", expires_at=past)
    eventually(lambda: alice.client.get(f"/memories/{memory['id']}").status_code == 404)  # once its second passed
    assert all(r["id"] != memory["id"] for r in alice.retrieve("reminder that expires", k=10))
    eventually(lambda: sql_scalar(database_url, "SELECT count(*) FROM memories WHERE id = :id", id=memory["id"]) == 0)


def test_access_bookkeeping(alice: Caller) -> None:
    memory = alice.remember("The user's dentist appointment is on Friday")
    for _ in range(3):
        alice.retrieve("dentist appointment", k=1)
    # Accesses are counted in batches, off the request's path.
    body = eventually(lambda: (b := alice.client.get(f"/memories/{memory['id']}").json())["access_count"] == 3 and b)
    assert body["accessed_at"] is not None


def test_bad_input_is_4xx(alice: Caller) -> None:
    c = alice.client
    bodies: tuple[dict[str, Any], ...] = (
        {"query": "x", "k": 0},
        {"query": "x", "k": 101},
        {"query": "   "},
        {"query": "x", "memory_types": ["dream"]},
        {"query": "x", "k": "ten"},
    )
    for body in bodies:
        assert_error(c.post("/memories/retrieve", json=body), 422)
    assert_error(c.post("/memories/retrieve", json={"k": 3}), 400, "missing_query")
    assert_error(c.post("/memories/retrieve", json={"query_embedding": [0.1, 0.2]}), 400, "bad_embedding")
    for body in (
        {"content": ""},
        {"content": "   "},
        {"content": "x", "memory_type": "dream"},
        {"content": "x", "confidence": 2},
        {"content": "x" * 20_001},
        {"content": 5},
        {"content": "x", "scope": "galaxy"},
    ):
        assert_error(c.post("/memories", json=body), 422)
    assert_error(c.post("/memories", json={"content": "x", "embedding": [0.0] * 10}), 400, "bad_embedding")
    assert_error(
        c.put(f"/memories/{uuid.uuid4()}", content=b"not json", headers={"content-type": "application/json"}), 422
    )
    assert_error(c.get("/memories", params={"metadata": "{broken"}), 400, "invalid_metadata")
    assert_error(c.get("/memories/not-a-uuid"), 422)
    assert_error(c.post("/memories/batch", json={"memories": []}), 422)
    assert_error(c.post("/memories/batch", content=b"{not json", headers={"content-type": "application/json"}), 422)
    bad_item = c.post(
        "/memories/batch", json={"memories": [{"content": "fine"}, {"content": "x", "confidence": "high"}]}
    )
    assert_error(bad_item, 422)
    assert bad_item.json()["error"]["details"]["errors"][0]["loc"] == ["body", "memories", 1, "confidence"]


def test_duplicates_inside_one_batch_become_one_memory(alice: Caller) -> None:
    body = {
        "memories": [
            {"content": "The user's birthday is on 3 May", "confidence": 0.5},
            {"content": "The user's birthday is on 3 May.", "confidence": 0.8, "metadata": {"src": "chat"}},
        ]
    }
    first, second = alice.client.post("/memories/batch", json=body).json()
    assert second["deduplicated"] and second["id"] == first["id"]
    stored = alice.client.get(f"/memories/{first['id']}").json()
    assert stored["confidence"] == 0.8 and stored["access_count"] == 1 and stored["metadata"] == {"src": "chat"}


def test_batch_insert_and_health_count(alice: Caller, memory_server: ThreadedServer) -> None:
    stored = alice.client.post(
        "/memories/batch",
        json={"memories": [{"content": f"Batch fact number {w}"} for w in ("one", "kettle", "orbit")]},
    )
    assert stored.status_code == 201 and len(stored.json()) == 3
    health = httpx.get(f"{memory_server.url}/health").json()
    assert health["details"]["database"] == "ok" and health["details"]["memories"] >= 3


def test_requires_identity(memory_server: ThreadedServer) -> None:
    assert_error(httpx.post(f"{memory_server.url}/memories", json={"content": "x"}), 401)


def test_through_the_gateway_the_user_comes_from_the_token(
    stack: Stack, memory_server: ThreadedServer, gateway: httpx.Client, unique: str
) -> None:
    from services.api_gateway.main import create_app as create_gateway
    from tests.support import serving
    from tests.support.users import register_and_login

    with (
        serving(create_gateway(stack.gateway_settings(memory_service_url=memory_server.url))) as gw,
        httpx.Client(base_url=gw.url, timeout=60) as client,
    ):
        owner, other = register_and_login(client, f"mo{unique}"), register_and_login(client, f"mt{unique}")
        stored = client.post(
            "/api/v1/memories",
            headers=owner.headers,
            json={"content": "Gateway memory about the red bicycle", "user_id": other.id},
        )
        assert stored.status_code == 201 and stored.json()["user_id"] == owner.id
        found = client.post(
            "/api/v1/memories/retrieve", headers=owner.headers, json={"query": "bicycle", "k": 1}
        ).json()
        assert found[0]["id"] == stored.json()["id"]
        others_view = client.post(
            "/api/v1/memories/retrieve", headers=other.headers, json={"query": "red bicycle", "k": 5}
        ).json()
        assert all(r["id"] != stored.json()["id"] for r in others_view)
        assert client.get(f"/api/v1/memories/{stored.json()['id']}", headers=other.headers).status_code == 404
        assert client.post("/api/v1/memories/retrieve", json={"query": "x"}).status_code == 401


def test_reembed_moves_rows_to_the_current_model(
    alice: Caller, memory_server: ThreadedServer, database_url: str
) -> None:
    memory = alice.remember("A memory stored under an older embedding model")
    sql_scalar(
        database_url, "UPDATE memories SET embedding_model = 'old-model' WHERE id = :id RETURNING id", id=memory["id"]
    )
    # Rows of another model are never mixed into search results.
    assert all(r["id"] != memory["id"] for r in alice.retrieve("older embedding model", k=10))
    assert_error(alice.client.post("/memories/admin/reembed"), 403)
    admin = Caller(memory_server.url, make_user(database_url), role="admin")
    result = admin.client.post("/memories/admin/reembed", params={"limit": 5000}).json()
    assert result["reembedded"] >= 1 and result["remaining"] == 0 and result["model"] == "all-minilm-l6-v2"
    assert alice.retrieve("older embedding model", k=1)[0]["id"] == memory["id"]


def test_dedup_finds_the_first_memory_without_a_table_scan(alice: Caller) -> None:
    first = alice.remember("The user's favourite mountain is Mont Blanc")
    again = alice.client.post("/memories", json={"content": "The user's favourite mountain is Mont Blanc."})
    assert again.status_code == 200 and again.json()["id"] == first["id"]
    assert not alice.remember("The user's favourite river is the Douro")["deduplicated"]


@pytest.mark.parametrize("exact_scan_limit", [2000, 0], ids=["small-owner-exact", "large-owner-hnsw"])
def test_dedup_when_other_users_crowd_the_nearest_rows(
    alice: Caller,
    memory_server: ThreadedServer,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    exact_scan_limit: int,
) -> None:
    import services.memory_service.repository as memory_repository
    import services.memory_service.service as memory_service

    monkeypatch.setattr(memory_repository, "DEDUP_PROBE", 2)  # the unfiltered pass sees only the 2 nearest rows
    monkeypatch.setattr(memory_service, "EXACT_DEDUP_MAX_ROWS", exact_scan_limit)
    text = f"Everyone's office wifi password rotates every month ({exact_scan_limit})"
    mine = alice.remember(text + "!")  # near-identical to what comes next, but the others' copies are nearer still
    for _ in range(3):  # three other users store exactly the text alice stores again below
        other = Caller(memory_server.url, make_user(database_url))
        assert not other.remember(text)["deduplicated"]
        other.client.close()
    again = alice.client.post("/memories", json={"content": text})
    assert again.status_code == 200 and again.json()["id"] == mine["id"]
