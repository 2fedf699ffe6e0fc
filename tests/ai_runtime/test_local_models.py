"""The embedded defaults, for real: MiniLM embeddings (ONNX) and SmolLM2 on llama.cpp. Kept few and short."""

import asyncio
import functools
import json
import math
import socket
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import tiktoken
from openai import OpenAI, RateLimitError
from redis import Redis

from services.ai_runtime.main import create_app as create_runtime
from services.ai_runtime.providers.base import ChatRequest, ProviderError
from services.ai_runtime.providers.local_models import LocalChatProvider, LocalEmbeddingProvider
from services.ai_runtime.service import AIRuntime
from services.ai_runtime.tokens import count_chat_tokens, install_offline_vocabularies
from services.api_gateway.main import create_app as create_gateway
from shared.app import service_state
from shared.redis import run_model_progress_key
from tests.support import eventually, eventually_async, serving, sql_scalar
from tests.support.ledger import usage_rows
from tests.support.local_model import LONG, ask
from tests.support.settings import runtime_settings
from tests.support.stack import Stack
from tests.support.users import RegisteredUser, identity_headers, make_user


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (
        math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    )


def test_local_embeddings_are_real_and_meaningful(ai: httpx.Client) -> None:
    texts = [
        "Python is a popular programming language",
        "What languages are good for coding?",
        "The recipe needs two eggs and flour",
    ]
    body = ai.post("/embed", json={"texts": texts}).json()
    assert body["model_used"] == "all-minilm-l6-v2" and body["dimensions"] == 384 and body["cost_usd"] == 0
    python, query, recipe = body["embeddings"]
    assert all(abs(_cosine(v, v) - 1) < 1e-5 for v in body["embeddings"])
    assert _cosine(query, python) > _cosine(query, recipe) + 0.2
    again = ai.post("/embed", json={"texts": texts[:1]}).json()["embeddings"][0]
    assert _cosine(again, python) > 0.9999  # deterministic, not random


def test_local_chat_model_answers(ai: httpx.Client) -> None:
    body = ai.post(
        "/complete", json={"model": "local", "prompt": "Name a color.", "max_tokens": 8, "temperature": 0}
    ).json()
    assert body["model_used"] == "smollm2-135m-instruct" and body["provider"] == "local"
    assert body["content"].strip() and body["completion_tokens"] <= 8 and body["cost_usd"] == 0


def test_local_chat_model_follows_a_json_schema(ai: httpx.Client) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    body = ai.post(
        "/complete",
        json={
            "model": "smollm2-135m-instruct",
            "prompt": "Describe a person as JSON.",
            "max_tokens": 48,
            "temperature": 0,
            "response_format": {"type": "json_schema", "json_schema": {"name": "person", "schema": schema}},
        },
    ).json()
    parsed = json.loads(body["content"])
    assert isinstance(parsed["name"], str) and isinstance(parsed["age"], int)


def test_schema_bounds_too_large_for_the_grammar_do_not_bring_the_runtime_down(ai: httpx.Client) -> None:
    schema = {
        "type": "object",
        "properties": {
            "text": {"type": "string", "maxLength": 100_000},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
        },
        "required": ["text", "tags"],
    }
    body = ai.post(
        "/complete",
        json={
            "model": "smollm2-135m-instruct",
            "prompt": "Write a note as JSON.",
            "max_tokens": 64,
            "temperature": 0,
            "response_format": {"type": "json_schema", "json_schema": {"name": "note", "schema": schema}},
        },
    )
    assert body.status_code == 200, body.text
    assert ai.get("/health").status_code == 200


def test_local_streaming(ai: httpx.Client) -> None:
    with ai.stream(
        "POST",
        "/complete",
        json={"model": "local", "prompt": "Say hello.", "max_tokens": 6, "stream": True, "temperature": 0},
    ) as response:
        text = response.read().decode()
    assert text.count("event: chunk") >= 1 and '"provider": "local"' in text


