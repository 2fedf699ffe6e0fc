"""The floor of the gateway's stack: uvicorn and aiohttp forwarding each request after one Redis round trip (where
the gateway checks revocation and rate limits), and nothing else: no auth, no rules, no middleware, no records.

benchmarks/gateway.py runs it beside the gateway as the ceiling its overhead target meets on this machine;
benchmarks/ai_runtime.py chains two of them (the gateway's hop and the ai-runtime's) as the ceiling of the LLM path.
A body is forwarded whole; an answer without a length (a stream) is relayed chunk by chunk as it comes.

    UPSTREAM_URL=http://127.0.0.1:8001 REDIS_URL=redis://... [STRIP_PREFIX=/api/v1/auth] \
        uvicorn --factory benchmarks.bare_proxy:create_app
"""

import os

import aiohttp
from redis.asyncio import Redis
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HOP_BY_HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"host"}


def create_app() -> ASGIApp:
    upstream_url = os.environ["UPSTREAM_URL"]
    prefix = os.environ.get("STRIP_PREFIX", "/api/v1/auth")
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
        url = upstream_url + scope["path"].removeprefix(prefix)
        body = b"" if scope["method"] in ("GET", "HEAD") else await _body(receive)
        async with session.request(scope["method"], url, headers=headers, data=body or None) as upstream:
            relayed = [(k.lower(), v) for k, v in upstream.raw_headers if k.lower() not in HOP_BY_HOP]
            if upstream.content_length is not None:
                await _answer(send, upstream.status, relayed, await upstream.read())
                return
            await send({"type": "http.response.start", "status": upstream.status, "headers": relayed})
            async for chunk in upstream.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})

    return app


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


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
