"""Several orchestrator processes on the same runs: no task runs twice, and a killed one loses nothing."""

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from cognitionos_cli.embedded import start_postgres
from database.migrate import upgrade
from services.agent_orchestrator.deps import OrchestratorState
from services.agent_orchestrator.main import create_app
from shared.app import service_state
from tests.support import ThreadedServer, eventually, free_port, serving, sql_scalar
from tests.support.platform import Platform, RoleScript, RunsClient, code_runs_in_flight, running_platform, task
from tests.support.providers import Providers
from tests.support.users import make_user

SLEEPY = "import time\ntime.sleep(0.3)\nprint('ok')"


def in_worker_loop(server: ThreadedServer, method: str) -> None:
    """Calls worker.pause()/resume() on the event loop of the server's thread."""
    worker = service_state(server.app, OrchestratorState).worker
    future = asyncio.run_coroutine_threadsafe(_call(getattr(worker, method)), server.loop)
    future.result(timeout=5)


async def _call(function: Callable[[], None]) -> None:
    function()


def started_by_worker(runs: RunsClient, run_id: str) -> Counter[tuple[str, str]]:
    return Counter(
        (e["data"]["task"], e["data"]["worker"]) for e in runs.events(run_id) if e["event_type"] == "task_started"
    )


pytestmark = pytest.mark.needs_sandbox


def test_two_orchestrators_never_run_the_same_task_twice(
    runs: RunsClient, script: RoleScript, platform: Platform
) -> None:
    # More work than either process takes at once (16 and 3 slots), so both must claim some.
    layer_one = [task(f"a{i}", tool="execute_python", inputs={"code": SLEEPY}) for i in range(24)]
    layer_two = [task(f"b{i}", tool="noop", depends_on=(f"a{i}", f"a{(i + 1) % 24}")) for i in range(24)]
    plan_id = runs.plan(layer_one + layer_two, script)
    with serving(create_app(platform.orchestrator_settings(worker_concurrency=3))):
        done = runs.wait(runs.start(plan_id=plan_id, max_parallel=24)["id"], timeout=120)
    assert done["status"] == "succeeded", done
    again = [(t["task_key"], t["attempts"], t["error"]) for t in done["tasks"] if t["attempts"] != 1]
    assert len(done["tasks"]) == 49 and not again, again
    starts = started_by_worker(runs, done["id"])
    assert Counter(key for key, _ in starts.elements()) == Counter({t["task_key"]: 1 for t in done["tasks"]})
    assert len({worker for _, worker in starts}) == 2  # both processes took part


def test_max_parallel_holds_across_orchestrators(runs: RunsClient, script: RoleScript, platform: Platform) -> None:
    plan_id = runs.plan([task(f"s{i}", tool="execute_python", inputs={"code": SLEEPY}) for i in range(8)], script)
    with serving(create_app(platform.orchestrator_settings())):
        done = runs.wait(runs.start(plan_id=plan_id, max_parallel=2)["id"], timeout=120)
    assert done["status"] == "succeeded"
    spans = sorted((t["started_at"], t["finished_at"]) for t in done["tasks"] if t["task_key"] != "summary")
    overlapping = max(sum(1 for s, f in spans if s <= start < f) for start, _ in spans)
    assert overlapping <= 2


def orchestrator_process(platform: Platform) -> tuple[list[str], dict[str, str]]:
    """The command and environment of an orchestrator in a process of its own (one that can be killed -9)."""
    settings = platform.orchestrator_settings(lease_seconds=2.0)
    env = {
        **os.environ,
        **{
            k.upper(): str(v)
            for k, v in settings.model_dump().items()
            if isinstance(v, str | int | float) and not isinstance(v, bool)
        },
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "services.agent_orchestrator.main:create_app",
        "--factory",
        "--port",
        str(free_port()),
        "--log-level",
        "warning",
    ]
    return command, env


