"""execute_python start: a full sandboxed run (bubblewrap, rlimits, unprivileged uid) of `pass`, started cold and
taken from the warm pool (each run waits for the pool to refill first, as runs spaced apart find it), against a bare
`python -c pass` subprocess started the same way (asyncio), all in the same run. Targets: cold P50 <= 60 ms; warm P50
<= 0.5x the bare interpreter.

    python -m benchmarks.sandbox [--runs 100]
"""

import argparse
import asyncio
import os
import sys
import time

import psutil

from benchmarks.common import percentile, summary
from services.tool_runner.config import ToolRunnerSettings
from services.tool_runner.pool import SandboxPool
from services.tool_runner.sandbox import bwrap_path, run_python


async def bare(runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(os.path.realpath(sys.executable), "-I", "-c", "pass")
        await process.wait()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def sandboxed(runs: int) -> list[float]:
    limits = ToolRunnerSettings().sandbox_limits()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        result = await run_python("pass", timeout_seconds=10, limits=limits, sandboxed=True)
        assert result.exit_code == 0, result.stderr
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def pooled(runs: int) -> tuple[list[float], int]:
    """Runs from the warm pool, and the idle memory of one warm sandbox (kB of resident memory, whole tree)."""
    samples = []
    async with SandboxPool(size=2, limits=ToolRunnerSettings().sandbox_limits(), sandboxed=True) as pool:
        while pool.ready < 2:
            await asyncio.sleep(0.01)
        idle_kb = _tree_rss_kb(pool._ready[0].process.pid)
        for _ in range(runs):
            while pool.ready < 2:
                await asyncio.sleep(0.005)
            started = time.perf_counter()
            result = await pool.run("pass", timeout_seconds=10)
            assert result.exit_code == 0, result.stderr
            samples.append((time.perf_counter() - started) * 1000)
    return samples, idle_kb


def _tree_rss_kb(pid: int) -> int:
    """Resident memory of a process and its descendants."""
    process = psutil.Process(pid)
    return sum(p.memory_info().rss for p in (process, *process.children(recursive=True))) // 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    if not bwrap_path():
        raise SystemExit("bubblewrap is not installed (apt-get install bubblewrap)")
    base = asyncio.run(bare(args.runs))
    boxed = asyncio.run(sandboxed(args.runs))
    warm, idle_kb = asyncio.run(pooled(args.runs))
    print("execute_python start ('pass'), same run:")
    print(f"   bare python -c pass   {summary(base)}")
    print(f"   bwrap sandbox, cold   {summary(boxed)}")
    print(f"   bwrap sandbox, warm   {summary(warm)}")
    cold_ratio = percentile(boxed, 50) / percentile(base, 50)
    warm_ratio = percentile(warm, 50) / percentile(base, 50)
    print(
        f"   cold: {cold_ratio:.2f}x bare at p50; target p50 <= 60 ms: "
        f"{'met' if percentile(boxed, 50) <= 60 else 'NOT met'}"
    )
    print(f"   warm: {warm_ratio:.2f}x bare at p50; target <= 0.5x: {'met' if warm_ratio <= 0.5 else 'NOT met'}")
    print(f"   one idle warm sandbox holds {idle_kb / 1024:.1f} MB resident (bwrap and the waiting interpreter)")


if __name__ == "__main__":
    main()
