"""cognitionos up keeps services running: a service that dies is restarted with backoff, and only a crash loop
stops everything, naming the service."""

import asyncio
import sys
from pathlib import Path

import pytest

from cognitionos_cli.supervisor import RestartPolicy, Supervisor
from shared.services import SERVICES
from tests.support import eventually_async

FAST = RestartPolicy(backoff_seconds=0.05, max_backoff_seconds=0.2, max_restarts=3, window_seconds=30)


class ScriptedSupervisor(Supervisor):
    """Runs a small Python program in place of each service."""

    def __init__(self, program: str) -> None:
        super().__init__(SERVICES[:1], env={}, host="127.0.0.1", port_base=0, policy=FAST)
        self.program = program

    def command(self, spec: object) -> list[str]:
        return [sys.executable, "-c", self.program]


def test_a_service_that_dies_is_started_again(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "started-once"
    # Exits the first time (as after kill -9), then runs until stopped.
    program = "\n".join(
        [
            "import pathlib, sys, time",
            f"p = pathlib.Path({str(marker)!r})",
            "if not p.exists():",
            "    p.touch()",
            "    sys.exit(9)",
            "time.sleep(60)",
        ]
    )

    async def scenario() -> None:
        supervisor = ScriptedSupervisor(program)
        await supervisor.start()
        first = supervisor.processes["api-gateway"]
        await eventually_async(lambda: supervisor.processes["api-gateway"] is not first)
        replacement = supervisor.processes["api-gateway"]
        assert replacement is not first and replacement.returncode is None
        await supervisor.stop()

    asyncio.run(scenario())
    assert "exited with code 9; restarting" in capsys.readouterr().out


def test_a_crash_loop_stops_everything_and_names_the_service(capsys: pytest.CaptureFixture[str]) -> None:
    async def scenario() -> str:
        supervisor = ScriptedSupervisor("import sys; sys.exit(3)")
        await supervisor.start()
        try:
            return await asyncio.wait_for(supervisor.wait_crash_loop(), 20)
        finally:
            await supervisor.stop()

    assert asyncio.run(scenario()) == "api-gateway"
    assert "exited with code 3 3 times" in capsys.readouterr().out
