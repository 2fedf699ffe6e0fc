"""execute_python really isolates untrusted code: each attack is contained, reported, and the service lives on."""

import asyncio
import contextlib
import gc
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from cognitionos_cli.embedded import free_port
from services.tool_runner.cgroups import RunCgroup, cgroup_flavour
from services.tool_runner.main import create_app
from services.tool_runner.sandbox import _closed_ancestor, _interpreter_view, run_in, start_sandbox
from services.tool_runner.service import sandbox_slots_key, take_sandbox_slot
from tests.support import (
    ThreadedServer,
    assert_error,
    eventually,
    eventually_async,
    serving,
    settings_environment,
    sql_scalar,
)
from tests.support.platform import code_runs_in_flight
from tests.support.settings import INTERNAL_SECRET, tool_settings
from tests.support.users import identity_headers, make_user, signed_client
from tests.tool_runner import attacks
from tests.tool_runner.attacks import Target, run_code

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


@pytest.fixture(params=["bare", "inputs_mounted"])
def target(request: pytest.FixtureRequest, tools: httpx.Client, tool_server: ThreadedServer) -> Iterator[Target]:
    """Each attack runs twice: in a bare sandbox, and with an input file mounted and outputs collected."""
    os.environ["TOOL_RUNNER_TEST_SECRET"] = "s3cr3t-value"
    port = int(tool_server.url.rsplit(":", 1)[1])
    workspace = None
    if request.param == "inputs_mounted":
        uploaded = tools.post("/files", files={"file": ("data.csv", b"a,b\n1,2\n", "text/csv")})
        workspace = {"files": [uploaded.json()["id"]], "collect_outputs": True}
    yield Target(
        tools=tools,
        service_address=("127.0.0.1", port),
        secrets=("s3cr3t-value", INTERNAL_SECRET),
        workspace=workspace,
    )
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


def test_kernel_attack_surface_is_refused(target: Target) -> None:
    attacks.kernel_attack_surface_is_refused(target)


def test_a_run_cannot_take_more_than_its_share_of_the_cpu(tools: httpx.Client) -> None:
    """Two processes spinning for a second of wall time get one CPU between them (sandbox_cpu_percent=100)."""
    if (
        cgroup_flavour() is None
        or not RunCgroup.create(
            memory_mb=64, max_processes=4, cpu_percent=100, flavour=cgroup_flavour() or "v2"
        ).cpu_limited()
    ):
        pytest.skip("no cgroup with a cpu controller here: a run's CPU is limited per process only (docs/sandbox.md)")
    code = (
        "import os, time\n"
        "started = time.monotonic()\n"
        "pids = []\n"
        "for _ in range(2):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        while time.monotonic() - started < 1.5:\n"
        "            pass\n"
        "        os._exit(0)\n"
        "    pids.append(pid)\n"
        "for pid in pids:\n"
        "    os.waitpid(pid, 0)\n"
        "wall = time.monotonic() - started\n"
        "times = os.times()\n"
        "print(times.children_user + times.children_system, wall)\n"
    )
    body = run_code(tools, code, timeout=30)
    cpu, wall = (float(x) for x in body["result"]["stdout"].split())
    assert cpu <= wall * 1.15 + 0.1, body  # uncapped, two spinning processes take up to two CPUs


