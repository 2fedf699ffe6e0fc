"""One retry loop for every provider: retries with backoff (honouring Retry-After), per-deployment cooldown,
and a fallback chain across providers. Streams are retried only until their first chunk is out."""

import asyncio
import functools
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from services.ai_runtime.catalog import ModelInfo
from services.ai_runtime.providers.base import ProviderError, StreamChunk

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Deployment:
    model: ModelInfo
    consecutive_failures: int = 0
    cooldown_until: float = 0.0

    def cooling_down(self, now: float) -> bool:
        return now < self.cooldown_until


@dataclass(kw_only=True)
class Attempt:
    model: str
    provider: str
    error: str
    status: int | None
    busy: bool = False
    retry_after_seconds: float | None = None


@dataclass
class AllDeploymentsFailed(Exception):
    attempts: list[Attempt] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class RetryPolicy:
    max_retries: int
    base_seconds: float
    max_seconds: float
    cooldown_failures: int
    cooldown_seconds: float

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_seconds)
        return min(self.base_seconds * 2**attempt * (0.5 + random.random() / 2), self.max_seconds)


class FallbackChain:
    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.deployments: dict[str, Deployment] = {}

    def deployment(self, model: ModelInfo) -> Deployment:
        return self.deployments.setdefault(model.name, Deployment(model))

    def _record(self, deployment: Deployment, *, ok: bool) -> None:
        if ok:
            deployment.consecutive_failures = 0
            return
        deployment.consecutive_failures += 1
        if deployment.consecutive_failures >= self.policy.cooldown_failures:
            deployment.cooldown_until = time.monotonic() + self.policy.cooldown_seconds
            deployment.consecutive_failures = 0
            logger.warning(
                "deployment in cooldown",
                extra={"model": deployment.model.name, "seconds": self.policy.cooldown_seconds},
            )

    async def _with_retries(self, deployment: Deployment, call: Callable[[], Awaitable[T]]) -> T:
        for attempt in range(self.policy.max_retries + 1):
            try:
                result = await call()
            except ProviderError as exc:
                if exc.client_error or not exc.retryable or attempt == self.policy.max_retries:
                    raise
                await asyncio.sleep(self.policy.delay(attempt, exc.retry_after_seconds))
            else:
                return result
        raise AssertionError("unreachable")

    async def run(self, chain: list[ModelInfo], call: Callable[[ModelInfo], Awaitable[T]]) -> tuple[ModelInfo, T]:
        """Try each model of the chain in turn; the first success wins. Client errors stop at once."""
        failure = AllDeploymentsFailed()
        now = time.monotonic()
        for model in chain:
            deployment = self.deployment(model)
            if deployment.cooling_down(now):
                failure.skipped.append(model.name)
                continue
            try:
                result = await self._with_retries(deployment, functools.partial(call, model))
            except ProviderError as exc:
                if exc.client_error:
                    raise
                if not exc.busy:
                    self._record(deployment, ok=False)
                failure.attempts.append(
                    Attempt(
                        model=model.name,
                        provider=exc.provider,
                        error=exc.message,
                        status=exc.status,
                        busy=exc.busy,
                        retry_after_seconds=exc.retry_after_seconds,
                    )
                )
                continue
            self._record(deployment, ok=True)
            return model, result
        raise failure

    async def stream(
        self, chain: list[ModelInfo], open_stream: Callable[[ModelInfo], AsyncIterator[StreamChunk]]
    ) -> tuple[ModelInfo, StreamChunk, AsyncIterator[StreamChunk]]:
        """Open a stream with the same retries and fallback, up to its first chunk; returns the rest unread."""

        async def first_chunk(model: ModelInfo) -> tuple[StreamChunk, AsyncIterator[StreamChunk]]:
            iterator = aiter(open_stream(model))
            try:
                return await anext(iterator), iterator
            except StopAsyncIteration:
                return StreamChunk(finish_reason="stop"), _empty()

        model, (chunk, rest) = await self.run(chain, first_chunk)
        return model, chunk, rest


async def _empty() -> AsyncIterator[StreamChunk]:
    return
    yield
