"""ai-runtime figures, each against a baseline measured in the same run.

1. Overhead of the LLM gateway: the official openai SDK calling chat.completions through api-gateway + ai-runtime
   (auth, budgets, routing, cost ledger) vs the same SDK calling the same local OpenAI-compatible server directly,
   and in the same run the floor of any two hops on this stack: two bare forwarders chained (benchmarks/bare_proxy.py).
   Target (#15): overhead P50 <= 2 ms for both hops, streamed and not. With `--protocol anthropic`, the same with
   the official anthropic SDK's messages.create, through the ai-runtime's Messages API to a local server that speaks
   Anthropic's protocol.
2. Local embeddings (MiniLM-L6 int8 ONNX): embeddings/s at batch 1 and batch 32.
3. Local generation (SmolLM2-135M on llama.cpp): tokens/s.

    python -m benchmarks.ai_runtime [--requests 300] [--baseline /tmp/base] [--protocol openai|anthropic]
"""

import argparse
import asyncio
import json
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
from anthropic.types import MessageParam
from openai.types.chat import ChatCompletionMessageParam

from benchmarks.common import backends, cpu_seconds, percentile, service_process, summary
from benchmarks.gateway import FLOOR_FACTORY, SECRETS, login
from services.ai_runtime.providers.base import ChatRequest
from services.ai_runtime.providers.local_models import LocalChatProvider, LocalEmbeddingProvider
from tests.support import serving
from tests.support.fake_providers import create_fake_anthropic, create_fake_openai


def _in_blocks(calls: dict[str, Callable[[], None]], requests: int) -> tuple[dict[str, list[float]], int]:
    """Each call timed `requests` times, in blocks of BLOCK per path taking turns: within a block the path's processes
    stay busy, as a loaded service's are (strict one-by-one turns measure processes woken from sleep, about twice as
    slow on this VM), and the turns spread a change in the machine's load (a shared VM) over every path alike. Also
    how many calls each path made in all, the untimed first ones of each block included."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    rounds = max(1, requests // BLOCK)
    names = list(calls)
    for turn in range(rounds):
        for name in names[turn % len(names) :] + names[: turn % len(names)]:  # each path starts a round in turn
            call = calls[name]
            for _ in range(BLOCK_WARMUP):
                call()
            for _ in range(requests // rounds):
                started = time.perf_counter()
                call()
                samples[name].append((time.perf_counter() - started) * 1000)
    return samples, rounds * (BLOCK_WARMUP + requests // rounds)


BLOCK = 100
BLOCK_WARMUP = 10


def gateway_overhead(requests: int, baseline: Path | None = None, protocol: str = "openai") -> None:
    """The LLM path (api-gateway + ai-runtime) and its floor (two bare forwarders chained, benchmarks/bare_proxy.py:
    uvicorn and aiohttp with one Redis round trip each), both against the same upstream called directly; with
    `baseline` (another checkout, e.g. `git worktree add /tmp/base HEAD~3`), that checkout's path too, in the same
    blocks, so a change is judged against its parent in one sitting. `protocol`: the vendor the official SDK, the
    upstream and the ai-runtime's provider speak (openai or anthropic)."""
    speaks = PROTOCOLS[protocol]
    with serving(speaks.upstream("benchmark reply")) as upstream, backends() as urls, ExitStack() as stack:
        env = {
            **urls,
            **SECRETS,
            **speaks.settings(upstream.url),
            "RATE_LIMIT_USER_BURST": "1000000",
            "RATE_LIMIT_IP_BURST": "1000000",
            "USAGE_FLUSH_SECONDS": "0.2",
        }
        paths = {"gateway": _llm_path(stack, env, tree=None)}
        second_hop = stack.enter_context(
            service_process(
                "bare_proxy", {**env, "UPSTREAM_URL": upstream.url, "STRIP_PREFIX": ""}, factory=FLOOR_FACTORY
            )
        )
        first_hop = stack.enter_context(
            service_process(
                "bare_proxy", {**env, "UPSTREAM_URL": second_hop, "STRIP_PREFIX": "/api/v1/ai"}, factory=FLOOR_FACTORY
            )
        )
        paths["floor"] = (first_hop, second_hop)
        if baseline is not None:
            paths["baseline"] = _llm_path(stack, env, tree=baseline)
        clients = {"direct": speaks.client(upstream.url, "unused")}
        for name, (entry, _) in paths.items():
            key = "unused" if name == "floor" else _api_key(entry)
            clients[name] = speaks.client(f"{entry}/api/v1/ai", key)
        print(
            f"1. {speaks.call_name} with the {protocol} SDK: via api-gateway + ai-runtime, and via the floor (two bare "
            "forwarders: uvicorn + aiohttp + one Redis round trip each), vs straight to the same "
            f"{protocol} server, in turns of blocks{f'; baseline: the path from {baseline}' if baseline else ''}"
        )
        for label, call in (("not streamed", speaks.complete), ("streamed (every event read)", speaks.stream)):
            used = {name: [cpu_seconds(url) for url in hops] for name, hops in paths.items()}
            samples, made = _in_blocks({name: partial(call, client) for name, client in clients.items()}, requests)
            hop_ms = {
                name: tuple(
                    (cpu_seconds(url) - before) * 1000 / made for url, before in zip(hops, used[name], strict=True)
                )
                for name, hops in paths.items()
            }
            _report(label, samples, hop_ms)


