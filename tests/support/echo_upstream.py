"""A real HTTP upstream for gateway tests: echoes what it received; 'sse', 'slow' and 'flaky' paths misbehave on
purpose."""

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from shared.identity import identity_from_request


def create_echo_app(secret: str) -> FastAPI:
    app = FastAPI()
    app.state.settings = type("S", (), {"internal_secret": secret})()
    app.state.flaky_fails = False
    app.state.gates = {}  # gated-sse streams wait here until open-gate is called with their name

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def echo(path: str, request: Request) -> Any:
        last = path.rstrip("/").rsplit("/", 1)[-1]
        if last == "sse":
            return StreamingResponse(_events(), media_type="text/event-stream")
        if last == "gated-sse":
            gate = app.state.gates.setdefault(request.query_params["gate"], asyncio.Event())
            return StreamingResponse(_gated_events(gate), media_type="text/event-stream")
        if last == "open-gate":
            app.state.gates.setdefault(request.query_params["gate"], asyncio.Event()).set()
        if last == "broken-sse":
            return StreamingResponse(_events_then_crash(), media_type="text/event-stream")
        if last == "slow":
            await asyncio.sleep(3)
        if last == "flaky" and app.state.flaky_fails:
            return JSONResponse({"error": {"code": "down", "message": "flaky", "details": {}}}, status_code=503)
        identity = identity_from_request(request)
        return {
            "method": request.method,
            "path": "/" + path,
            "query": request.url.query,
            "headers": dict(request.headers),
            "body": (await request.body()).decode(),
            "verified_identity": dataclasses.asdict(identity) if identity else None,
        }

    return app


async def _events() -> AsyncIterator[bytes]:
    for number in range(3):
        yield f'id: {number}\nevent: tick\ndata: {{"n": {number}}}\n\n'.encode()
        await asyncio.sleep(0.4)


async def _gated_events(gate: asyncio.Event) -> AsyncIterator[bytes]:
    """One event, then the rest only once the client, having read it, opens the gate: a proxy that buffered the
    stream would hold the first event back and the gate would never open (then the stream says so)."""
    yield b'data: {"n": 0}\n\n'
    try:
        await asyncio.wait_for(gate.wait(), timeout=10)
    except TimeoutError:
        yield b'data: {"buffered": true}\n\n'
        return
    yield b'data: {"n": 1}\n\ndata: {"n": 2}\n\n'


async def _events_then_crash() -> AsyncIterator[bytes]:
    """One event, then the server dies mid-stream (uvicorn aborts the transfer: no closing chunk)."""
    yield b'data: {"n": 0}\n\n'
    await asyncio.sleep(0.1)
    raise RuntimeError("the upstream died mid-stream")
