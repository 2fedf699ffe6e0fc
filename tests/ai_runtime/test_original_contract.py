"""The original CognitionOS API as its clients call it: /health's status words and the ai-runtime's providers at
its top level, role assignments in /models, the ada-002 embedding model its users still name (known, priced, and
saying what to set without a key)."""

import httpx

from services.ai_runtime.main import create_app
from tests.support import ThreadedServer, assert_error, serving
from tests.support.settings import runtime_settings
from tests.support.users import identity_headers


def test_models_answers_role_assignments_as_before(ai: httpx.Client) -> None:
    body = ai.get("/models").json()
    assert body["role_assignments"] == body["role_models"] and "planner" in body["role_assignments"]
    ada = next(m for m in body["models"] if m["name"] == "text-embedding-ada-002")
    assert ada["kind"] == "embedding" and ada["dimensions"] == 1536 and ada["input_usd_per_mtok"] == 0.10


def test_embedding_with_ada_002_is_served_and_priced(ai: httpx.Client) -> None:
    body = ai.post("/embed", json={"texts": ["hello"], "model": "text-embedding-ada-002"}).json()
    assert body["model_used"] == "text-embedding-ada-002" and len(body["embeddings"]) == 1


def test_ada_002_without_an_openai_key_says_what_to_set(database_url: str, redis_url: str, user_id: str) -> None:
    with serving(create_app(runtime_settings(database_url, redis_url, None))) as server:
        response = httpx.post(
            f"{server.url}/embed",
            headers=identity_headers(user_id),
            json={"texts": ["x"], "model": "text-embedding-ada-002"},
        )
    assert "OPENAI_API_KEY" in assert_error(response, 503, "model_unavailable")["message"]


def test_health_answers_the_original_status_words_and_lists_providers(runtime_server: ThreadedServer) -> None:
    body = httpx.get(f"{runtime_server.url}/health").json()
    assert body["status"] == "healthy" and body["providers"]["openai"] == "live"
    assert body["providers"] == body["details"]["providers"]


def test_the_gateway_is_healthy_degraded_or_unhealthy(gateway: httpx.Client) -> None:
    # The test stack's tool-runner is not running: the system is up but degraded.
    assert gateway.get("/health").json()["status"] == "degraded"
