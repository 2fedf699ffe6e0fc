"""One way to run periodic background work inside a service (flushers, purges)."""

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Self

logger = logging.getLogger(__name__)


class BackgroundComponent(ABC):
    """Work beside the request path: started on entering `async with`, stopped (and drained) on leaving, so a
    lifespan composes several with one AsyncExitStack and stops them in reverse order."""

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    async def stop(self) -> None: ...

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()


class PeriodicTask(BackgroundComponent):
    """Calls `action` every `interval_seconds` until stopped; a failing run is logged and the next one goes ahead."""

    def __init__(self, name: str, interval_seconds: float, action: Callable[[], Awaitable[None]]) -> None:
        self.name = name
        self.interval_seconds = interval_seconds
        self.action = action
        self._job: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._job = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._job:
            self._job.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._job

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_seconds)
            try:
                await self.action()
            except Exception:
                logger.exception("background task failed", extra={"task": self.name})
