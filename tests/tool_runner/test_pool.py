"""Warm sandboxes: each serves exactly one run, the pool refills behind it, a dead one is never handed out, and
closing the pool leaves nothing running. The escape and limit tests (test_sandbox.py) run against pooled sandboxes:
the service's pool is on by default."""

import asyncio
import os
import signal

import pytest

from services.tool_runner.config import ToolRunnerSettings
from services.tool_runner.pool import SandboxPool
from tests.support import eventually_async

pytestmark = pytest.mark.needs_sandbox


def limits():  # type: ignore[no-untyped-def]
    return ToolRunnerSettings(sandbox_cpu_seconds=5).sandbox_limits()


def test_a_warm_sandbox_serves_one_run_and_the_pool_refills() -> None:
    async def scenario() -> None:
        async with SandboxPool(size=2, limits=limits(), sandboxed=True) as pool:
            await eventually_async(lambda: pool.ready == 2)
            write = "open('/work/left', 'w').write('x'); open('/tmp/left', 'w').write('x'); print('wrote')"
            first = await pool.run(write, timeout_seconds=10)
            assert first.stdout.strip() == "wrote" and first.exit_code == 0
            look = "import os; print(os.path.exists('/work/left'), os.path.exists('/tmp/left'))"
            second = await pool.run(look, timeout_seconds=10)
            assert second.stdout.strip() == "False False"  # a fresh sandbox: nothing of the run before
            await eventually_async(lambda: pool.ready == 2)

    asyncio.run(scenario())


def test_a_dead_idle_sandbox_is_never_handed_out() -> None:
    async def scenario() -> None:
        async with SandboxPool(size=1, limits=limits(), sandboxed=True) as pool:
            await eventually_async(lambda: pool.ready == 1)
            os.killpg(pool._ready[0].process.pid, signal.SIGKILL)
            await pool._ready[0].process.wait()
            result = await pool.run("print('alive')", timeout_seconds=10)
            assert result.stdout.strip() == "alive"

    asyncio.run(scenario())


def test_closing_the_pool_leaves_nothing_running() -> None:
    async def scenario() -> list[int]:
        async with SandboxPool(size=3, limits=limits(), sandboxed=True) as pool:
            await eventually_async(lambda: pool.ready == 3)
            pids = [sandbox.process.pid for sandbox in pool._ready]
        return pids

    for pid in asyncio.run(scenario()):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
