"""Runs the seven services as child processes with prefixed, colored logs; stops them all together."""

import asyncio
import json
import os
import signal
import sys
from collections.abc import Sequence

from shared.services import ServiceSpec

COLORS = ("\033[36m", "\033[32m", "\033[33m", "\033[35m", "\033[34m", "\033[91m", "\033[96m")
RESET = "\033[0m"


def _render(line: str) -> str:
    """Shorten our JSON log lines for a terminal; other output passes through as is."""
    try:
        entry = json.loads(line)
    except ValueError:
        return line
    if not isinstance(entry, dict) or "message" not in entry:
        return line
    extras = " ".join(
        f"{k}={v}"
        for k, v in entry.items()
        if k not in {"ts", "level", "service", "logger", "message", "trace_id", "span_id", "color_message"}
    )
    return f"{entry.get('level', 'info'):<7} {entry['message']} {extras}".rstrip()


class Supervisor:
    def __init__(self, specs: Sequence[ServiceSpec], *, env: dict[str, str], host: str, port_base: int) -> None:
        self.specs = specs
        self.env = env
        self.host = host
        self.port_base = port_base
        self.processes: dict[str, asyncio.subprocess.Process] = {}
        self.width = max(len(spec.name) for spec in specs)
        self.color_output = sys.stdout.isatty() and "NO_COLOR" not in os.environ

    def _prefix(self, index: int, name: str) -> str:
        label = f"{name:<{self.width}} |"
        return f"{COLORS[index % len(COLORS)]}{label}{RESET}" if self.color_output else label

    async def _pump(self, index: int, spec: ServiceSpec, stream: asyncio.StreamReader) -> None:
        prefix = self._prefix(index, spec.name)
        async for raw in stream:
            print(f"{prefix} {_render(raw.decode(errors='replace').rstrip())}", flush=True)

    async def start(self) -> list[asyncio.Task[None]]:
        pumps: list[asyncio.Task[None]] = []
        for index, spec in enumerate(self.specs):
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                spec.app_factory,
                "--host",
                self.host,
                "--port",
                str(spec.port_from(self.port_base)),
                "--no-access-log",
                # uvicorn would otherwise take X-Forwarded-For from any loopback peer as the client address, and
                # every per-IP rule (rate limits above all) would then trust what the caller wrote.
                "--no-proxy-headers",
                env=self.env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            self.processes[spec.name] = process
            assert process.stdout is not None
            pumps.append(asyncio.create_task(self._pump(index, spec, process.stdout)))
        return pumps

    async def wait_any_exit(self) -> str:
        waits = {asyncio.create_task(p.wait()): name for name, p in self.processes.items()}
        done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        return waits[next(iter(done))]

    async def stop(self, grace_seconds: float = 10.0) -> None:
        for process in self.processes.values():
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                await asyncio.wait_for(process.wait(), grace_seconds)
            except TimeoutError:
                process.kill()
                await process.wait()
