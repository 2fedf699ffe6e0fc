"""Memory under load through the gateway: 64 concurrent clients of mixed traffic (half `POST /memories`, half
`POST /memories/retrieve`, embeddings included, rate limits off), with the ai-runtime coalescing concurrent embedding
calls and, in the same run, without (LOCAL_EMBEDDING_BATCH=1). Target: both P50 under 100 ms.

The ceiling, measured first in the same run: the embedding model alone (ONNX Runtime on batches of 32, nothing
around it). Every request embeds one text, so by Little's law N closed-loop clients wait on average at least
N / (that rate): if that bound is over 100 ms, no software change reaches the target on this machine.

    python -m benchmarks.memory_load [--clients 64] [--seconds 20]
"""

import argparse
import asyncio
import random
import time

import httpx

from benchmarks.ai_runtime import bare_model_rate
from benchmarks.common import backends, memory_services, percentile, summary
from benchmarks.gateway import SECRETS
from services.ai_runtime.providers.local_models import LocalEmbeddingProvider

WORDS = [
    *("agent", "memory", "plan", "task", "tool", "sandbox", "budget", "model"),
    *("vector", "search", "cost", "trace", "run", "goal", "tea", "coffee"),
]


async def load(gateway_url: str, token: str, *, clients: int, seconds: float) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {"store": [], "retrieve": []}
    deadline = time.perf_counter() + seconds
    headers = {"Authorization": f"Bearer {token}"}

    async def client(number: int, http: httpx.AsyncClient) -> None:
        rng = random.Random(number)
        while time.perf_counter() < deadline:
            text = " ".join(rng.choices(WORDS, k=12)) + f" {rng.random()}"
            kind = "store" if rng.random() < 0.5 else "retrieve"
            started = time.perf_counter()
            if kind == "store":
                response = await http.post("/api/v1/memories", json={"content": text}, headers=headers)
            else:
                response = await http.post("/api/v1/memories/retrieve", json={"query": text, "k": 5}, headers=headers)
            assert response.status_code in (200, 201), response.text
            samples[kind].append((time.perf_counter() - started) * 1000)

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=gateway_url, timeout=60, limits=limits) as http:
        await asyncio.gather(*(client(n, http) for n in range(clients)))
    return samples


def measure(env: dict[str, str], args: argparse.Namespace) -> dict[str, list[float]]:
    with memory_services(env) as (_, gateway_url):
        user = {"username": f"load_{random.randrange(10**9)}", "password": "load-password-1"}
        httpx.post(f"{gateway_url}/api/v1/auth/register", json={**user, "email": f"{user['username']}@example.com"})
        token = httpx.post(f"{gateway_url}/api/v1/auth/login", json=user).json()["access_token"]
        asyncio.run(load(gateway_url, token, clients=8, seconds=2))  # warm the models and the connections
        return asyncio.run(load(gateway_url, token, clients=args.clients, seconds=args.seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    model = LocalEmbeddingProvider()
    model.warm_up()
    ceiling = bare_model_rate(model, [" ".join(random.choices(WORDS, k=12)) for _ in range(32)])
    del model
    with backends() as urls:
        env = {
            **urls,
            **SECRETS,
            "RATE_LIMIT_ENABLED": "false",
            "LOCAL_LLM_ENABLED": "false",
            "PASSWORD_TIME_COST": "1",
            "PASSWORD_MEMORY_KIB": "1024",
        }
        results = {
            "coalesced (LOCAL_EMBEDDING_BATCH=32)": measure({**env, "LOCAL_EMBEDDING_BATCH": "32"}, args),
            "one model run per call (LOCAL_EMBEDDING_BATCH=1)": measure({**env, "LOCAL_EMBEDDING_BATCH": "1"}, args),
        }
    print(
        f"memory through the gateway, {args.clients} concurrent clients, {args.seconds:.0f} s, "
        "half stores, half searches"
    )
    for label, samples in results.items():
        print(f"   {label}")
        for kind, values in samples.items():
            verdict = "met" if percentile(values, 50) < 100 else "NOT met"
            print(f"      {kind:<8} {summary(values)}  (target p50 < 100 ms: {verdict})")
        total = sum(len(v) for v in samples.values())
        print(f"      throughput {total / args.seconds:.0f} requests/s")
    bound = args.clients / ceiling * 1000
    print(
        f"   ceiling: the embedding model alone embeds {ceiling:.0f} texts/s here (batches of 32), so {args.clients} "
        f"clients wait at least {bound:.0f} ms on average (Little's law, one text per request): the target is "
        f"{'within reach' if bound < 100 else 'out of reach on this machine whatever the software'}"
    )


if __name__ == "__main__":
    main()