def test_usage_agrees_with_what_llama_cpp_reports() -> None:
    """The provider generates token by token (so that it can stop) and llama.cpp reports no usage then: the
    provider counts the templated prompt (default system prompt included) and the answer itself, and must agree
    with what llama.cpp reports for the same request answered whole."""
    provider = LocalChatProvider(threads=1)
    for messages in (
        [{"role": "user", "content": "Say hello."}],
        [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Capital of France?"}],
        [{"role": "user", "content": "Écris « café crème » puis 你好 et 🎉."}],
    ):
        request = ChatRequest(model="local", messages=messages, max_tokens=24, temperature=0)
        whole = provider._model().create_chat_completion(
            messages=messages, max_tokens=24, temperature=0, repeat_penalty=provider.repeat_penalty
        )
        expected = (whole["usage"]["prompt_tokens"], whole["usage"]["completion_tokens"])

        async def streamed_usage(request: ChatRequest) -> tuple[int | None, int | None]:
            last = [chunk async for chunk in provider.stream(request)][-1]
            return last.prompt_tokens, last.completion_tokens

        answered = asyncio.run(provider.complete(request))
        assert asyncio.run(streamed_usage(request)) == expected
        assert (answered.prompt_tokens, answered.completion_tokens) == expected


def test_tiktoken_works_offline_from_shipped_vocabularies() -> None:
    with tempfile.TemporaryDirectory() as cache:
        install_offline_vocabularies(Path(cache))
        for name in ("cl100k_base", "o200k_base"):
            encoding = tiktoken.get_encoding(name)
            assert encoding.decode(encoding.encode("hello world")) == "hello world"
        assert len(tiktoken.get_encoding("cl100k_base").encode("hello world")) == 2
        assert count_chat_tokens([{"role": "user", "content": "hello world"}]) == 2 + 3 + 3


def test_auto_tool_choice_on_the_embedded_model_answers_unless_allowed_to_choose() -> None:
    weather = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
    request = ChatRequest(
        model="smollm2-135m-instruct",
        messages=[{"role": "user", "content": "What is the weather in Rome?"}],
        max_tokens=40,
        temperature=0,
        tools=[weather],
        tool_choice="auto",
    )
    plain = asyncio.run(LocalChatProvider(threads=2).complete(request))
    assert plain.content and plain.tool_calls is None
    chosen = asyncio.run(LocalChatProvider(threads=2, auto_tool_calls=True).complete(request))
    assert bool(chosen.content) != bool(chosen.tool_calls)
    if chosen.tool_calls:
        assert chosen.tool_calls[0]["function"]["name"] == "get_weather" and chosen.finish_reason == "tool_calls"
        assert isinstance(json.loads(chosen.tool_calls[0]["function"]["arguments"])["city"], str)


def test_concurrent_single_embeddings_run_as_one_batch_and_each_gets_its_own_rows() -> None:
    provider = LocalEmbeddingProvider(threads=2)
    texts = [f"note number {n} about {'tea' if n % 2 else 'python'}" for n in range(24)]
    alone = provider._embed_blocking(texts)  # one batch, as the reference

    async def concurrently() -> list:
        return await asyncio.gather(*(provider.embed("all-minilm-l6-v2", [text]) for text in texts))

    before = provider.batcher.batches
    results = asyncio.run(concurrently())
    assert provider.batcher.batches - before <= 3  # 24 callers, a handful of model runs
    for result, expected in zip(results, alone.vectors, strict=True):
        assert _cosine(result.vectors[0], expected) > 0.9999 and result.prompt_tokens > 0
    assert sum(r.prompt_tokens for r in results) == alone.prompt_tokens


def test_answers_are_capped_and_repetition_is_penalised() -> None:
    provider = LocalChatProvider(threads=2, max_answer_tokens=64)
    arguments = provider._arguments(ask("Hi", max_tokens=2000), prompt_tokens=10)
    assert arguments["max_tokens"] == 64 and arguments["repeat_penalty"] == 1.1


def test_a_full_lane_refuses_at_once_and_a_cancelled_run_lets_go_of_the_model() -> None:
    provider = LocalChatProvider(threads=2, max_queue_wait_seconds=1.0, max_answer_tokens=600)
    provider.seconds_per_token = 0.01  # as if measured: a 600-token generation ahead is up to a 6 s wait

    async def scenario() -> None:
        running = asyncio.create_task(provider.complete(ask(LONG, max_tokens=600, run_id="run-a")))
        await asyncio.sleep(0)  # admitted to the lane
        with pytest.raises(ProviderError) as refused:
            await provider.complete(ask("Name a color.", max_tokens=8))
        assert refused.value.busy and refused.value.status == 429 and (refused.value.retry_after_seconds or 0) >= 1
        assert not running.done()  # refused at once, not after waiting for the model

        provider.max_queue_wait_seconds = 600.0
        queued = asyncio.create_task(provider.complete(ask(LONG, max_tokens=600, run_id="run-a")))
        await eventually_async(lambda: provider.queued == 1)
        assert provider.runs_in_lane() == ["run-a"]
        provider.cancel_run("run-a")
        for generation in (running, queued):  # the running one stops within a token, the queued one never starts
            with pytest.raises(ProviderError, match="cancelled"):
                await generation
        assert provider.runs_in_lane() == [] and provider.queued == 0
        after = await provider.complete(ask("Name a color.", max_tokens=8))
        assert after.content.strip()  # the model works on after a stopped generation

    asyncio.run(scenario())


def test_the_lane_says_where_each_runs_call_stands(database_url: str, redis_url: str) -> None:
    owner = make_user(database_url)
    runs = [str(uuid.uuid4()) for _ in range(2)]
    for run_id in runs:
        sql_scalar(
            database_url,
            "INSERT INTO runs (id, user_id, goal, status) VALUES (:r, :u, 'g', 'running') RETURNING 1",
            r=run_id,
            u=owner,
        )
    with serving(create_runtime(runtime_settings(database_url, redis_url, None))) as runtime:
        lane = service_state(runtime.app, AIRuntime).chat_providers["local"]
        calls = [
            {"model": "local", "role": "planner", "prompt": LONG, "max_tokens": 600, "run_id": run_id}
            for run_id in runs
        ]
        generating = [
            threading.Thread(
                target=httpx.post,
                args=(f"{runtime.url}/complete",),
                kwargs={"json": call, "headers": identity_headers(owner), "timeout": 300},
            )
            for call in calls
        ]
        for admitted, thread in enumerate(generating, start=1):
            thread.start()
            eventually(functools.partial(lambda n: lane.queued == n, admitted))  # in this order
        with Redis.from_url(redis_url) as redis:

            def said(run_id: str) -> dict[str, Any]:
                return json.loads(redis.get(run_model_progress_key(run_id)) or "{}")

            # The embedded model on a busy machine: its first token may take a while.
            first = eventually(lambda: said(runs[0]) if said(runs[0]).get("tokens") else None, timeout=90)
            second = eventually(lambda: said(runs[1]), timeout=90)
        for run_id in runs:
            sql_scalar(database_url, "UPDATE runs SET status = 'cancelled' WHERE id = :r RETURNING 1", r=run_id)
        for thread in generating:
            thread.join()
    assert first["state"] == "generating" and first["role"] == "planner"
    assert second == {"state": "waiting", "ahead": 1, "tokens": 0, "role": "planner", "task_id": None}


def test_the_openai_sdk_gets_429_with_retry_after_when_the_lane_is_full(
    database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = runtime_settings(database_url, redis_url, None, local_max_queue_wait_seconds=0.5)
    with serving(create_runtime(settings)) as runtime:
        lane = service_state(runtime.app, AIRuntime).chat_providers["local"]
        headers = identity_headers(make_user(database_url))
        busy = threading.Thread(
            target=httpx.post,
            args=(f"{runtime.url}/complete",),
            kwargs={"json": {"model": "local", "prompt": LONG, "max_tokens": 120}, "headers": headers, "timeout": 300},
        )
        busy.start()
        eventually(lambda: lane.queued == 1)
        client = OpenAI(base_url=f"{runtime.url}/v1", api_key="unused", max_retries=0, default_headers=headers)
        with pytest.raises(RateLimitError) as refused:
            client.chat.completions.create(model="smollm2-135m-instruct", messages=[{"role": "user", "content": "Hi"}])
        assert int(refused.value.response.headers["retry-after"]) >= 1
        assert isinstance(refused.value.body, dict) and refused.value.body["code"] == "model_busy"
        busy.join()


def test_cancelling_a_run_stops_its_generation_on_the_embedded_model(database_url: str, redis_url: str) -> None:
    owner, run_id = make_user(database_url), str(uuid.uuid4())
    sql_scalar(
        database_url,
        "INSERT INTO runs (id, user_id, goal, status) VALUES (:r, :u, 'g', 'running') RETURNING 1",
        r=run_id,
        u=owner,
    )
    settings = runtime_settings(database_url, redis_url, None)
    with serving(create_runtime(settings)) as runtime:
        lane = service_state(runtime.app, AIRuntime).chat_providers["local"]
        answers: list[httpx.Response] = []
        call = {"model": "local", "prompt": LONG, "max_tokens": 600, "run_id": run_id}
        generating = threading.Thread(
            target=lambda: answers.append(
                httpx.post(f"{runtime.url}/complete", json=call, headers=identity_headers(owner), timeout=300)
            )
        )
        generating.start()
        eventually(lambda: lane.runs_in_lane() == [run_id])
        sql_scalar(database_url, "UPDATE runs SET status = 'cancelled' WHERE id = :r RETURNING 1", r=run_id)
        generating.join()
    # Stopped, not finished: a finished generation would have answered 200 with 600 tokens of story.
    assert answers[0].status_code == 400 and "was cancelled" in answers[0].text
    assert lane.runs_in_lane() == []


def test_a_caller_who_hangs_up_stops_its_generation_through_the_gateway(
    stack: Stack, user: RegisteredUser, database_url: str, redis_url: str
) -> None:
    """A non-streaming call runs to its end unless someone notices the caller left: the gateway lets go of the
    upstream call, the ai-runtime sees its connection close, and the embedded model stops at the next token."""
    settings = runtime_settings(database_url, redis_url, None)
    with (
        serving(create_runtime(settings)) as runtime,
        serving(create_gateway(stack.gateway_settings(ai_runtime_url=runtime.url, upstream_timeout_seconds=300))) as gw,
    ):
        lane = service_state(runtime.app, AIRuntime).chat_providers["local"]
        body = json.dumps(
            {"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": LONG}], "max_tokens": 600}
        ).encode()
        with socket.create_connection(("127.0.0.1", gw.server.config.port)) as caller:
            caller.sendall(
                b"POST /api/v1/ai/v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Authorization: {user.headers['Authorization']}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            eventually(lambda: lane.queued == 1)
        eventually(lambda: lane.queued == 0)
        (row,) = usage_rows(database_url, user.id)
    # Stopped, not finished: a finished generation is recorded as a success with its tokens.
    assert row.status == "cancelled" and row.error == "the caller disconnected"