def test_bad_input(tools: httpx.Client) -> None:
    assert_error(
        tools.post("/tools/execute", json={"tool_name": "execute_python", "parameters": {}}), 400, "invalid_parameters"
    )
    assert_error(tools.post("/tools/execute", json={"tool_name": "rm_rf", "parameters": {}}), 422)
    assert_error(
        tools.post(
            "/tools/execute", json={"tool_name": "execute_python", "parameters": {"code": "x"}, "timeout_seconds": 0}
        ),
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
                first = asyncio.create_task(client.post("/tools/execute", json=slow, headers=identity_headers(user_id)))
                await eventually_async(lambda: code_runs_in_flight(redis_url, user_id) == 1)
                second = await client.post("/tools/execute", json=slow, headers=identity_headers(user_id))
                other = await client.post("/tools/execute", json=slow, headers=identity_headers(other_id))
                return [await first, second, other]

        first, second, other_user = asyncio.run(two_at_once())
    assert first.json()["status"] == "succeeded"
    assert_error(second, 429, "too_many_sandbox_runs")
    assert other_user.json()["status"] == "succeeded"


def test_slots_held_by_a_killed_tool_runner_lapse_at_their_deadline(database_url: str, redis_url: str) -> None:
    """A tool-runner killed while one user held every sandbox slot: the slots lapse at their own deadline, however
    often the user retries meanwhile (each refused call used to push the expiry back)."""
    settings = tool_settings(database_url, redis_url, sandbox_runs_per_user=2)
    user_id = make_user(database_url)
    key = sandbox_slots_key(user_id)

    async def held_by_a_dead_process() -> None:
        redis = Redis.from_url(redis_url)
        for slot in ("dead-1", "dead-2"):
            assert await take_sandbox_slot(redis, key, slot=slot, limit=2, hold_seconds=3)
        await redis.aclose()

    asyncio.run(held_by_a_dead_process())
    quick = {"tool_name": "execute_python", "parameters": {"code": "print('ran')"}}
    with serving(create_app(settings)) as runner, signed_client(user_id, base_url=runner.url) as client:
        assert_error(client.post("/tools/execute", json=quick), 429, "too_many_sandbox_runs")
        statuses: list[int] = []

        def runs_again() -> bool:
            statuses.append(client.post("/tools/execute", json=quick).status_code)
            return statuses[-1] == 200

        eventually(runs_again, timeout=30)
    assert statuses[0] == 429 and statuses[-1] == 200


def test_a_sandbox_dies_with_a_killed_tool_runner(database_url: str, redis_url: str, tmp_path: Path) -> None:
    """kill -9 of the tool-runner mid-run: nothing of the sandbox outlives it (a 5 s sandbox ran 30 s after)."""
    port = free_port()
    settings = tool_settings(database_url, redis_url, sandbox_pool_size=0, max_timeout_seconds=120)
    env = {**os.environ, **settings_environment(settings)}
    log = (tmp_path / "tool-runner.log").open("w")
    command = [sys.executable, "-m", "uvicorn", "--factory", "services.tool_runner.main:create_app"]
    server = subprocess.Popen([*command, "--port", str(port), "--no-access-log"], env=env, stdout=log, stderr=log)
    marker = f"{port}{os.getpid()}"
    try:
        eventually(lambda: _answers(f"http://127.0.0.1:{port}/health"), timeout=60)
        user_id = make_user(database_url)
        code = f"import subprocess\nsubprocess.run(['/bin/sleep', '{marker}'])"
        request = {"tool_name": "execute_python", "parameters": {"code": code}, "timeout_seconds": 100}
        caller = threading.Thread(
            target=lambda: _post_quietly(f"http://127.0.0.1:{port}/tools/execute", request, identity_headers(user_id))
        )
        caller.start()
        eventually(lambda: _processes_named(marker), timeout=30)
        server.kill()
        server.wait()
        eventually(lambda: not _processes_named(marker), timeout=10)
        caller.join()
    finally:
        server.kill()
        log.close()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code in (200, 503)
    except httpx.HTTPError:
        return False


def _post_quietly(url: str, body: dict, headers: dict[str, str]) -> None:
    with contextlib.suppress(httpx.HTTPError):
        httpx.post(url, json=body, headers=headers, timeout=120)


def _processes_named(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


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


def test_stopping_the_service_mid_run_leaves_no_unretrieved_exception() -> None:
    """Ctrl-C cancels a run in flight: the sandbox goes, and nothing reports 'exception was never retrieved'."""
    reported: list[dict] = []

    async def cancelled_mid_run() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _, context: reported.append(context))
        limits = tool_settings("postgresql+asyncpg://unused/x", "redis://unused").sandbox_limits()
        sandbox = await start_sandbox(limits=limits, sandboxed=True)
        run = asyncio.create_task(run_in(sandbox, "import time; time.sleep(30)", timeout_seconds=60))
        stdin = sandbox.process.stdin
        await eventually_async(lambda: stdin is not None and stdin.is_closing())  # the code is handed over
        run.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await run
        assert sandbox.process.returncode is not None
        del run, sandbox
        gc.collect()
        await asyncio.sleep(0)  # one turn of the loop for whatever the collection reports

    asyncio.run(cancelled_mid_run())
    assert reported == []
