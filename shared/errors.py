"""One error hierarchy; every error leaves a service as {"error": {"code", "message", "details"}}."""

import logging
from typing import Any, cast

from asyncpg.exceptions import CannotConnectNowError, PostgresConnectionError, PostgresError
from asyncpg.exceptions import InterfaceError as AsyncpgInterfaceError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DataError, DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from shared.db import note_out_of_resources

logger = logging.getLogger(__name__)


class AppError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.headers = headers
        if code:
            self.code = code


class BadRequestError(AppError):
    status_code, code = 400, "bad_request"


class UnauthorizedError(AppError):
    status_code, code = 401, "unauthorized"

    def __init__(self, message: str = "Authentication required", **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kwargs)


class ForbiddenError(AppError):
    status_code, code = 403, "forbidden"


class NotFoundError(AppError):
    status_code, code = 404, "not_found"


class ConflictError(AppError):
    status_code, code = 409, "conflict"


class UnprocessableError(AppError):
    """Well-formed, but not something this request may ask (an edit that changes a held call's tool)."""

    status_code, code = 422, "unprocessable"


class PayloadTooLargeError(AppError):
    status_code, code = 413, "payload_too_large"


class UnsupportedMediaTypeError(AppError):
    status_code, code = 415, "unsupported_media_type"


class RangeNotSatisfiableError(AppError):
    status_code, code = 416, "range_not_satisfiable"


class TooManyRequestsError(AppError):
    status_code, code = 429, "rate_limited"


class ServiceUnavailableError(AppError):
    status_code, code = 503, "service_unavailable"


class BadGatewayError(AppError):
    status_code, code = 502, "bad_gateway"


class GatewayTimeoutError(AppError):
    status_code, code = 504, "upstream_timeout"


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(
    status_code: int,
    code: str,
    message: str,
    *,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    request: Request | None = None,
) -> JSONResponse:
    if request is not None and request.url.path.startswith(ANTHROPIC_PATHS):
        return _anthropic_error(status_code, code, message, details=details or {}, headers=headers)
    if request is not None and request.url.path.startswith(OPENAI_PATHS):
        return _openai_error(status_code, code, message, details=details or {}, headers=headers)
    return JSONResponse(error_body(code, message, details), status_code=status_code, headers=headers)


# The OpenAI-compatible API (/v1 at the ai-runtime and the gateway; the gateway's older /api/v1/ai/v1) answers
# errors the way OpenAI does, so its SDK raises the matching exception (NotFoundError, RateLimitError, ...): `type`
# and `param` are added to the envelope, and an unknown model is a 404 model_not_found.
OPENAI_PATHS = ("/v1/", "/api/v1/ai/v1/")
OPENAI_ERROR_TYPES = {
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    429: "rate_limit_error",
}


def _as_model_not_found(status_code: int, code: str) -> tuple[int, str]:
    """A model that is unknown or not enabled is a 404 model_not_found in both vendors' APIs."""
    if code in ("unknown_model", "model_unavailable") and status_code in (400, 503):
        return 404, "model_not_found"
    return status_code, code


def _openai_error(
    status_code: int, code: str, message: str, *, details: dict[str, Any], headers: dict[str, str] | None
) -> JSONResponse:
    status_code, code = _as_model_not_found(status_code, code)
    error_type = OPENAI_ERROR_TYPES.get(status_code, "api_error" if status_code >= 500 else "invalid_request_error")
    body = error_body(code, message, details)
    body["error"] |= {"type": error_type, "param": "model" if code == "model_not_found" else details.get("param")}
    return JSONResponse(body, status_code=status_code, headers=headers)


# The Anthropic-compatible API answers errors as Anthropic does, so its SDK raises the matching exception: the
# envelope inside {"type": "error", ...} with Anthropic's error `type`; any request it cannot take is a 400.
ANTHROPIC_PATHS = ("/v1/messages", "/api/v1/ai/v1/messages")
ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
}


def _anthropic_error(
    status_code: int, code: str, message: str, *, details: dict[str, Any], headers: dict[str, str] | None
) -> JSONResponse:
    status_code, code = _as_model_not_found(status_code, code)
    if status_code == 422:
        status_code = 400
    error_type = ANTHROPIC_ERROR_TYPES.get(status_code, "api_error" if status_code >= 500 else "invalid_request_error")
    body = {"type": "error", **error_body(code, message, details)}
    body["error"]["type"] = error_type
    return JSONResponse(body, status_code=status_code, headers=headers)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}


async def _app_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return error_response(
        exc.status_code, exc.code, exc.message, details=exc.details, headers=exc.headers, request=request
    )


async def _validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]
    if request.url.path.startswith(OPENAI_PATHS) and any(p["type"] == "json_invalid" for p in problems):
        # A body that is not JSON at all: OpenAI and Anthropic answer 400, and their SDKs raise BadRequestError.
        return error_response(400, "invalid_json", "The request body is not valid JSON", request=request)
    if request.url.path.startswith(ANTHROPIC_PATHS):
        unknown = [".".join(str(part) for part in p["loc"][1:]) for p in problems if p["type"] == "extra_forbidden"]
        if unknown:
            return error_response(
                400,
                "unsupported_parameter",
                f"Not supported here: {', '.join(unknown)}",
                details={"errors": problems},
                request=request,
            )
    return error_response(
        422, "validation_error", _validation_message(problems), details={"errors": problems}, request=request
    )


def _validation_message(problems: list[dict[str, Any]]) -> str:
    """The first problem in words (Anthropic's SDK shows only the message): "messages.0.content: Field required"."""
    if not problems:
        return "Request validation failed"
    first = problems[0]
    where = ".".join(str(part) for part in first["loc"][1:] if part != "body") or "body"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"Request validation failed: {where}: {first['msg']}{more}"


