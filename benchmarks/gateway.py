"""Gateway overhead: an authenticated GET /me through the gateway vs the same request straight to auth-service.

Both paths run in the same process tree, interleaved, against the same embedded Postgres and Redis.
Prints P50/P99 latency of each, the overhead (gateway - direct) and requests/s at fixed concurrency.
Target: P50 overhead <= 1.5 ms with metrics on and tracing off (the default). Then the same pair again with tracing
on (OTEL_EXPORTER_OTLP_ENDPOINT at a local OTLP sink), to report what tracing costs, in the same run.

    python -m benchmarks.gateway [--requests 2000] [--concurrency 32] [--seconds 5] [--no-tracing]
"""

import argparse
import asyncio
import time
from dataclasses import dataclass

import httpx

from benchmarks.common import backends, otlp_sink, percentile, service_process, summary

SECRETS = {
    "JWT_SECRET": "bench-jwt-secret-0123456789abcdef",
    "INTERNAL_SECRET": "bench-internal-0123456789abcdef",
    "BCRYPT_ROUNDS": "4",
    "LOG_LEVEL": "WARNING",
}


def _login(gateway_url: str) -> str:
    credentials = {"username": "bench_user", "email": "bench@example.com", "password": "bench-password-1"}
    httpx.post(f"{gateway_url}/api/v1/auth/register", json=credentials)
    response = httpx.post(
        f"{gateway_url}/api/v1/auth/login", json={"username": "bench_user", "password": "bench-password-1"}
    )
    response.raise_for_status()
    return response.json()["access_token"]


def measure_latency(
    gateway_url: str, auth_url: str, headers: dict[str, str], requests: int
) -> tuple[list[float], list[float]]:
    via_gateway, direct = [], []
    with httpx.Client(headers=headers) as client:
        for _ in range(50):  # warm connections and caches on both paths
            client.get(f"{gateway_url}/api/v1/auth/me").raise_for_status()
            client.get(f"{auth_url}/me").raise_for_status()
        for _ in range(requests):
            started = time.perf_counter()
            client.get(f"{gateway_url}/api/v1/auth/me").raise_for_status()
            via_gateway.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            client.get(f"{auth_url}/me").raise_for_status()
            direct.append((time.perf_counter() - started) * 1000)
    return via_gateway, direct


async def measure_throughput(url: str, headers: dict[str, str], concurrency: int, seconds: float) -> float:
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            (await client.get(url)).raise_for_status()
            done += 1

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--no-tracing", dest="tracing", action="store_false", help="Skip the tracing-on pair")
    args = parser.parse_args()

    with backends() as urls:
        env = {
            **urls,
            **SECRETS,
            "RATE_LIMIT_USER_BURST": "1000000",
            "RATE_LIMIT_IP_BURST": "1000000",
            "RATE_LIMIT_USER_PER_MINUTE": "100000000",
            "RATE_LIMIT_IP_PER_MINUTE": "100000000",
        }
        untraced = measure_pair(env, args)
        traced = None
        if args.tracing:
            with otlp_sink() as endpoint:
                traced = measure_pair({**env, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}, args)

    print(
        "benchmark: authenticated GET /me, gateway (JWT verify + revocation check + rate limit + proxy) vs direct to "
        "auth-service"
    )
    untraced.report("tracing off", args.concurrency)
    print(f"  target: overhead p50 <= 1.5 ms with tracing off: {'met' if untraced.overhead_p50 <= 1.5 else 'NOT met'}")
    if traced:
        traced.report("tracing on ", args.concurrency)
        print(
            f"  tracing on costs: overhead p50 +{traced.overhead_p50 - untraced.overhead_p50:.3f} ms, direct p50 "
            f"+{percentile(traced.direct, 50) - percentile(untraced.direct, 50):.3f} ms, gateway throughput x"
            f"{traced.rps_gateway / untraced.rps_gateway:.2f}"
        )


@dataclass(frozen=True, kw_only=True)
class Pair:
    via_gateway: list[float]
    direct: list[float]
    rps_gateway: float
    rps_direct: float

    @property
    def overhead_p50(self) -> float:
        return percentile(self.via_gateway, 50) - percentile(self.direct, 50)

    def report(self, label: str, concurrency: int) -> None:
        overhead_p99 = percentile(self.via_gateway, 99) - percentile(self.direct, 99)
        print(f"  {label}  direct   {summary(self.direct)}")
        print(f"  {label}  gateway  {summary(self.via_gateway)}")
        print(f"  {label}  overhead p50={self.overhead_p50:.3f} ms  p99={overhead_p99:.3f} ms")
        print(
            f"  {label}  throughput at concurrency {concurrency}: gateway {self.rps_gateway:.0f} req/s, direct "
            f"{self.rps_direct:.0f} req/s, ratio {self.rps_gateway / self.rps_direct:.2f}"
        )


def measure_pair(env: dict[str, str], args: argparse.Namespace) -> Pair:
    """A fresh auth-service and gateway on this environment, measured one request at a time and then under load."""
    with (
        service_process("auth_service", env) as auth_url,
        service_process("api_gateway", {**env, "AUTH_SERVICE_URL": auth_url}) as gateway_url,
    ):
        headers = {"Authorization": f"Bearer {_login(gateway_url)}"}
        via_gateway, direct = measure_latency(gateway_url, auth_url, headers, args.requests)
        return Pair(
            via_gateway=via_gateway,
            direct=direct,
            rps_gateway=asyncio.run(
                measure_throughput(f"{gateway_url}/api/v1/auth/me", headers, args.concurrency, args.seconds)
            ),
            rps_direct=asyncio.run(measure_throughput(f"{auth_url}/me", headers, args.concurrency, args.seconds)),
        )


if __name__ == "__main__":
    main()
