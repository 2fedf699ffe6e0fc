"""The typed service client: propagation, signed identity, retries only where safe, errors mapped."""

import asyncio
import json
import logging

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from shared.clients import ServiceClient
from shared.context import request_id_var, trace_id_var
from shared.errors import AppError, ServiceUnavailableError
from shared.identity import Identity, verify_identity_headers
from shared.logging import JsonFormatter
from tests.support import free_port, serving

SECRET = "client-test-secret-0123456789abcdef"


def _flaky_app() -> FastAPI:
    app = FastAPI()
    app.state.calls = {"get": 0, "post": 0}

    @app.get("/flaky")
    async def flaky_get(request: Request) -> JSONResponse:
        app.state.calls["get"] += 1
        if app.state.calls["get"] < 3:
            return JSONResponse({"error": {"code": "busy", "message": "try again", "details": {}}}, status_code=503)
        identity = verify_identity_headers(
            request.headers.get("x-cognitionos-identity"),
            request.headers.get("x-cognitionos-identity-signature"),
            SECRET,
        )
        return JSONResponse(
            {
                "request_id": request.headers.get("x-request-id"),
                "traceparent": request.headers.get("traceparent"),
                "user": identity.user_id if identity else None,
            }
        )

    @app.post("/flaky")
    async def flaky_post() -> JSONResponse:
        app.state.calls["post"] += 1
        return JSONResponse({"error": {"code": "busy", "message": "try again", "details": {}}}, status_code=503)

    @app.get("/conflict")
    async def conflict() -> JSONResponse:
        return JSONResponse(
            {"error": {"code": "already_exists", "message": "taken", "details": {"field": "name"}}}, status_code=409
        )

    return app


def test_retries_idempotent_calls_and_propagates_context() -> None:
    app = _flaky_app()
    identity = Identity(user_id="u-1", username="ada", role="user", auth_method="jwt")

    async def call() -> dict:
        client = ServiceClient("memory-service", server.url, internal_secret=SECRET, backoff_seconds=0.01)
        request_id_var.set("req-42")
        trace_id_var.set("4bf92f3577b34da6a3ce929d0e0e4736")
        try:
            return await client.get_json("/flaky", identity=identity)
        finally:
            await client.aclose()

    with serving(app) as server:
        body = asyncio.run(call())
    assert app.state.calls["get"] == 3
    assert body["request_id"] == "req-42" and body["user"] == "u-1"
    assert body["traceparent"].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")


def test_does_not_retry_post_and_maps_errors() -> None:
    app = _flaky_app()

    async def call(path: str, method: str) -> None:
        client = ServiceClient("memory-service", server.url, internal_secret=SECRET, backoff_seconds=0.01)
        try:
            await (client.post_json(path) if method == "POST" else client.get_json(path))
        finally:
            await client.aclose()

    with serving(app) as server:
        with pytest.raises(AppError) as posted:
            asyncio.run(call("/flaky", "POST"))
        with pytest.raises(AppError) as conflict:
            asyncio.run(call("/conflict", "GET"))
    assert app.state.calls["post"] == 1 and posted.value.status_code == 503
    assert conflict.value.status_code == 409 and conflict.value.code == "already_exists"
    assert conflict.value.details == {"field": "name", "service": "memory-service"}


def test_unreachable_service_is_a_clear_503() -> None:
    async def call() -> None:
        client = ServiceClient(
            "ai-runtime", f"http://127.0.0.1:{free_port()}", internal_secret=SECRET, retries=1, backoff_seconds=0.01
        )
        try:
            await client.get_json("/health")
        finally:
            await client.aclose()

    with pytest.raises(ServiceUnavailableError) as error:
        asyncio.run(call())
    assert error.value.details["service"] == "ai-runtime"


def test_json_logs_carry_request_and_trace_ids() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    record.user_id = "u-1"
    request_token, trace_token = request_id_var.set("req-7"), trace_id_var.set("t" * 32)
    try:
        line = json.loads(JsonFormatter("auth-service").format(record))
    finally:
        request_id_var.reset(request_token)
        trace_id_var.reset(trace_token)
    assert line["message"] == "hello world" and line["service"] == "auth-service"
    assert line["request_id"] == "req-7" and line["trace_id"] == "t" * 32 and line["user_id"] == "u-1"
