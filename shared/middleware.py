"""Pure ASGI middleware (no response buffering, so streaming passes through untouched)."""

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.context import request_id_var, span_id_var, trace_id_var
from shared.tracing import continue_trace

logger = logging.getLogger("cognitionos.access")

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


class RequestContextMiddleware:
    """Request id, W3C traceparent and timing for every HTTP request.

    A client-supplied X-Request-ID is kept when it is well formed; the trace continues the caller's
    traceparent with a new span. Both are echoed on the response and logged with the access line.
    """

    def __init__(self, app: ASGIApp, *, access_log: bool = True) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming_id = _header(scope, b"x-request-id")
        request_id = incoming_id if incoming_id and _SAFE_REQUEST_ID.match(incoming_id) else uuid.uuid4().hex
        trace = continue_trace(_header(scope, b"traceparent"))
        scope.setdefault("state", {})
        scope["state"]["request_id"] = request_id
        scope["state"]["trace"] = trace
        rid_token = request_id_var.set(request_id)
        tid_token = trace_id_var.set(trace.trace_id)
        sid_token = span_id_var.set(trace.span_id)
        started = time.perf_counter()
        status_holder = {"status": 500}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                elapsed_ms = (time.perf_counter() - started) * 1000
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.append((b"traceparent", trace.traceparent.encode()))
                headers.append((b"server-timing", f"app;dur={elapsed_ms:.2f}".encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            if self.access_log:
                logger.info(
                    "request",
                    extra={
                        "method": scope.get("method"),
                        "path": scope.get("path"),
                        "status": status_holder["status"],
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )
            request_id_var.reset(rid_token)
            trace_id_var.reset(tid_token)
            span_id_var.reset(sid_token)
