"""The production path for real: build the images, `docker compose up` with the migration and health checks, sign in
through the gateway container, run the workflow example on a goal whose plan runs code in the tool-runner container's
sandbox, check the result and the stored memory, run the sandbox attacks there, then `docker compose down -v`.

The test reaches the stack only through the gateway, published on 127.0.0.1; the containers talk on the network
compose makes for this test's own project. Where Docker Hub is out of reach, the bases are built from Debian's
packages and PyPI (scripts/build-images.sh) and docker-compose.local.yml swaps them in.
"""

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from cognitionos_cli.embedded import free_port
from tests.support.deploy import ROOT, compose_binary
from tests.support.users import register_and_login
from tests.tool_runner import attacks
from tests.tool_runner.attacks import Target

pytestmark = pytest.mark.needs_docker

FIBONACCI = "[0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55]"


@dataclass(frozen=True, kw_only=True)
class Deployment:
    url: str
    secrets: dict[str, str]
    compose: list[str]

    def logs(self) -> str:
        return subprocess.run([*self.compose, "logs", "--tail", "40"], capture_output=True, text=True).stdout


def _run(command: list[str], *, timeout: float, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def _has_image(name: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", name], capture_output=True).returncode == 0


def _environment_file(path: Path, port: int) -> dict[str, str]:
    values = {
        "POSTGRES_PASSWORD": secrets.token_urlsafe(24),
        "REDIS_PASSWORD": secrets.token_urlsafe(24),
        "JWT_SECRET": secrets.token_urlsafe(48),
        "INTERNAL_SECRET": secrets.token_urlsafe(48),
        "ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "GRAFANA_ADMIN_PASSWORD": secrets.token_urlsafe(24),
        "GATEWAY_BIND": "127.0.0.1",
        "GATEWAY_PORT": str(port),
    }
    path.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    return values


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    started = time.monotonic()
    build = _run(["scripts/build-images.sh"], timeout=1500)
    local_bases = not _has_image("pgvector/pgvector:pg17") and _has_image("cognitionos/postgres-pgvector:local")
    print(f"\nimages built in {time.monotonic() - started:.0f} s:\n{build.stdout}", file=sys.stderr)

    port = free_port()
    folder = tmp_path_factory.mktemp("production-path")
    values = _environment_file(folder / ".env", port)
    files = [
        "docker-compose.yml",
        *(["docker-compose.local.yml"] if local_bases else []),
        "tests/deploy/compose.e2e.yml",
    ]
    compose = [compose_binary(), "-p", f"cognitionos-e2e-{secrets.token_hex(3)}", "--env-file", str(folder / ".env")]
    for file in files:
        compose += ["-f", file]
    deployed = Deployment(url=f"http://127.0.0.1:{port}", secrets=values, compose=compose)
    try:
        _run([*compose, "up", "-d", "--no-build", "--wait", "--wait-timeout", "420"], timeout=480)
        print(f"stack healthy {time.monotonic() - started:.0f} s after the build began", file=sys.stderr)
        yield deployed
    except BaseException:
        print(deployed.logs(), file=sys.stderr)
        raise
    finally:
        subprocess.run([*compose, "down", "-v", "--remove-orphans", "-t", "5"], cwd=ROOT, capture_output=True)


@pytest.fixture(scope="module")
def gateway(deployment: Deployment) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=deployment.url, timeout=60) as client:
        yield client


def test_the_stack_comes_up_healthy_with_a_working_sandbox(deployment: Deployment, gateway: httpx.Client) -> None:
    health = gateway.get("/health").json()
    assert health["status"] == "healthy" and all(s["status"] == "ok" for s in health["services"].values()), health
    probe = "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8006/health').read().decode())"
    inside = _run([*deployment.compose, "exec", "-T", "tool-runner", "python", "-c", probe], timeout=60)
    tool_runner = json.loads(inside.stdout)
    assert tool_runner["status"] == "healthy" and tool_runner["details"]["sandbox"] == "bwrap", tool_runner


def test_images_run_as_a_user_with_no_compilers() -> None:
    for service in ("api-gateway", "tool-runner"):
        image = f"cognitionos/{service}:latest"
        user = _run(["docker", "image", "inspect", "--format", "{{.Config.User}}", image], timeout=30).stdout.strip()
        assert user == "cognitionos", image
        compilers = subprocess.run(["docker", "run", "--rm", image, "sh", "-c", "command -v gcc cc c++ cmake"])
        assert compilers.returncode != 0, f"{image} has a compiler"


def test_a_container_without_the_sandbox_options_says_code_cannot_run() -> None:
    """Under Docker's defaults bwrap is installed but cannot make its namespaces: the self-check says so (and
    /health says degraded) instead of claiming a sandbox that fails every run."""
    check = (
        "import asyncio; from services.tool_runner.config import ToolRunnerSettings;"
        " from services.tool_runner.sandbox import sandbox_self_check;"
        " print(asyncio.run(sandbox_self_check(ToolRunnerSettings(environment='development').sandbox_limits())))"
    )
    result = _run(["docker", "run", "--rm", "cognitionos/tool-runner:latest", "python", "-c", check], timeout=60)
    assert result.stdout.startswith("unavailable: bwrap cannot start a sandbox here"), result.stdout


def test_register_and_log_in_through_the_gateway_container(gateway: httpx.Client) -> None:
    user = register_and_login(gateway, secrets.token_hex(5))
    me = gateway.get("/api/v1/auth/me", headers=user.headers)
    assert me.status_code == 200 and me.json()["username"] == user.username


def test_the_workflow_example_runs_a_goal_that_executes_code(deployment: Deployment, tmp_path: Path) -> None:
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path)}  # the example's own account, made up for this test
    result = _run([sys.executable, "examples/workflow_example.py", "--gateway", deployment.url], timeout=300, env=env)
    assert "status: succeeded" in result.stdout and FIBONACCI in result.stdout, result.stdout
    assert "stored in memory:" in result.stdout and "0 1 1 2 3 5 8 13 21 34 55" in result.stdout

    credentials = json.loads(next(tmp_path.rglob("cli-credentials.json")).read_text())
    with httpx.Client(base_url=deployment.url, timeout=60) as client:
        token = client.post("/api/v1/auth/login", json=credentials).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        (run,) = client.get("/api/v1/runs").json()["items"]
        run = client.get(f"/api/v1/runs/{run['id']}").json()
        assert run["status"] == "succeeded" and run["result"]["outputs"]["fib"]["exit_code"] == 0, run
        memory = client.get(f"/api/v1/memories/{run['result']['memory_id']}").json()
        assert "0 1 1 2 3 5 8 13 21 34 55" in memory["content"]


