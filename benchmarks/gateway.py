"""Gateway overhead: an authenticated GET /me through the gateway vs the same request straight to auth-service.

Both paths run in the same process tree, interleaved, against the same embedded Postgres and Redis, with a third
beside them: the bare forwarder of benchmarks/bare_proxy.py (the same uvicorn and aiohttp, one Redis round trip,
nothing else), the floor of this stack on this machine. Prints P50/P99 latency of each, the overheads, the CPU each
proxy spends per request (one request at a time, and under the throughput's load), and requests/s at fixed
concurrency, against #15's targets: overhead P50 <= 0.5 ms and throughput >= 0.9x direct at concurrency 32, with
metrics on and tracing off (the default). Then the gateway pair again with tracing on (OTEL_EXPORTER_OTLP_ENDPOINT
at a local OTLP sink), to report what tracing costs, in the same run.

With --baseline (another checkout, e.g. `git worktree add /tmp/base HEAD~3`), that checkout's gateway runs beside
this one, in front of the same auth-service, in the same interleaved turns: a change against its parent in one
sitting.

    python -m benchmarks.gateway [--requests 2000] [--concurrency 32] [--seconds 5] [--no-tracing] [--baseline DIR]
"""

import argparse
import asyncio
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks.common import backends, cpu_seconds, otlp_sink, percentile, service_process, summary

SECRETS = {
    "JWT_SECRET": "bench-jwt-secret-0123456789abcdef",
    "INTERNAL_SECRET": "bench-internal-0123456789abcdef",
    "BCRYPT_ROUNDS": "4",
    "LOG_LEVEL": "WARNING",
}
# Rate limits out of the way: a benchmark's one user sends far more than a person would.
UNLIMITED = {
    "RATE_LIMIT_USER_BURST": "1000000",
    "RATE_LIMIT_IP_BURST": "1000000",
    "RATE_LIMIT_USER_PER_MINUTE": "100000000",
    "RATE_LIMIT_IP_PER_MINUTE": "100000000",
}


@contextlib.contextmanager
def gateway_over_tool_runner(urls: dict[str, str]) -> Iterator[str]:
    """The gateway's URL, with the auth-service and the tool-runner behind it (real processes)."""
    env = {**urls, **SECRETS, **UNLIMITED}
    with (
        service_process("auth_service", env) as auth_url,
        service_process("tool_runner", env) as tools_url,
        service_process("api_gateway", {**env, "AUTH_SERVICE_URL": auth_url, "TOOL_RUNNER_URL": tools_url}) as url,
    ):
        yield url


def login(gateway_url: str, username: str = "bench_user") -> str:
    """An access token for `username`, registered first if new."""
    credentials = {"username": username, "email": f"{username}@example.com", "password": "bench-password-1"}
    httpx.post(f"{gateway_url}/api/v1/auth/register", json=credentials)
    response = httpx.post(
        f"{gateway_url}/api/v1/auth/login", json={"username": username, "password": credentials["password"]}
    )
    response.raise_for_status()
    return response.json()["access_token"]


@dataclass(frozen=True, kw_only=True)
class Latency:
    samples: list[float]
    cpu_ms: float  # CPU of the process that answered, per request


def measure_latency(urls: dict[str, str], headers: dict[str, str], requests: int) -> dict[str, Latency]:
    """Each path in turn, one request at a time: milliseconds per request, and the CPU its proxy process spent."""
    samples: dict[str, list[float]] = {name: [] for name in urls}
    with httpx.Client(headers=headers) as client:
        for _ in range(50):  # warm connections and caches on every path
            for url in urls.values():
                client.get(url).raise_for_status()
        cpu_before = {name: cpu_seconds(_origin(url)) for name, url in urls.items()}
        for _ in range(requests):
            for name, url in urls.items():
                started = time.perf_counter()
                client.get(url).raise_for_status()
                samples[name].append((time.perf_counter() - started) * 1000)
        cpu_after = {name: cpu_seconds(_origin(url)) for name, url in urls.items()}
    return {
        name: Latency(samples=samples[name], cpu_ms=(cpu_after[name] - cpu_before[name]) / requests * 1000)
        for name in urls
    }


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.partition('/')[0]}"


@dataclass(frozen=True, kw_only=True)
class Load:
    requests: int
    seconds: float
    cpu_seconds: float  # CPU of the process that answered, meanwhile


