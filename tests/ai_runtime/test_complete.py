"""/complete against real SDKs and wire-protocol test servers: usage, cost, retries, fallback, cooldown, streaming."""

import json
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest

from services.ai_runtime.main import create_app
from tests.support import ThreadedServer, assert_error, serving
from tests.support.ledger import usage_rows
from tests.support.providers import Providers
from tests.support.settings import runtime_settings
from tests.support.users import identity_headers, signed_client


def test_openai_completion_reports_usage_cost_and_ledger(
    ai: httpx.Client, providers: Providers, database_url: str, user_id: str
) -> None:
    response = ai.post(
        "/complete", json={"model": "gpt-4o-mini", "prompt": "Say hello", "max_tokens": 20, "temperature": 0}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["content"] == "Hello from the OpenAI test server"
    assert (body["model_used"], body["provider"]) == ("gpt-4o-mini", "openai")
    assert (body["prompt_tokens"], body["completion_tokens"], body["tokens_used"]) == (11, 7, 18)
    assert Decimal(str(body["cost_usd"])) == (Decimal("0.15") * 11 + Decimal("0.60") * 7) / 1_000_000
    sent = providers.openai_app.state.requests[0]
    assert sent["body"]["messages"][-1] == {"role": "user", "content": "Say hello"}
    assert sent["headers"]["authorization"] == "Bearer sk-test"
    (row,) = usage_rows(database_url, user_id)
    assert (row.model, row.provider, row.prompt_tokens, row.completion_tokens, row.status, row.cached) == (
        "gpt-4o-mini",
        "openai",
        11,
        7,
        "success",
        False,
    )
    assert row.cost_usd == Decimal(str(body["cost_usd"])).quantize(Decimal("0.00000001"))


def test_anthropic_completion(ai: httpx.Client, providers: Providers) -> None:
    body = ai.post(
        "/complete",
        json={
            "model": "claude-3-5-haiku-latest",
            "context": [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Hi"}],
        },
    ).json()
    assert body["content"] == "Hello from the Anthropic test server" and body["provider"] == "anthropic"
    assert (body["prompt_tokens"], body["completion_tokens"], body["finish_reason"]) == (13, 9, "stop")
    sent = providers.anthropic_app.state.requests[0]
    assert sent["body"]["system"] == "Be brief" and sent["body"]["messages"] == [{"role": "user", "content": "Hi"}]
    assert "sk-ant-test" in (sent["headers"].get("x-api-key", "") + sent["headers"].get("authorization", ""))


def test_openai_compatible_server_by_base_url(ai: httpx.Client, providers: Providers) -> None:
    body = ai.post("/complete", json={"model": "llama3.1:8b", "prompt": "hi"}).json()
    assert (body["model_used"], body["provider"], body["cost_usd"]) == ("llama3.1:8b", "openai_compatible", 0)
    sent = providers.openai_app.state.requests[0]
    assert sent["body"]["model"] == "llama3.1:8b" and sent["headers"]["authorization"] == "Bearer not-needed"


def test_retries_429_honouring_retry_after(ai: httpx.Client, providers: Providers) -> None:
    providers.openai_app.state.script.steps = [("status", 429, 1)]
    response = ai.post("/complete", json={"model": "gpt-4o-mini", "prompt": "x"})
    assert response.status_code == 200 and response.json()["model_used"] == "gpt-4o-mini"
    first, second = providers.openai_app.state.requests
    assert second["at"] - first["at"] >= 0.95  # waited as told, not the 10 ms backoff


def test_retries_5xx_and_malformed_bodies(ai: httpx.Client, providers: Providers) -> None:
    providers.openai_app.state.script.steps = [("status", 500), ("malformed",)]
    response = ai.post("/complete", json={"model": "gpt-4o-mini", "prompt": "x"})
    assert response.status_code == 200 and response.json()["provider"] == "openai"
    assert len(providers.openai_app.state.requests) == 3


def test_falls_back_across_providers_and_says_who_answered(ai: httpx.Client, providers: Providers) -> None:
    providers.openai_app.state.script.always = ("status", 503)
    body = ai.post("/complete", json={"role": "executor", "prompt": "do it"}).json()
    assert (body["model_used"], body["provider"]) == ("claude-3-5-haiku-latest", "anthropic")
    assert body["fallbacks_tried"] == ["gpt-4o-mini"]
    assert len(providers.openai_app.state.requests) == 3  # one try + max_retries


def test_timeout_falls_back(ai: httpx.Client, providers: Providers) -> None:
    providers.openai_app.state.script.always = ("slow", 5)
    body = ai.post("/complete", json={"role": "critic", "prompt": "x"}).json()
    assert body["provider"] == "anthropic"


def test_cooldown_skips_a_failing_deployment(
    database_url: str, redis_url: str, providers: Providers, user_id: str
) -> None:
    settings = runtime_settings(
        database_url, redis_url, providers, max_retries=0, cooldown_failures=2, cooldown_seconds=60
    )
    providers.openai_app.state.script.always = ("status", 500)
    with serving(create_app(settings)) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        for _ in range(2):
            assert (
                client.post(
                    "/complete", headers=identity_headers(user_id), json={"role": "planner", "prompt": "x"}
                ).json()["provider"]
                == "anthropic"
            )
        assert len(providers.openai_app.state.requests) == 2
        providers.openai_app.state.script.always = None
        assert (
            client.post("/complete", headers=identity_headers(user_id), json={"role": "planner", "prompt": "x"}).json()[
                "provider"
            ]
            == "anthropic"
        )
        assert len(providers.openai_app.state.requests) == 2  # in cooldown: not even tried


def test_all_failing_is_a_clear_503(ai: httpx.Client, providers: Providers) -> None:
    providers.openai_app.state.script.always = ("status", 500)
    error = assert_error(
        ai.post("/complete", json={"model": "gpt-4o-mini", "prompt": "x"}), 503, "providers_unavailable"
    )
    assert (
        error["details"]["attempts"][0]["model"] == "gpt-4o-mini" and error["details"]["attempts"][0]["status"] == 500
    )


def test_provider_rejecting_the_request_is_400_without_fallback(ai: httpx.Client, providers: Providers) -> None:
    providers.openai_app.state.script.steps = [("status", 400)]
    assert_error(ai.post("/complete", json={"role": "planner", "prompt": "x"}), 400, "provider_rejected")
    assert providers.anthropic_app.state.requests == []


@pytest.mark.parametrize("model,provider", [("gpt-4o-mini", "openai"), ("claude-3-5-haiku-latest", "anthropic")])
def test_streaming_sse(ai: httpx.Client, model: str, provider: str, database_url: str, user_id: str) -> None:
    deltas: list[str] = []
    done: dict[str, Any] = {}
    with ai.stream("POST", "/complete", json={"model": model, "prompt": "stream please", "stream": True}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
                if event == "chunk":
                    deltas.append(data["delta"])
                elif event == "done":
                    done = data
    assert "".join(deltas) == done["content"] and done["content"].startswith("Hello from the")
    assert done["provider"] == provider and done["completion_tokens"] in (7, 9) and done["cost_usd"] > 0
    assert usage_rows(database_url, user_id)[0].completion_tokens == done["completion_tokens"]


def test_stream_retries_before_the_first_chunk(ai: httpx.Client, providers: Providers) -> None:
    providers.openai_app.state.script.steps = [("status", 429, 0)]
    with ai.stream("POST", "/complete", json={"model": "gpt-4o-mini", "prompt": "x", "stream": True}) as response:
        text = response.read().decode()
    assert "event: done" in text and len(providers.openai_app.state.requests) == 2


def test_cache_hits_skip_the_provider(ai: httpx.Client, providers: Providers, database_url: str, user_id: str) -> None:
    request = {"model": "gpt-4o-mini", "prompt": f"cache me {user_id}", "temperature": 0, "cache": True}
    first, second = ai.post("/complete", json=request).json(), ai.post("/complete", json=request).json()
    assert (first["cached"], second["cached"]) == (False, True)
    assert second["content"] == first["content"] and second["cost_usd"] == 0
    assert len(providers.openai_app.state.requests) == 1
    assert [r.cached for r in usage_rows(database_url, user_id, expected=2)] == [False, True]


def test_one_users_cached_answer_is_never_served_to_another(
    runtime_server: ThreadedServer, providers: Providers
) -> None:
    prompt = f"private question {uuid.uuid4()}"
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    request = {"model": "gpt-4o-mini", "prompt": prompt, "temperature": 0, "cache": True}
    with (
        signed_client(first, base_url=runtime_server.url) as alice,
        signed_client(second, base_url=runtime_server.url) as bob,
    ):
        assert alice.post("/complete", json=request).json()["cached"] is False
        assert bob.post("/complete", json=request).json()["cached"] is False
        assert alice.post("/complete", json=request).json()["cached"] is True
        shared = {**request, "prompt": prompt + " shared", "cache_namespace": "shared"}
        assert alice.post("/complete", json=shared).json()["cached"] is False
        assert bob.post("/complete", json=shared).json()["cached"] is True


def test_role_uses_the_versioned_prompt_and_schema(
    ai: httpx.Client, providers: Providers, database_url: str, user_id: str
) -> None:
    providers.openai_app.state.reply = '{"tasks": []}'
    try:
        body = ai.post(
            "/complete",
            json={"role": "planner", "prompt": "plan a picnic", "response_format": "json", "prompt_version": "v1"},
        ).json()
    finally:
        providers.openai_app.state.reply = "Hello from the OpenAI test server"
    assert body["prompt_version"] == "planner/v1"
    sent = providers.openai_app.state.requests[0]["body"]
    assert sent["messages"][0]["role"] == "system" and sent["messages"][0]["content"].startswith("You are the planner")
    assert (
        sent["response_format"]["type"] == "json_schema"
        and "tasks" in sent["response_format"]["json_schema"]["schema"]["properties"]
    )
    assert usage_rows(database_url, user_id)[0].prompt_version == "planner/v1"
    assert_error(
        ai.post("/complete", json={"role": "planner", "prompt": "x", "prompt_version": "v99"}),
        400,
        "unknown_prompt_version",
    )


def test_bad_input_is_4xx(ai: httpx.Client) -> None:
    assert_error(ai.post("/complete", json={}), 422, "validation_error")
    assert_error(ai.post("/complete", json={"prompt": "x", "max_tokens": 0}), 422)
    assert_error(ai.post("/complete", json={"prompt": "x", "temperature": 5}), 422)
    assert_error(ai.post("/complete", json={"prompt": "x", "role": "wizard"}), 422)
    assert_error(ai.post("/complete", json={"prompt": "x", "response_format": {"type": "json_schema"}}), 422)
    error = assert_error(ai.post("/complete", json={"prompt": "x", "model": "gpt-9"}), 400, "unknown_model")
    assert "gpt-4o-mini" in error["details"]["known"]
    assert_error(ai.post("/embed", json={"texts": []}), 422)
    assert_error(ai.post("/embed", json={"texts": ["  "]}), 422)
    assert_error(ai.post("/embed", json={"texts": ["x"], "model": "gpt-4o-mini"}), 400, "unknown_model")


def test_requires_gateway_identity(runtime_server: ThreadedServer) -> None:
    assert_error(httpx.post(f"{runtime_server.url}/complete", json={"prompt": "x"}), 401)


def test_models_lists_prices_roles_and_availability(ai: httpx.Client) -> None:
    body = ai.get("/models").json()
    models = {m["name"]: m for m in body["models"]}
    assert models["gpt-4o-mini"]["input_usd_per_mtok"] == 0.15 and models["gpt-4o-mini"]["available"]
    assert "planner" in models["gpt-4o-mini"]["roles"]
    assert models["all-minilm-l6-v2"]["dimensions"] == 384
    assert body["price_table_version"] and body["providers"]["openai"] == "live"


def test_without_keys_says_what_is_missing(database_url: str, redis_url: str, user_id: str) -> None:
    with (
        serving(create_app(runtime_settings(database_url, redis_url, None))) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        headers = identity_headers(user_id)
        error = assert_error(
            client.post("/complete", headers=headers, json={"model": "gpt-4o", "prompt": "x"}), 503, "model_unavailable"
        )
        assert "OPENAI_API_KEY" in error["message"]
        error = assert_error(
            client.post("/embed", headers=headers, json={"texts": ["x"], "model": "text-embedding-3-small"}),
            503,
            "model_unavailable",
        )
        assert "OPENAI_API_KEY" in error["message"]
        providers = client.get("/models", headers=headers).json()["providers"]
        assert providers["anthropic"].startswith("not configured") and providers["local"] == "live"
        assert client.get("/health").json()["details"]["providers"] == providers


def test_llm_calls_tokens_and_spend_are_in_the_metrics(ai: httpx.Client, runtime_server: ThreadedServer) -> None:
    assert ai.post("/complete", json={"model": "gpt-4o-mini", "prompt": "count me"}).status_code == 200
    text = httpx.get(f"{runtime_server.url}/metrics").text
    calls = [line for line in text.splitlines() if line.startswith("cognitionos_llm_calls_total{")]
    assert any('model="gpt-4o-mini"' in line and 'status="success"' in line for line in calls), calls
    assert 'cognitionos_llm_tokens_total{kind="prompt",model="gpt-4o-mini"' in text
    assert "cognitionos_llm_cost_usd_total{" in text