def test_calls_that_reach_the_host_kernel_are_refused_in_the_container(
    deployment: Deployment, gateway: httpx.Client
) -> None:
    """The container's seccomp profile allows what bwrap needs and nothing that reaches the host's kernel state:
    bpf, keyrings, ptrace, perf events, userfaultfd and io_uring answer EPERM inside a sandbox run."""
    code = (
        "import ctypes, os, platform\n"
        "assert platform.machine() == 'x86_64', platform.machine()\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "calls = {'bpf': 321, 'keyctl': 250, 'ptrace': 101, 'perf_event_open': 298, 'userfaultfd': 323,"
        " 'io_uring_setup': 425, 'kexec_load': 246}\n"
        "for name, number in calls.items():\n"
        "    result = libc.syscall(number, 0, 0, 0, 0, 0)\n"
        "    print(name, result, os.strerror(ctypes.get_errno()))\n"
    )
    user = register_and_login(gateway, secrets.token_hex(5))
    with httpx.Client(base_url=f"{deployment.url}/api/v1", headers=user.headers, timeout=60) as tools:
        body = attacks.run_code(tools, code)
    lines = body["result"]["stdout"].splitlines()
    assert len(lines) == 7 and all(line.endswith("-1 Operation not permitted") for line in lines), body


@pytest.mark.parametrize("attack", attacks.ATTACKS)
def test_the_sandbox_attacks_are_contained_in_the_container(
    deployment: Deployment, gateway: httpx.Client, attack: str
) -> None:
    user = register_and_login(gateway, secrets.token_hex(5))
    with httpx.Client(base_url=f"{deployment.url}/api/v1", headers=user.headers, timeout=60) as tools:
        target = Target(
            tools=tools,
            service_address=("tool-runner", 8006),
            secrets=tuple(deployment.secrets[key] for key in ("JWT_SECRET", "INTERNAL_SECRET", "ENCRYPTION_KEY")),
        )
        attacks.ATTACKS[attack](target)


def test_a_file_goes_in_and_an_artifact_comes_out_of_the_containers(gateway: httpx.Client) -> None:
    """The tool-runner container stores files on its volume (its root is read-only) and mounts inputs from its
    /tmp tmpfs into the sandbox; upload and download pass the gateway container."""
    user = register_and_login(gateway, secrets.token_hex(5))
    uploaded = gateway.post(
        "/api/v1/files", headers=user.headers, files={"file": ("data.csv", b"n\n1\n2\n3\n", "text/csv")}
    )
    assert uploaded.status_code == 201, uploaded.text
    code = (
        "rows = open('/work/inputs/data.csv').read().split()[1:]\n"
        "open('/work/outputs/sum.txt', 'w').write(str(sum(map(int, rows))))"
    )
    ran = gateway.post(
        "/api/v1/tools/execute",
        headers=user.headers,
        json={
            "tool_name": "execute_python",
            "parameters": {"code": code},
            "files": [uploaded.json()["id"]],
            "collect_outputs": True,
        },
    ).json()
    assert ran["status"] == "succeeded", ran
    [artifact] = ran["result"]["artifacts"]
    assert gateway.get(f"/api/v1/files/{artifact['id']}/content", headers=user.headers).content == b"6"
