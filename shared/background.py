"""One way to run periodic background work inside a service (flushers, purges)."""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)


class PeriodicTask:
    """Calls `action` every `interval_seconds` until stopped; a failing run is logged and the next one goes ahead."""

    def __init__(self, name: str, interval_seconds: float, action: Callable[[], Awaitable[None]]) -> None:
        self.name = name
        self.interval_seconds = interval_seconds
        self.action = action
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_seconds)
            try:
                await self.action()
            except Exception:
                logger.exception("background task failed", extra={"task": self.name})
