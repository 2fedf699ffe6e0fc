"""execute_python cold start: a full sandboxed run (bubblewrap, rlimits, unprivileged uid) of `pass`, against
a bare `python -c pass` subprocess started the same way (asyncio) in the same run. Target: P50 <= 60 ms.

    python -m benchmarks.sandbox [--runs 100]
"""

import argparse
import asyncio
import os
import sys
import time

from benchmarks.common import percentile, summary
from services.tool_runner.config import ToolRunnerSettings
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    if not bwrap_path():
        raise SystemExit("bubblewrap is not installed (apt-get install bubblewrap)")
    base = asyncio.run(bare(args.runs))
    boxed = asyncio.run(sandboxed(args.runs))
    print("execute_python cold start ('pass'), same run:")
    print(f"   bare python -c pass   {summary(base)}")
    print(f"   bwrap sandbox         {summary(boxed)}")
    print(
        f"   ratio p50 {percentile(boxed, 50) / percentile(base, 50):.2f}x; target sandbox p50 <= 60 ms: "
        f"{'met' if percentile(boxed, 50) <= 60 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
