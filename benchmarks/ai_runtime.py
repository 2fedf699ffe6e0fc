"""ai-runtime figures, each against a baseline measured in the same run.

1. Overhead of the LLM gateway: the official openai SDK calling chat.completions through api-gateway + ai-runtime
   (auth, budgets, routing, cost ledger) vs the same SDK calling the same local OpenAI-compatible server directly.
2. Local embeddings (MiniLM-L6 int8 ONNX): embeddings/s at batch 1 and batch 32.
3. Local generation (SmolLM2-135M on llama.cpp): tokens/s.

    python -m benchmarks.ai_runtime [--requests 300]
"""

import argparse
import asyncio
import json
import time

import httpx
import openai

from benchmarks.common import backends, percentile, service_process, summary
from benchmarks.gateway import SECRETS
from services.ai_runtime.providers.base import ChatRequest
from services.ai_runtime.providers.local_models import LocalChatProvider, LocalEmbeddingProvider
from tests.ai_runtime.fake_providers import create_fake_openai
from tests.support import serving


def _timed(call, requests: int) -> list[float]:
    samples = []
    for _ in range(20):
        call()
    for _ in range(requests):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def gateway_overhead(requests: int) -> None:
    with serving(create_fake_openai("benchmark reply")) as upstream, backends() as urls:
        env = {
            **urls,
            **SECRETS,
            "OPENAI_COMPATIBLE_BASE_URL": f"{upstream.url}/v1",
            "OPENAI_COMPATIBLE_MODELS": json.dumps(["bench-model"]),
            "RATE_LIMIT_USER_BURST": "1000000",
            "RATE_LIMIT_IP_BURST": "1000000",
            "USAGE_FLUSH_SECONDS": "0.2",
        }
        with (
            service_process("auth_service", env) as auth_url,
            service_process("ai_runtime", env) as ai_url,
            service_process(
                "api_gateway", {**env, "AUTH_SERVICE_URL": auth_url, "AI_RUNTIME_URL": ai_url}
            ) as gateway_url,
        ):
            credentials = {"username": "bench_ai", "email": "bench_ai@example.com", "password": "bench-password-1"}
            httpx.post(f"{gateway_url}/api/v1/auth/register", json=credentials)
            token = httpx.post(
                f"{gateway_url}/api/v1/auth/login", json={"username": "bench_ai", "password": credentials["password"]}
            ).json()["access_token"]
            key = httpx.post(
                f"{gateway_url}/api/v1/auth/api-keys",
                json={"name": "bench"},
                headers={"Authorization": f"Bearer {token}"},
            ).json()["key"]
            messages = [{"role": "user", "content": "Say something short."}]
            via = openai.OpenAI(base_url=f"{gateway_url}/api/v1/ai/v1", api_key=key, max_retries=0)
            direct = openai.OpenAI(base_url=f"{upstream.url}/v1", api_key="unused", max_retries=0)
            through = _timed(
                lambda: via.chat.completions.create(model="bench-model", messages=messages, max_tokens=32), requests
            )
            straight = _timed(
                lambda: direct.chat.completions.create(model="bench-model", messages=messages, max_tokens=32), requests
            )

            def streamed(client: openai.OpenAI) -> None:
                for _ in client.chat.completions.create(
                    model="bench-model", messages=messages, max_tokens=32, stream=True
                ):
                    pass

            through_streamed = _timed(lambda: streamed(via), requests)
            straight_streamed = _timed(lambda: streamed(direct), requests)
    print(
        "1. chat.completions with the openai SDK: via api-gateway + ai-runtime vs straight to the same "
        "OpenAI-compatible server"
    )
    print(f"   direct   {summary(straight)}")
    print(f"   gateway  {summary(through)}")
    overhead = percentile(through, 50) - percentile(straight, 50)
    print(
        f"   overhead p50={overhead:.3f} ms  p99={percentile(through, 99) - percentile(straight, 99):.3f} ms "
        f"(target p50 <= 2 ms: {'met' if overhead <= 2 else 'NOT met'})"
    )
    print("   streamed (stream=True, every chunk read):")
    print(f"   direct   {summary(straight_streamed)}")
    print(f"   gateway  {summary(through_streamed)}")
    streamed_overhead = percentile(through_streamed, 50) - percentile(straight_streamed, 50)
    print(
        f"   overhead p50={streamed_overhead:.3f} ms  "
        f"p99={percentile(through_streamed, 99) - percentile(straight_streamed, 99):.3f} ms "
        f"(target p50 <= 2 ms: {'met' if streamed_overhead <= 2 else 'NOT met'})"
    )


