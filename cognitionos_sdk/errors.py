"""Every answer outside 2xx raises: the error envelope's code, message and details on the exception."""

from typing import Any

import httpx


class CognitionOSError(Exception):
    def __init__(
        self, *, status: int, code: str, message: str, details: dict[str, Any], request_id: str | None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.request_id = request_id


class BadRequestError(CognitionOSError):
    """400 (and 422): the request is not valid; `details` says where."""


class AuthenticationError(CognitionOSError):
    """401: no, a bad or an expired token or key."""


class PermissionDeniedError(CognitionOSError):
    """403: signed in, but not allowed."""


class NotFoundError(CognitionOSError):
    """404: it does not exist, or it is someone else's."""


class ConflictError(CognitionOSError):
    """409: the state does not allow it (a finished run, a reused Idempotency-Key, ...)."""


class RateLimitError(CognitionOSError):
    """429: slow down; `retry_after` says for how long (seconds), when the server said."""

    @property
    def retry_after(self) -> float | None:
        value = self.details.get("retry_after")
        return float(value) if value is not None else None


BY_STATUS: dict[int, type[CognitionOSError]] = {
    400: BadRequestError,
    422: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitError,
}


def raise_for_error(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        error = response.json()["error"]
        code, message, details = str(error["code"]), str(error["message"]), dict(error.get("details") or {})
    except (ValueError, KeyError, TypeError):
        code, message, details = "http_error", response.text[:500] or response.reason_phrase, {}
    if response.status_code == 429 and "retry-after" in response.headers:
        details.setdefault("retry_after", response.headers["retry-after"])
    kind = BY_STATUS.get(response.status_code, CognitionOSError)
    raise kind(
        status=response.status_code,
        code=code,
        message=message,
        details=details,
        request_id=response.headers.get("x-request-id"),
    )
