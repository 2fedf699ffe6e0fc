"""Pure ASGI middleware (no response buffering, so streaming passes through untouched)."""

import json
import logging
import re
import time

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.context import request_id_var, span_id_var, trace_id_var
from shared.errors import error_body
from shared.otel import current_trace, tracing_enabled
from shared.tracing import continue_trace, new_request_id

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
        request_id = incoming_id if incoming_id and _SAFE_REQUEST_ID.match(incoming_id) else new_request_id()
        trace = (tracing_enabled() and current_trace()) or continue_trace(_header(scope, b"traceparent"))
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


class BodySizeLimitMiddleware:
    """Refuses request bodies over `max_bytes` with 413 before they are read whole: at once from Content-Length,
    else as the bytes arrive (chunked uploads), so an oversized body costs at most `max_bytes` of memory."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, uploads: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.uploads = tuple((uploads or {}).items())  # path prefix -> its own limit (file uploads)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self._limit(scope["path"])
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
            await self._refuse(send, declared_bytes=declared, max_bytes=max_bytes)
            return
        if declared is None and _header(scope, b"transfer-encoding") is None:
            await self.app(scope, receive, send)  # HTTP/1.1 sends no body without either header: nothing to count
            return
        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not response_started:
                await self._refuse(send, declared_bytes=None, max_bytes=max_bytes)

    def _limit(self, path: str) -> int:
        for prefix, limit in self.uploads:
            if path.startswith(prefix):
                return limit
        return self.max_bytes

    async def _refuse(self, send: Send, *, declared_bytes: str | None, max_bytes: int) -> None:
        details: dict[str, object] = {"max_bytes": max_bytes}
        if declared_bytes is not None:
            details["content_length"] = declared_bytes[:32]
        body = json.dumps(error_body("payload_too_large", "Request body too large", details)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
            }
        )
        await send({"type": "http.response.body", "body": body})


class BodyTooLarge(StarletteHTTPException):
    """Raised from receive() once a body passes the limit; the middleware turns it into a 413. An HTTPException, so
    that FastAPI's body parsing passes it on as a 413 rather than calling it a malformed body (400)."""

    def __init__(self) -> None:
        super().__init__(413, "Request body too large")


def caused_by_body_limit(exc: BaseException) -> bool:
    """Whether `exc` (say, a client library's error while streaming the body on) began as BodyTooLarge."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, BodyTooLarge):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