def _llm_path(stack: ExitStack, env: dict[str, str], *, tree: Path | None) -> tuple[str, str]:
    """auth-service, ai-runtime and api-gateway from `tree` (this checkout when None): the gateway's and the
    ai-runtime's URLs."""
    auth_url = stack.enter_context(service_process("auth_service", env, tree=tree))
    ai_url = stack.enter_context(service_process("ai_runtime", env, tree=tree))
    gateway_url = stack.enter_context(
        service_process("api_gateway", {**env, "AUTH_SERVICE_URL": auth_url, "AI_RUNTIME_URL": ai_url}, tree=tree)
    )
    return gateway_url, ai_url


def _api_key(gateway_url: str) -> str:
    token = login(gateway_url, "bench_ai")
    return httpx.post(
        f"{gateway_url}/api/v1/auth/api-keys", json={"name": "bench"}, headers={"Authorization": f"Bearer {token}"}
    ).json()["key"]


MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say something short."}]
ANTHROPIC_MESSAGES: list[MessageParam] = [{"role": "user", "content": "Say something short."}]
TARGET_OVERHEAD_MS = 2.0


def _openai_client(base_url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0)


def _completion(client: openai.OpenAI) -> None:
    client.chat.completions.create(model="bench-model", messages=MESSAGES, max_tokens=32)


def _streamed(client: openai.OpenAI) -> None:
    for _ in client.chat.completions.create(model="bench-model", messages=MESSAGES, max_tokens=32, stream=True):
        pass


def _anthropic_client(base_url: str, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=base_url, api_key=key, max_retries=0)


def _message(client: anthropic.Anthropic) -> None:
    client.messages.create(model=ANTHROPIC_MODEL, messages=ANTHROPIC_MESSAGES, max_tokens=32)


def _streamed_message(client: anthropic.Anthropic) -> None:
    for _ in client.messages.create(model=ANTHROPIC_MODEL, messages=ANTHROPIC_MESSAGES, max_tokens=32, stream=True):
        pass


ANTHROPIC_MODEL = "claude-3-5-haiku-latest"  # a catalog model the ai-runtime sends to its Anthropic provider


@dataclass(frozen=True, kw_only=True)
class Protocol:
    call_name: str
    upstream: Callable[[str], Any]
    settings: Callable[[str], dict[str, str]]  # the ai-runtime's settings for an upstream at this URL
    client: Callable[[str, str], Any]  # an SDK client for (base URL without /v1, key)
    complete: Callable[[Any], None]
    stream: Callable[[Any], None]


PROTOCOLS = {
    "openai": Protocol(
        call_name="chat.completions",
        upstream=create_fake_openai,
        settings=lambda url: {
            "OPENAI_COMPATIBLE_BASE_URL": f"{url}/v1",
            "OPENAI_COMPATIBLE_MODELS": json.dumps(["bench-model"]),
        },
        client=_openai_client,
        complete=_completion,
        stream=_streamed,
    ),
    "anthropic": Protocol(
        call_name="messages.create",
        upstream=create_fake_anthropic,
        settings=lambda url: {"ANTHROPIC_API_KEY": "sk-ant-bench", "ANTHROPIC_BASE_URL": url},
        client=_anthropic_client,
        complete=_message,
        stream=_streamed_message,
    ),
}


def _report(label: str, samples: dict[str, list[float]], hop_ms: dict[str, tuple[float, ...]]) -> None:
    """`hop_ms`: each path's CPU per request in its first hop (the gateway) and its second (the ai-runtime)."""
    print(f"   {label}:")
    direct = samples["direct"]
    print(f"   direct   {summary(direct)}")
    paths = [name for name in samples if name != "direct"]
    overhead = {name: percentile(samples[name], 50) - percentile(direct, 50) for name in paths}
    cpu_ms = {name: sum(hops) for name, hops in hop_ms.items()}
    for name in paths:
        print(f"   {name:8} {summary(samples[name])}")
        print(
            f"   {name:8} overhead p50={overhead[name]:.3f} ms  "
            f"p99={percentile(samples[name], 99) - percentile(direct, 99):.3f} ms; CPU of its two hops "
            f"{cpu_ms[name]:.3f} ms per request ({hop_ms[name][0]:.3f} + {hop_ms[name][1]:.3f})"
        )
    verdict = "met" if overhead["gateway"] <= TARGET_OVERHEAD_MS else "NOT met"
    print(
        f"   target: overhead p50 <= {TARGET_OVERHEAD_MS} ms for both hops: {overhead['gateway']:.3f} ms, {verdict} "
        f"(the floor: {overhead['floor']:.3f} ms; the path adds {overhead['gateway'] - overhead['floor']:.3f} ms "
        "above it)"
    )
    if "baseline" in overhead:
        print(
            f"   against the baseline: overhead p50 {overhead['baseline']:.3f} -> {overhead['gateway']:.3f} ms, "
            f"CPU per request {cpu_ms['baseline']:.3f} -> {cpu_ms['gateway']:.3f} ms "
            f"({cpu_ms['gateway'] / cpu_ms['baseline']:.2f}x)"
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
    parser.add_argument(
        "--baseline", type=Path, help="another checkout whose LLM path is timed in the same blocks (e.g. a worktree)"
    )
    parser.add_argument("--protocol", choices=sorted(PROTOCOLS), default="openai", help="the SDK and upstream's vendor")
    args = parser.parse_args()
    gateway_overhead(args.requests, args.baseline, args.protocol)
    local_embeddings()
    local_generation()


if __name__ == "__main__":
    main()