def local_embeddings() -> None:
    """Batch 1 and batch 32 straight to the model, then 32 concurrent single-text calls (what the memory-service
    sends) with and without the micro-batcher, all in this run. Target: concurrent singles >= 0.9x the batch-32 rate."""
    texts = [f"Benchmark sentence number {n} about memory and agents" for n in range(32)]
    batched = LocalEmbeddingProvider()
    unbatched = LocalEmbeddingProvider(max_batch=1)  # every call is its own model run, as before the batcher
    batched.warm_up()
    unbatched.warm_up()
    print("2. local embeddings (all-MiniLM-L6-v2 int8 ONNX, 384 dims)")

    async def batches(batch: int, rounds: int) -> float:
        started = time.perf_counter()
        for _ in range(rounds):
            await unbatched.embed("all-minilm-l6-v2", texts[:batch])
        return rounds * batch / (time.perf_counter() - started)

    rates = {batch: asyncio.run(batches(batch, 200 if batch == 1 else 30)) for batch in (1, 32)}
    for batch, rate in rates.items():
        print(f"   batch {batch:>2}: {rate:8.1f} embeddings/s")
    ceiling = bare_model_rate(batched, texts)
    print(
        f"   the model alone (ONNX Runtime's run on the same 32 texts, nothing around it): {ceiling:8.1f} embeddings/s"
    )
    print(f"   target batch-32 >= 850/s: {'met' if rates[32] >= 850 else 'NOT met'} (its ceiling is the model alone)")

    async def singles(provider: LocalEmbeddingProvider, rounds: int) -> float:
        started = time.perf_counter()
        for _ in range(rounds):
            await asyncio.gather(*(provider.embed("all-minilm-l6-v2", [text]) for text in texts))
        return rounds * len(texts) / (time.perf_counter() - started)

    for label, provider in (("without the micro-batcher", unbatched), ("with the micro-batcher", batched)):
        rate = asyncio.run(singles(provider, 10))
        verdict = ("met" if rate >= 0.9 * rates[32] else "NOT met") if provider is batched else ""
        print(
            f"   32 concurrent single-text calls, {label}: {rate:8.1f} embeddings/s, "
            f"{rate / rates[32]:.2f}x batch-32 (target >= 0.9x{': ' + verdict if verdict else ''})"
        )


def bare_model_rate(provider: LocalEmbeddingProvider, texts: list[str], rounds: int = 30) -> float:
    """The ceiling: ONNX Runtime's own run on the tokenized batch, with the provider's session."""
    import numpy as np

    encodings = provider._tokenizer.encode_batch(texts)
    ids = np.array([e.ids for e in encodings], dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    for _ in range(5):
        provider._session.run(["last_hidden_state"], feeds)
    started = time.perf_counter()
    for _ in range(rounds):
        provider._session.run(["last_hidden_state"], feeds)
    return rounds * len(texts) / (time.perf_counter() - started)


def local_generation() -> None:
    provider = LocalChatProvider()
    request = ChatRequest(
        model="smollm2-135m-instruct",
        messages=[{"role": "user", "content": "Write a short story about a robot."}],
        max_tokens=96,
        temperature=0.7,
    )
    asyncio.run(
        provider.complete(ChatRequest(model=request.model, messages=request.messages, max_tokens=4, temperature=0.0))
    )  # load the model
    tokens, seconds = 0, 0.0
    for _ in range(3):
        started = time.perf_counter()
        result = asyncio.run(provider.complete(request))
        seconds += time.perf_counter() - started
        tokens += result.completion_tokens or 0
    print(
        f"3. local generation (SmolLM2-135M-Instruct Q4_1, llama.cpp, {provider.threads} threads): "
        f"{tokens / seconds:.1f} tokens/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    gateway_overhead(args.requests)
    local_embeddings()
    local_generation()


if __name__ == "__main__":
    main()