async def _http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    headers = getattr(exc, "headers", None)
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": ", ".join(_allowed_methods(request))}
    return error_response(exc.status_code, code, message, headers=headers, request=request)


HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route takes at this path, asked of the router itself (routes nest in included routers):
    Starlette's own Allow names only the first matching route's (GET and POST on /runs are two routes, and a DELETE
    was told "Allow: POST")."""
    routes = request.app.router.routes
    return [
        method
        for method in HTTP_METHODS
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)
    ]


OUTAGE_RETRY_AFTER_SECONDS = 5


def unavailable_dependency(exc: BaseException) -> str | None:
    """ "database" or "redis" when `exc` (or what caused it) is a lost or refused connection to it, else None."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, RedisConnectionError | RedisTimeoutError):
            return "redis"
        if isinstance(seen, OperationalError | InterfaceError | PostgresConnectionError | CannotConnectNowError):
            return "database"
        if isinstance(seen, OSError) and _raised_inside(seen, "asyncpg"):
            # asyncpg raises the socket's own error when PostgreSQL refuses, drops or no longer has its socket.
            return "database"
        seen = seen.__cause__ or seen.__context__
    return None


def _raised_inside(exc: BaseException, package: str) -> bool:
    traceback = exc.__traceback__
    while traceback is not None:
        if f"/{package}/" in traceback.tb_frame.f_code.co_filename:
            return True
        traceback = traceback.tb_next
    return False


def constraint_violation(exc: BaseException) -> tuple[int, str, str] | None:
    """(status, code, message) when the database refused a request's data, by SQLSTATE: a missing referenced row,
    a duplicate, a broken check (class 23), a value it cannot hold such as a NUL character or an out-of-range
    number (class 22). The schemas catch these first; this is the guard behind them."""
    if not isinstance(exc, DBAPIError):
        return None
    original = exc.orig
    sqlstate = str(getattr(original, "sqlstate", None) or getattr(original, "pgcode", None) or "")
    if sqlstate == "23503":
        return 422, "unknown_reference", "A referenced object does not exist"
    if sqlstate == "23505":
        return 409, "conflict", "That already exists"
    if sqlstate.startswith("23"):
        return 422, "constraint_violation", "The request breaks a rule of the stored data"
    if sqlstate.startswith("22") or isinstance(exc, DataError):
        return 422, "invalid_value", "A value in the request cannot be stored (out of range or malformed)"
    return None


def out_of_resources(exc: BaseException) -> str | None:
    """The error code when PostgreSQL refused for want of disk, memory or connections (SQLSTATE class 53)."""
    original = exc.orig if isinstance(exc, DBAPIError) else exc
    sqlstate = str(getattr(original, "sqlstate", None) or getattr(original, "pgcode", None) or "")
    if sqlstate == "53100":
        return "database_disk_full"
    return "database_out_of_resources" if sqlstate.startswith("53") else None


async def _infrastructure_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Database, Redis and socket errors. Handled here rather than by the catch-all, which re-raises to the server:
    uvicorn then closes the connection, and a keep-alive client (the gateway's pool) finds it reset."""
    if (code := out_of_resources(exc)) is not None:
        core = getattr(request.app.state, "core", None)  # the service's CoreState (shared/app.py), once started
        if core is not None:
            note_out_of_resources(core.engine)
        logger.error("the database refused for want of resources", extra={"code": code, "path": request.url.path})
        return error_response(
            503,
            code,
            "The database is out of disk, memory or connections; retry shortly",
            details={"dependency": "database", "retry_after_seconds": OUTAGE_RETRY_AFTER_SECONDS},
            headers={"Retry-After": str(OUTAGE_RETRY_AFTER_SECONDS)},
            request=request,
        )
    violation = constraint_violation(exc)
    if violation is not None:
        status, code, message = violation
        logger.info("request refused by the database", extra={"code": code, "path": request.url.path})
        return error_response(status, code, message, request=request)
    dependency = unavailable_dependency(exc)
    if dependency is not None:
        # An outage is not a bug: the client may retry, and the service recovers by itself when it is back.
        logger.warning("dependency unavailable", extra={"dependency": dependency, "path": request.url.path})
        return error_response(
            503,
            f"{dependency}_unavailable",
            f"The {dependency} is unavailable; retry shortly",
            details={"dependency": dependency, "retry_after_seconds": OUTAGE_RETRY_AFTER_SECONDS},
            headers={"Retry-After": str(OUTAGE_RETRY_AFTER_SECONDS)},
            request=request,
        )
    logger.error("unhandled error", extra={"path": request.url.path}, exc_info=exc)
    return error_response(500, "internal_error", "Internal server error", request=request)


async def _unhandled_error_handler(request: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled error", extra={"path": request.url.path}, exc_info=exc)
    return error_response(500, "internal_error", "Internal server error", request=request)


async def handled_error(request: Request, exc: Exception) -> Response:
    """The app's answer to `exc` from its exception handlers, for an endpoint called outside FastAPI's exception
    middleware (the gateway's proxy); `exc` again when only the catch-all applies, which the server error
    middleware runs, as it does for every other route."""
    handlers = request.app.exception_handlers
    for cls in type(exc).__mro__:
        if cls is Exception:
            break
        if (handler := handlers.get(cls)) is not None:
            return cast(Response, await handler(request, exc))
    raise exc


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)
    for infrastructure in (SQLAlchemyError, PostgresError, AsyncpgInterfaceError, RedisError, OSError):
        app.add_exception_handler(infrastructure, _infrastructure_error_handler)
    app.add_exception_handler(Exception, _unhandled_error_handler)
