"""Warm sandboxes: a few started ahead of need (namespaces made, limits applied, interpreter up, site imported),
each waiting for one run's code on its stdin. A run takes one and never gives it back; the pool refills in the
background. Isolation and limits are those of a sandbox started for the run: it is the same sandbox, started earlier
(sandbox.start_sandbox), so the escape and limit tests run against pooled sandboxes unchanged."""

import asyncio
import contextlib
import logging
from types import TracebackType
from typing import Self

from services.tool_runner.sandbox import ExecutionResult, Limits, Sandbox, Workspace, run_in, start_sandbox

logger = logging.getLogger(__name__)


class SandboxPool:
    def __init__(self, *, size: int, limits: Limits, sandboxed: bool) -> None:
        self.size = size
        self.limits = limits
        self.sandboxed = sandboxed
        self._ready: list[Sandbox] = []
        self._wanted = asyncio.Event()
        self._refiller: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._wanted.set()
        self._refiller = asyncio.get_running_loop().create_task(self._refill())
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._refiller is not None:
            self._refiller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refiller
        while self._ready:
            await self._ready.pop().discard()

    @property
    def ready(self) -> int:
        return len(self._ready)

    async def run(self, code: str, *, timeout_seconds: float, workspace: Workspace | None = None) -> ExecutionResult:
        """The run in a warm sandbox, or in one started now when none is ready (never more waiting than cold)."""
        sandbox = self._take()
        if sandbox is None:
            self._wanted.set()
            sandbox = await start_sandbox(limits=self.limits, sandboxed=self.sandboxed)
        try:
            return await run_in(sandbox, code, timeout_seconds=timeout_seconds, workspace=workspace)
        finally:
            # Refilled after the run, not during it: on two cores, starting the next sandbox slows this one.
            self._wanted.set()

    def _take(self) -> Sandbox | None:
        while self._ready:
            sandbox = self._ready.pop(0)
            if sandbox.process.returncode is None:  # still waiting for its code
                return sandbox
            asyncio.get_running_loop().create_task(sandbox.discard())
        return None

    async def _refill(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            while len(self._ready) < self.size:
                try:
                    self._ready.append(await start_sandbox(limits=self.limits, sandboxed=self.sandboxed))
                except OSError as error:  # out of processes or memory: runs start cold until it passes
                    logger.warning("warm sandbox not started", extra={"error": str(error)})
                    await asyncio.sleep(1)