def test_killed_orchestrator_mid_task_is_resumed_by_another(
    runs: RunsClient, script: RoleScript, platform: Platform
) -> None:
    plan_id = runs.plan(
        [
            task("long", tool="execute_python", inputs={"code": "import time\ntime.sleep(3)\nprint('survived')"}),
            task("next", tool="noop", depends_on=("long",)),
        ],
        script,
    )
    command, env = orchestrator_process(platform)
    # The suite's own orchestrator must not take the task first: this one runs alone until it is killed.
    in_worker_loop(platform.orchestrator, "pause")
    try:
        victim = subprocess.Popen(command, env=env, start_new_session=True)
        try:
            run = runs.start(plan_id=plan_id)
            runs.wait(
                run["id"],
                until=lambda r: any(t["task_key"] == "long" and t["status"] == "running" for t in r["tasks"]),
                timeout=60,
            )
            eventually(lambda: code_runs_in_flight(platform.redis_url, runs.user_id) == 1)  # killed mid-call
        finally:
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait()
        assert runs.get(run["id"])["status"] == "running"
        with serving(create_app(platform.orchestrator_settings())):
            done = runs.wait(run["id"], timeout=60)
    finally:
        in_worker_loop(platform.orchestrator, "resume")
    assert done["status"] == "succeeded", done
    long = {t["task_key"]: t for t in done["tasks"]}["long"]
    assert long["attempts"] == 2 and long["output"]["result"] == "survived\n"
    workers = [worker for (key, worker) in started_by_worker(runs, run["id"]) if key == "long"]
    assert len(set(workers)) == 2


def test_a_run_in_flight_during_a_database_outage_finishes_once_it_is_back(
    tmp_path: Path, redis_url: str, providers: Providers, script: RoleScript
) -> None:
    data_dir = tmp_path / "pg"
    postgres = start_postgres(data_dir, database="outage_runs")
    upgrade(postgres.database_url)
    try:
        with running_platform(postgres.database_url, redis_url, providers) as platform:
            runs = RunsClient(platform, make_user(postgres.database_url))
            slow = "import time\ntime.sleep(3)\nprint('ok')"
            tasks = [task("a", tool="execute_python", inputs={"code": slow}), task("b", tool="noop", depends_on=("a",))]
            run_id = runs.start(plan_id=runs.plan(tasks, script))["id"]
            runs.wait(run_id, until=lambda r: any(t["status"] == "running" for t in r["tasks"]), timeout=60)
            eventually(lambda: code_runs_in_flight(redis_url, runs.user_id) == 1)
            postgres.stop()
            # The code finishes while its result cannot be written.
            eventually(lambda: code_runs_in_flight(redis_url, runs.user_id) == 0, timeout=60)
            postgres = start_postgres(data_dir, database="outage_runs")
            done = runs.wait(run_id, timeout=120)
            assert done["status"] == "succeeded", done
            runs.http.close()
    finally:
        postgres.stop()


def test_a_run_waiting_for_approval_outlives_a_killed_orchestrator(
    runs: RunsClient, script: RoleScript, platform: Platform
) -> None:
    """Nothing is held while a task waits: the orchestrator that parked it dies (kill -9), and the approval decided
    afterwards is taken up by another."""
    tasks = [task("code", tool="execute_python", inputs={"code": "print('approved after a crash')"})]
    plan_id = runs.plan(tasks, script)
    command, env = orchestrator_process(platform)
    in_worker_loop(platform.orchestrator, "pause")
    try:
        victim = subprocess.Popen(command, env=env, start_new_session=True)
        try:
            run = runs.start(plan_id=plan_id, summarize=False, require_approval=["execute_python"])
            waiting = runs.wait(run["id"], until=lambda r: r["status"] == "waiting", timeout=60)
        finally:
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait()
        held = sql_scalar(
            platform.database_url,
            "SELECT count(*) FROM tasks WHERE run_id = :r AND lease_owner IS NOT NULL",
            r=run["id"],
        )
        assert int(str(held)) == 0 and waiting["tasks"][0]["status"] == "awaiting_approval"
        in_worker_loop(platform.orchestrator, "resume")
        (approval,) = runs.http.get(runs.url(f"/runs/{run['id']}/approvals")).json()["items"]
        decided = runs.http.post(runs.url(f"/approvals/{approval['id']}/decision"), json={"decision": "approve"})
        assert decided.status_code == 200, decided.text
        done = runs.wait(run["id"], timeout=60)
    finally:
        in_worker_loop(platform.orchestrator, "resume")
    assert done["status"] == "succeeded" and done["tasks"][0]["output"]["result"] == "approved after a crash\n"
    assert done["tasks"][0]["attempts"] == 1
