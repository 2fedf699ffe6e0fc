"""Benchmark scaffolding: embedded backends, services as real uvicorn processes, percentile maths."""

import http.server
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from cognitionos_cli.embedded import start_postgres, start_redis
from database.migrate import upgrade
from tests.support import free_port


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(samples_ms: list[float]) -> str:
    return (
        f"p50={percentile(samples_ms, 50):.3f} ms  p99={percentile(samples_ms, 99):.3f} ms  "
        f"mean={statistics.fmean(samples_ms):.3f} ms  n={len(samples_ms)}"
    )


@contextmanager
def backends() -> Iterator[dict[str, str]]:
    """DATABASE_URL/REDIS_URL from the environment, or throwaway embedded ones."""
    if os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"):
        upgrade(os.environ["DATABASE_URL"])
        yield {"DATABASE_URL": os.environ["DATABASE_URL"], "REDIS_URL": os.environ["REDIS_URL"]}
        return
    with tempfile.TemporaryDirectory(prefix="cognitionos-bench-") as tmp:
        postgres = start_postgres(Path(tmp) / "pg", database="cognitionos_bench")
        redis = start_redis(Path(tmp) / "redis", port=free_port())
        try:
            upgrade(postgres.database_url)
            yield {"DATABASE_URL": postgres.database_url, "REDIS_URL": redis.redis_url}
        finally:
            redis.stop()
            postgres.stop()


_PROCESS_IDS: dict[str, int] = {}


def process_id(url: str) -> int:
    """The pid of the process service_process() started at `url`."""
    return _PROCESS_IDS[url]


def cpu_seconds(url: str) -> float:
    """CPU time (user + system) used so far by the process service_process() started at `url`."""
    fields = Path(f"/proc/{_PROCESS_IDS[url]}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def service_process(
    package: str, env: dict[str, str], *, factory: str | None = None, tree: Path | None = None
) -> Iterator[str]:
    """One service as a uvicorn process; `factory` names another app factory than the package's, and `tree` another
    checkout to run the service's code from (an earlier commit, as a baseline in the same run)."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            factory or f"services.{package}.main:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env={**os.environ, **env},
        cwd=tree,
        stdout=None if os.environ.get("BENCH_VERBOSE") else subprocess.DEVNULL,
        stderr=None if os.environ.get("BENCH_VERBOSE") else subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    _PROCESS_IDS[url] = process.pid
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"{package} did not start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        _PROCESS_IDS.pop(url, None)


@contextmanager
def otlp_sink() -> Iterator[str]:
    """An OTLP/HTTP endpoint that accepts and drops trace exports: what tracing costs the services, not a collector."""

    class Sink(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@contextmanager
def memory_services(env: dict[str, str]) -> Iterator[tuple[str, str]]:
    """auth-service, ai-runtime, memory-service and the gateway in front of them: (memory url, gateway url)."""
    with (
        service_process("auth_service", env) as auth_url,
        service_process("ai_runtime", env) as ai_url,
        service_process("memory_service", {**env, "AI_RUNTIME_URL": ai_url}) as memory_url,
        service_process(
            "api_gateway", {**env, "AUTH_SERVICE_URL": auth_url, "MEMORY_SERVICE_URL": memory_url}
        ) as gateway_url,
    ):
        yield memory_url, gateway_url
