"""Stop work whose caller has gone away.

A non-streaming endpoint runs to its end even after the client disconnects: for a long generation that keeps the
model busy for nobody. `unless_disconnected` races the work against the connection and cancels the work when the
client leaves first.
"""

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import Request

from shared.errors import AppError

T = TypeVar("T")


class ClientClosedRequest(AppError):
    """The client disconnected before the answer was ready (nginx's 499): nobody reads this response."""

    status_code, code = 499, "client_closed_request"


async def _disconnected(request: Request, body_read: asyncio.Event | None) -> None:
    if body_read is not None:
        await body_read.wait()  # until then the body's messages belong to whoever reads the body
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def unless_disconnected(request: Request, work: Awaitable[T], *, body_read: asyncio.Event | None = None) -> T:
    """`work`'s result, or ClientClosedRequest once the client disconnects (the work is cancelled and awaited).

    Only call it once the request body has been read, or pass `body_read`, set when it has: the disconnect is
    read from the same ASGI channel as the body."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request, body_read))
    try:
        await asyncio.wait((task, watcher), return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
            await asyncio.wait((task,))  # the work lets go of what it holds before the answer goes
    if watcher.done() and not watcher.cancelled():
        if not task.cancelled():
            task.exception()  # whatever the cancelled work raised on its way out is no longer anyone's concern
        raise ClientClosedRequest("The client disconnected before the answer was ready")
    return task.result()
