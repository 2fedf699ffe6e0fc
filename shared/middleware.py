"""Pure ASGI middleware (no response buffering, so streaming passes through untouched)."""

import copy
import json
import logging
import re
import time

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.context import request_id_var, span_id_var, trace_id_var
from shared.errors import error_body
from shared.metrics import HttpMetrics
from shared.otel import current_trace, tracing_enabled
from shared.tracing import continue_trace, new_request_id

logger = logging.getLogger("cognitionos.access")

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class ServiceMiddleware:
    """Every HTTP request, in one layer (where three middlewares each wrapped `send` and `receive` again):

    - its request id and W3C trace: a client's X-Request-ID is kept when well formed, the caller's traceparent is
      continued with a new span; both are echoed on the response, with Server-Timing, and bound for the logs;
    - its body held to the limit: over `max_bytes` (a path prefix in `uploads` has its own) it is refused with 413,
      at once from Content-Length, else as the bytes arrive (chunked), so an oversized body costs at most the limit
      in memory;
    - its count and latency by route template (`metrics`), and the access log line.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: HttpMetrics,
        max_bytes: int,
        uploads: dict[str, int] | None = None,
        access_log: bool = True,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_bytes = max_bytes
        self.uploads = tuple((uploads or {}).items())  # path prefix -> its own limit (file uploads)
        self.access_log = access_log

    def around(self, app: ASGIApp) -> "ServiceMiddleware":
        """This middleware, with its limits and metrics, around another app."""
        twin = copy.copy(self)
        twin.app = app
        return twin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming_id = traceparent = declared = chunked = None
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                incoming_id = value.decode("latin-1")
            elif key == b"traceparent":
                traceparent = value.decode("latin-1")
            elif key == b"content-length":
                declared = value.decode("latin-1")
            elif key == b"transfer-encoding":
                chunked = value
        request_id = incoming_id if incoming_id and _SAFE_REQUEST_ID.match(incoming_id) else new_request_id()
        trace = (tracing_enabled() and current_trace()) or continue_trace(traceparent)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["trace"] = trace
        tokens = (request_id_var.set(request_id), trace_id_var.set(trace.trace_id), span_id_var.set(trace.span_id))
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                elapsed = time.perf_counter() - started
                message["headers"] = [
                    *message.get("headers", ()),
                    (b"x-request-id", request_id.encode()),
                    (b"traceparent", trace.traceparent.encode()),
                    (b"server-timing", f"app;dur={elapsed * 1000:.2f}".encode()),
                ]
                self.metrics.observe(scope["method"], _route(scope), elapsed)
            await send(message)

        try:
            if declared is None and chunked is None:
                await self.app(scope, receive, send_with_headers)  # HTTP/1.1 sends no body without either header
            else:
                await self._with_body(scope, receive, send_with_headers, declared=declared)
        finally:
            self.metrics.count(scope["method"], _route(scope), status)
            if self.access_log and logger.isEnabledFor(logging.INFO):
                logger.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )
            for var, token in zip((request_id_var, trace_id_var, span_id_var), tokens, strict=True):
                var.reset(token)

    async def _with_body(self, scope: Scope, receive: Receive, send: Send, *, declared: str | None) -> None:
        max_bytes = self._limit(scope["path"])
        if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
            await _refuse(send, declared_bytes=declared, max_bytes=max_bytes)
        else:
            await self._counting_body(scope, receive, send, max_bytes=max_bytes)

    async def _counting_body(self, scope: Scope, receive: Receive, send: Send, *, max_bytes: int) -> None:
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
                await _refuse(send, declared_bytes=None, max_bytes=max_bytes)

    def _limit(self, path: str) -> int:
        for prefix, limit in self.uploads:
            if path.startswith(prefix):
                return limit
        return self.max_bytes


async def _refuse(send: Send, *, declared_bytes: str | None, max_bytes: int) -> None:
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


def _route(scope: Scope) -> str:
    """A template, never the raw path: a handler may name a finer one (the gateway names the public prefix)."""
    named = scope.get("state", {}).get("metrics_route")
    if named:
        return str(named)
    route = scope.get("route")
    return str(getattr(route, "path", "unmatched"))


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
