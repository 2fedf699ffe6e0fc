"""An MCP server for the tests, on the official SDK (streamable HTTP at /mcp, stateless; the older SSE transport at
/sse): `add` and `slow` tools, and the headers of every request it received (`app.state.headers`)."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from mcp.server.mcpserver import MCPServer


def create_mcp_test_app() -> FastAPI:
    server = MCPServer("test")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.tool()
    async def slow(seconds: float) -> str:
        """Answer after a while."""
        await asyncio.sleep(seconds)
        return "finally"

    inner = server.streamable_http_app(stateless_http=True, json_response=True)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with inner.router.lifespan_context(inner):
            yield

    app = FastAPI(lifespan=lifespan)
    app.state.headers = []

    @app.middleware("http")
    async def keep_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        app.state.headers.append(dict(request.headers))
        return await call_next(request)

    app.router.routes.extend(server.sse_app().routes)  # the older SSE transport: /sse and /messages/
    app.mount("/", inner)
    return app
