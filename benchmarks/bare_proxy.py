"""The floor of the gateway's stack: uvicorn and aiohttp forwarding each request after one Redis round trip (where
the gateway checks revocation and rate limits), and nothing else: no auth, no rules, no middleware, no records.

benchmarks/gateway.py runs it beside the gateway as the ceiling its overhead target meets on this machine.

    UPSTREAM_URL=http://127.0.0.1:8001 REDIS_URL=redis://... uvicorn --factory benchmarks.bare_proxy:create_app
"""

import os

import aiohttp
from redis.asyncio import Redis
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HOP_BY_HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"host"}
PREFIX = "/api/v1/auth"


def create_app() -> ASGIApp:
    upstream_url = os.environ["UPSTREAM_URL"]
    held: dict[str, object] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send, held)
            return
        if scope["path"] == "/health":
            await _answer(send, 200, [], b"ok")
            return
        session, redis = held["session"], held["redis"]
        assert isinstance(session, aiohttp.ClientSession) and isinstance(redis, Redis)
        await redis.incr("bare-proxy")
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k not in HOP_BY_HOP}
        url = upstream_url + scope["path"].removeprefix(PREFIX)
        async with session.request(scope["method"], url, headers=headers) as upstream:
            body = await upstream.read()
            relayed = [(k.lower(), v) for k, v in upstream.raw_headers if k.lower() not in HOP_BY_HOP]
            await _answer(send, upstream.status, relayed, body)

    return app


async def _lifespan(receive: Receive, send: Send, held: dict[str, object]) -> None:
    while True:
        message: Message = await receive()
        if message["type"] == "lifespan.startup":
            held["session"] = aiohttp.ClientSession(auto_decompress=False)
            held["redis"] = Redis.from_url(os.environ["REDIS_URL"])
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            session, redis = held["session"], held["redis"]
            assert isinstance(session, aiohttp.ClientSession) and isinstance(redis, Redis)
            await session.close()
            await redis.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