async def measure_throughput(url: str, headers: dict[str, str], concurrency: int, seconds: float) -> Load:
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            (await client.get(url)).raise_for_status()
            done += 1

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as client:
        started, cpu_before = time.perf_counter(), cpu_seconds(_origin(url))
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        cpu = cpu_seconds(_origin(url)) - cpu_before
        return Load(requests=done, seconds=time.perf_counter() - started, cpu_seconds=cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--no-tracing", dest="tracing", action="store_false", help="Skip the tracing-on pair")
    parser.add_argument("--baseline", type=Path, help="Another checkout whose gateway is measured beside this one")
    args = parser.parse_args()

    with backends() as urls:
        env = {**urls, **SECRETS, **UNLIMITED}
        untraced = measure(env, args, with_floor=True)
        traced = None
        if args.tracing:
            with otlp_sink() as endpoint:
                traced = measure({**env, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}, args, with_floor=False)

    print(
        "benchmark: authenticated GET /me, gateway (JWT verify + revocation check + rate limit + proxy) vs direct to "
        "auth-service, and the bare forwarder (uvicorn + aiohttp + one Redis round trip) as this stack's floor"
    )
    untraced.report("tracing off", args.concurrency)
    if traced:
        traced.report("tracing on ", args.concurrency)
        print(
            f"  tracing on costs: overhead p50 +{traced.overhead_p50('gateway') - untraced.overhead_p50('gateway'):.3f}"
            f" ms, direct p50 +{traced.p50('direct') - untraced.p50('direct'):.3f} ms, gateway throughput x"
            f"{traced.rps['gateway'] / untraced.rps['gateway']:.2f}"
        )


@dataclass(frozen=True, kw_only=True)
class Measured:
    latency: dict[str, Latency]  # "direct", "gateway" and, when measured, "floor"
    rps: dict[str, float]
    loaded_cpu_ms: dict[str, float]  # CPU per request of the process that answered, at the throughput's concurrency

    def p50(self, name: str) -> float:
        return percentile(self.latency[name].samples, 50)

    def overhead_p50(self, name: str) -> float:
        return self.p50(name) - self.p50("direct")

    def report(self, label: str, concurrency: int) -> None:
        direct = self.latency["direct"].samples
        print(f"  {label}  direct   {summary(direct)}")
        for name in ("gateway", "baseline", "floor"):
            if name not in self.latency:
                continue
            latency = self.latency[name]
            overhead_p99 = percentile(latency.samples, 99) - percentile(direct, 99)
            print(f"  {label}  {name:8}  {summary(latency.samples)}")
            print(
                f"  {label}  {name:8}  overhead p50={self.overhead_p50(name):.3f} ms  p99={overhead_p99:.3f} ms, its "
                f"CPU {latency.cpu_ms:.3f} ms per request; throughput at concurrency {concurrency}: "
                f"{self.rps[name]:.0f} req/s against {self.rps['direct']:.0f} direct, ratio "
                f"{self.rps[name] / self.rps['direct']:.2f}"
            )
        if "floor" in self.latency:
            floor_cpu = self.latency["floor"].cpu_ms
            for name in ("gateway", "baseline"):
                if name in self.latency:
                    print(
                        f"  {label}  {name:8}  CPU per request x{self.latency[name].cpu_ms / floor_cpu:.2f} the floor's"
                        f" one at a time, x{self.loaded_cpu_ms[name] / self.loaded_cpu_ms['floor']:.2f} at "
                        f"concurrency {concurrency} ({self.loaded_cpu_ms[name]:.3f} ms against "
                        f"{self.loaded_cpu_ms['floor']:.3f} ms)"
                    )
            overhead, ratio = self.overhead_p50("gateway"), self.rps["gateway"] / self.rps["direct"]
            print(
                f"  target: gateway overhead p50 <= {TARGET_OVERHEAD_MS} ms: {overhead:.3f} ms, "
                f"{'met' if overhead <= TARGET_OVERHEAD_MS else 'NOT met'} (the floor: "
                f"{self.overhead_p50('floor'):.3f} ms)"
            )
            print(
                f"  target: gateway throughput >= {TARGET_THROUGHPUT_RATIO}x direct: {ratio:.2f}x, "
                f"{'met' if ratio >= TARGET_THROUGHPUT_RATIO else 'NOT met'} (the floor: "
                f"{self.rps['floor'] / self.rps['direct']:.2f}x)"
            )


TARGET_OVERHEAD_MS = 0.5
TARGET_THROUGHPUT_RATIO = 0.9


def measure(env: dict[str, str], args: argparse.Namespace, *, with_floor: bool) -> Measured:
    """A fresh auth-service and gateway (and bare forwarder) on this environment, measured one request at a time and
    then under load."""
    with (
        service_process("auth_service", env) as auth_url,
        service_process("api_gateway", {**env, "AUTH_SERVICE_URL": auth_url}) as gateway_url,
        contextlib.ExitStack() as floor,
    ):
        urls = {"direct": f"{auth_url}/me", "gateway": f"{gateway_url}/api/v1/auth/me"}
        if with_floor:
            floor_url = floor.enter_context(
                service_process("bare_proxy", {**env, "UPSTREAM_URL": auth_url}, factory=FLOOR_FACTORY)
            )
            urls["floor"] = f"{floor_url}/api/v1/auth/me"
        if with_floor and args.baseline is not None:
            baseline_env = {**env, "AUTH_SERVICE_URL": auth_url}
            baseline_url = floor.enter_context(service_process("api_gateway", baseline_env, tree=args.baseline))
            urls["baseline"] = f"{baseline_url}/api/v1/auth/me"
        headers = {"Authorization": f"Bearer {login(gateway_url)}"}
        latency = measure_latency(urls, headers, args.requests)
        loads = interleaved_throughput(urls, headers, args)
        return Measured(
            latency=latency,
            rps={
                name: sum(load.requests / load.seconds for load in turns) / len(turns) for name, turns in loads.items()
            },
            loaded_cpu_ms={
                name: sum(load.cpu_seconds for load in turns) / sum(load.requests for load in turns) * 1000
                for name, turns in loads.items()
            },
        )


def interleaved_throughput(
    urls: dict[str, str], headers: dict[str, str], args: argparse.Namespace
) -> dict[str, list[Load]]:
    """Each path under load, in turns of a second so that a change in the machine's load meanwhile (a shared VM)
    falls on every path alike."""
    rounds = max(1, round(args.seconds))
    turns: dict[str, list[Load]] = {name: [] for name in urls}
    for _ in range(rounds):
        for name, url in urls.items():
            turns[name].append(asyncio.run(measure_throughput(url, headers, args.concurrency, args.seconds / rounds)))
    return turns


FLOOR_FACTORY = "benchmarks.bare_proxy:create_app"


if __name__ == "__main__":
    main()
