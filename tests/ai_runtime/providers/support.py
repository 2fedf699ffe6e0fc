"""What the provider tests share: a provider made against a local server, used, and closed."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from fastapi import FastAPI

from services.ai_runtime.providers.base import ChatRequest, StreamChunk
from tests.support import serving


class HttpProvider(Protocol):
    def stream(self, request: ChatRequest) -> Any: ...

    async def aclose(self) -> None: ...


ProviderT = TypeVar("ProviderT", bound=HttpProvider)


def used_once(provider: ProviderT, use: Callable[[ProviderT], Awaitable[Any]]) -> Any:
    """`use(provider)` run in an event loop of its own, the provider's session closed after."""

    async def run() -> Any:
        try:
            return await use(provider)
        finally:
            await provider.aclose()

    return asyncio.run(run())


def against(app: FastAPI, make: Callable[[str], ProviderT], use: Callable[[ProviderT], Awaitable[Any]]) -> Any:
    """`app` served locally, a provider made for its URL, and `use(provider)`'s result."""
    with serving(app) as server:
        return used_once(make(server.url), use)


async def stream_of(provider: HttpProvider, request: ChatRequest) -> list[StreamChunk]:
    return [piece async for piece in provider.stream(request)]
