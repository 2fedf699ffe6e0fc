"""What checking an API key's scopes adds at the gateway: the same request with a scoped key and with a key that has
none (no check), interleaved one by one through the same gateway and auth-service, in the same run; and the check
alone, in-process.

The request is GET /api/v1/files?limit=1, answered by the tool-runner (the scoped key holds files:read among
others). Reported: P50/P99 of each,
the difference at P50, and the check's own cost in microseconds.

    python -m benchmarks.scopes [--requests 2000]
"""

import argparse
import time

import httpx

from benchmarks.common import backends, percentile
from benchmarks.gateway import gateway_over_tool_runner, login
from services.api_gateway.authentication import check_scope
from services.api_gateway.upstreams import ROUTES

SCOPES = ["runs:read", "memories:*", "files:read", "automation:read", "keys:read"]


def check_alone(calls: int = 200_000) -> float:
    """Microseconds per scope check, in-process."""
    route, scopes = ROUTES["files"], tuple(SCOPES)
    started = time.perf_counter()
    for _ in range(calls):
        check_scope(route, method="GET", subpath="", scopes=scopes, admin_route=False)
    return (time.perf_counter() - started) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    with backends() as urls, gateway_over_tool_runner(urls) as gateway_url:
        bearer = {"Authorization": f"Bearer {login(gateway_url)}"}
        keys = {
            name: httpx.post(
                f"{gateway_url}/api/v1/auth/api-keys", headers=bearer, json={"name": name, "scopes": scopes}
            ).json()["key"]
            for name, scopes in (("no scopes", None), ("scoped", SCOPES))
        }
        samples: dict[str, list[float]] = {name: [] for name in keys}
        with httpx.Client(base_url=gateway_url) as client:
            for turn in range(args.requests + 50):
                for name, key in keys.items():
                    started = time.perf_counter()
                    answer = client.get("/api/v1/files", params={"limit": 1}, headers={"X-API-Key": key})
                    answer.raise_for_status()
                    if turn >= 50:  # the first ones warm connections and caches
                        samples[name].append((time.perf_counter() - started) * 1000)
    plain, scoped = samples["no scopes"], samples["scoped"]
    print(f"benchmark: GET /api/v1/files through the gateway, {args.requests} each, interleaved")
    for name, got in samples.items():
        print(f"   {name:<10} p50={percentile(got, 50):.3f} ms  p99={percentile(got, 99):.3f} ms")
    print(f"   scope check adds {percentile(scoped, 50) - percentile(plain, 50):+.3f} ms at P50")
    print(f"   the check alone, in-process: {check_alone():.2f} µs")


if __name__ == "__main__":
    main()
