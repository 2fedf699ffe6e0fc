"""Runs the seven services as child processes with prefixed, colored logs; stops them all together."""

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from shared.http_protocol import PROTOCOL as HTTP_PROTOCOL
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


@dataclass(frozen=True, slots=True, kw_only=True)
class RestartPolicy:
    """Like compose's restart: unless-stopped, with backoff: a service that exits is started again after
    backoff_seconds·2^k (capped); `max_restarts` exits within `window_seconds` is a crash loop that stops everything."""

    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0
    max_restarts: int = 5
    window_seconds: float = 60.0

    def delay(self, recent_exits: int) -> float:
        return float(min(self.backoff_seconds * 2 ** max(recent_exits - 1, 0), self.max_backoff_seconds))


class Supervisor:
    def __init__(
        self,
        specs: Sequence[ServiceSpec],
        *,
        env: dict[str, str],
        host: str,
        port_base: int,
        policy: RestartPolicy | None = None,
    ) -> None:
        self.specs = specs
        self.env = env
        self.host = host
        self.port_base = port_base
        self.policy = policy or RestartPolicy()
        self.processes: dict[str, asyncio.subprocess.Process] = {}
        self.width = max(len(spec.name) for spec in specs)
        self.color_output = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        self._stopping = False
        self._crash_loop: asyncio.Future[str] | None = None
        self._watchers: list[asyncio.Task[None]] = []

    def _prefix(self, index: int, name: str) -> str:
        label = f"{name:<{self.width}} |"
        return f"{COLORS[index % len(COLORS)]}{label}{RESET}" if self.color_output else label

    async def _pump(self, index: int, spec: ServiceSpec, stream: asyncio.StreamReader) -> None:
        prefix = self._prefix(index, spec.name)
        async for raw in stream:
            print(f"{prefix} {_render(raw.decode(errors='replace').rstrip())}", flush=True)

    def command(self, spec: ServiceSpec) -> list[str]:
        return [
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
            "--http",  # httptools with a cap on the request head (a header of any size was read whole)
            HTTP_PROTOCOL,
            # uvicorn would otherwise take X-Forwarded-For from any loopback peer as the client address, and
            # every per-IP rule (rate limits above all) would then trust what the caller wrote.
            "--no-proxy-headers",
        ]

    async def _spawn(self, index: int, spec: ServiceSpec) -> tuple[asyncio.subprocess.Process, asyncio.Task[None]]:
        process = await asyncio.create_subprocess_exec(
            *self.command(spec), env=self.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        self.processes[spec.name] = process
        assert process.stdout is not None
        return process, asyncio.create_task(self._pump(index, spec, process.stdout))

    async def start(self) -> None:
        self._crash_loop = asyncio.get_running_loop().create_future()
        for index, spec in enumerate(self.specs):
            first = await self._spawn(index, spec)
            self._watchers.append(asyncio.create_task(self._keep_running(index, spec, first)))

    async def _keep_running(
        self, index: int, spec: ServiceSpec, running: tuple[asyncio.subprocess.Process, asyncio.Task[None]]
    ) -> None:
        exits: list[float] = []
        while True:
            process, pump = running
            code = await process.wait()
            await pump
            if self._stopping:
                return
            now = time.monotonic()
            exits = [t for t in exits if now - t < self.policy.window_seconds] + [now]
            prefix = self._prefix(index, spec.name)
            if len(exits) >= self.policy.max_restarts:
                print(f"{prefix} exited with code {code} {len(exits)} times within {self.policy.window_seconds:.0f} s")
                if self._crash_loop is not None and not self._crash_loop.done():
                    self._crash_loop.set_result(spec.name)
                return
            delay = self.policy.delay(len(exits))
            print(f"{prefix} exited with code {code}; restarting in {delay:.0f} s", flush=True)
            await asyncio.sleep(delay)
            if self._stopping:
                return
            running = await self._spawn(index, spec)

    async def wait_crash_loop(self) -> str:
        """The name of the first service that keeps crashing (the supervisor then gives up)."""
        assert self._crash_loop is not None, "start() first"
        return await self._crash_loop

    async def stop(self, grace_seconds: float = 10.0) -> None:
        self._stopping = True
        for process in self.processes.values():
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                await asyncio.wait_for(process.wait(), grace_seconds)
            except TimeoutError:
                process.kill()
                await process.wait()
        for watcher in self._watchers:
            watcher.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)
