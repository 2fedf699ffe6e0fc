"""execute_python really isolates untrusted code: each attack is contained, reported, and the service lives on."""

import asyncio
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.tool_runner.cgroups import cgroup_flavour
from services.tool_runner.main import create_app
from services.tool_runner.sandbox import _closed_ancestor, _interpreter_view
from tests.ai_runtime.conftest import identity_headers
from tests.conftest import INTERNAL_SECRET
from tests.memory_service.conftest import make_user
from tests.support import ThreadedServer, assert_error, serving, sql_scalar
from tests.tool_runner import attacks
from tests.tool_runner.attacks import Target, run_code
from tests.tool_runner.conftest import tool_settings

pytestmark = pytest.mark.needs_sandbox


def test_runs_code_and_records_it(tools: httpx.Client, database_url: str) -> None:
    body = run_code(
        tools, "def fib(n):\n    return n if n < 2 else fib(n-1) + fib(n-2)\nprint([fib(i) for i in range(11)])"
    )
    assert body["status"] == "succeeded" and body["result"]["stdout"].strip() == "[0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55]"
    assert body["result"]["sandbox"] == "bwrap"
    row = sql_scalar(
        database_url, "SELECT status || ':' || tool_name FROM tool_executions WHERE id = :id", id=body["execution_id"]
    )
    assert row == "succeeded:execute_python"


@pytest.fixture
def target(tools: httpx.Client, tool_server: ThreadedServer) -> Iterator[Target]:
    os.environ["TOOL_RUNNER_TEST_SECRET"] = "s3cr3t-value"
    port = int(tool_server.url.rsplit(":", 1)[1])
    yield Target(tools=tools, service_address=("127.0.0.1", port), secrets=("s3cr3t-value", INTERNAL_SECRET))
    del os.environ["TOOL_RUNNER_TEST_SECRET"]


def test_infinite_loop_is_killed_at_the_wall_timeout(target: Target) -> None:
    attacks.infinite_loop_is_killed_at_the_wall_timeout(target)


def test_memory_bomb_is_contained(target: Target) -> None:
    attacks.memory_bomb_is_contained(target)


def test_fork_bomb_is_contained(target: Target) -> None:
    attacks.fork_bomb_is_contained(target)


def test_cannot_write_outside_its_directory(target: Target) -> None:
    attacks.cannot_write_outside_its_directory(target)
    assert not os.path.exists("/etc/evil")


def test_no_network(target: Target) -> None:
    attacks.no_network(target)


def test_cannot_read_the_service_secrets(target: Target) -> None:
    attacks.cannot_read_the_service_secrets(target)


def test_output_is_capped(target: Target) -> None:
    attacks.output_is_capped(target)


def test_bad_input(tools: httpx.Client) -> None:
    assert_error(
        tools.post("/execute", json={"tool_name": "execute_python", "parameters": {}}), 400, "invalid_parameters"
    )
    assert_error(tools.post("/execute", json={"tool_name": "rm_rf", "parameters": {}}), 422)
    assert_error(
        tools.post("/execute", json={"tool_name": "execute_python", "parameters": {"code": "x"}, "timeout_seconds": 0}),
        422,
    )


def test_interpreter_under_a_closed_home_is_shown_through_open_directories() -> None:
    base = Path(tempfile.mkdtemp())  # pytest's own tmp_path sits under a 0700 folder already
    base.chmod(0o755)
    home = base / "home"
    prefix = home / ".pyenv" / "versions" / "3.x"
    prefix.mkdir(parents=True)
    home.chmod(0o700)
    view = _interpreter_view(str(prefix))
    assert _closed_ancestor(str(prefix)) == str(home)
    assert view[view.index("--tmpfs") - 2 : view.index("--tmpfs") + 2] == ["--perms", "0755", "--tmpfs", str(home)]
    assert ["--dir", str(home / ".pyenv"), "--perms", "0755", "--dir", str(home / ".pyenv" / "versions")] == view[
        view.index(str(home / ".pyenv")) - 1 : view.index(str(home / ".pyenv" / "versions")) + 1
    ]
    assert ["--ro-bind", str(prefix), str(prefix)] == view[view.index("--ro-bind") : view.index("--ro-bind") + 3]
    home.chmod(0o755)
    assert _interpreter_view(str(prefix)) == []
    shutil.rmtree(base)


def test_code_runs_when_the_service_interpreter_lives_under_a_closed_home(tools: httpx.Client) -> None:
    """As root with pyenv under a 0700 /root (Debian's default), the sandbox user cannot reach the interpreter
    itself: the sandbox must still run code as that unprivileged user."""
    prefix = os.path.realpath(sys.base_prefix)
    if os.geteuid() != 0 or _closed_ancestor(prefix) is None:
        pytest.skip("the interpreter is reachable by every user here; the unit test above covers the layout")
    body = run_code(tools, "import os, sys; print(os.getuid(), sys.version_info[:2])")
    assert body["status"] == "succeeded", body
    assert body["result"]["stdout"].split()[0] != "0"


def test_filling_tmp_or_the_work_dir_stops_at_the_cap_and_never_reaches_the_host(target: Target) -> None:
    attacks.filling_tmp_or_the_work_dir_stops_at_the_cap(target)


def test_one_user_cannot_occupy_every_sandbox(database_url: str, redis_url: str) -> None:
    settings = tool_settings(database_url, redis_url, sandbox_runs_per_user=1)
    user_id, other_id = make_user(database_url), make_user(database_url)
    with serving(create_app(settings)) as runner:

        async def two_at_once() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=runner.url, timeout=30) as client:
                slow = {"tool_name": "execute_python", "parameters": {"code": "import time; time.sleep(2)"}}
                first = asyncio.create_task(client.post("/execute", json=slow, headers=identity_headers(user_id)))
                await asyncio.sleep(0.7)
                second = await client.post("/execute", json=slow, headers=identity_headers(user_id))
                other = await client.post("/execute", json=slow, headers=identity_headers(other_id))
                return [await first, second, other]

        first, second, other_user = asyncio.run(two_at_once())
    assert first.json()["status"] == "succeeded"
    assert_error(second, 429, "too_many_sandbox_runs")
    assert other_user.json()["status"] == "succeeded"


def test_a_run_cannot_multiply_its_memory_by_starting_processes(tools: httpx.Client) -> None:
    """Six processes of 100 MB each fit every per-process limit; the run's own cgroup (256 MB for all of them)
    stops them."""
    if cgroup_flavour() is None:
        pytest.skip("no writable cgroup here: runs are limited per process only (docs/sandbox.md)")
    code = (
        "import os, time\n"
        "children = []\n"
        "for _ in range(6):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        block = bytearray(100 * 1024 * 1024)\n"
        "        for i in range(0, len(block), 4096):\n"
        "            block[i] = 1\n"
        "        time.sleep(3)\n"
        "        os._exit(0)\n"
        "    children.append(pid)\n"
        "survived = sum(1 for pid in children if os.waitpid(pid, 0)[1] == 0)\n"
        "print('survived', survived)\n"
    )
    body = run_code(tools, code, timeout=30)
    survived = [int(line.split()[1]) for line in body["result"]["stdout"].splitlines() if line.startswith("survived")]
    assert body["result"]["run_limits"].startswith("cgroup")
    assert body["result"]["memory_exceeded"] is True, body
    assert not survived or survived[0] <= 2, body
