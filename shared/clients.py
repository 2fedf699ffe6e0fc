"""The one typed client for service-to-service calls.

httpx with timeouts; idempotent calls (GET/HEAD/PUT/DELETE) retry on connection errors and 502/503/504
with backoff. Every call carries the current request id and traceparent, and the caller's signed identity
when there is one.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any, Self, TypeVar

import httpx
from httpx_sse import aconnect_sse
from pydantic import BaseModel

from shared.config import BaseServiceSettings
from shared.context import request_id_var, span_id_var, trace_id_var
from shared.errors import AppError, GatewayTimeoutError, ServiceUnavailableError
from shared.identity import Identity, sign_identity
from shared.services import ServiceName
from shared.tracing import new_span_id

logger = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRYABLE_STATUS = frozenset({502, 503, 504})


def propagation_headers() -> dict[str, str]:
    headers: dict[str, str] = {}
    if request_id := request_id_var.get():
        headers["x-request-id"] = request_id
    if trace_id := trace_id_var.get():
        headers["traceparent"] = f"00-{trace_id}-{span_id_var.get() or new_span_id()}-01"
    return headers


M = TypeVar("M", bound=BaseModel)


KEEPALIVE_SECONDS = 4.0


class ServiceClient:
    """Typed async client for one CognitionOS service."""

    def __init__(
        self,
        service: ServiceName,
        base_url: str,
        *,
        internal_secret: str,
        timeout: float = 10.0,
        retries: int = 2,
        backoff_seconds: float = 0.1,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.service = service
        self.internal_secret = internal_secret
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout, connect=2.0),
            # Idle connections go before the service's uvicorn closes them (5 s), never while it does.
            limits=httpx.Limits(keepalive_expiry=KEEPALIVE_SECONDS),
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def request(
        self, method: str, path: str, *, identity: Identity | None = None, json: Any = None, params: Any = None
    ) -> httpx.Response:
        method = method.upper()
        headers = propagation_headers()
        if identity is not None:
            headers.update(sign_identity(identity, self.internal_secret))
        attempts = 1 + (self.retries if method in IDEMPOTENT_METHODS else 0)
        for attempt in range(1, attempts + 1):
            try:
                response = await self._http.request(method, path, json=json, params=params, headers=headers)
            except httpx.TimeoutException as exc:
                if attempt == attempts:
                    raise GatewayTimeoutError(f"{self.service} timed out", details={"service": self.service}) from exc
            except httpx.TransportError as exc:
                if attempt == attempts:
                    raise ServiceUnavailableError(
                        f"{self.service} is unreachable", details={"service": self.service, "reason": str(exc)}
                    ) from exc
            else:
                if response.status_code not in RETRYABLE_STATUS or attempt == attempts:
                    return response
            await asyncio.sleep(self.backoff_seconds * 2 ** (attempt - 1))
        raise AssertionError("unreachable")

    async def call(self, path: str, body: BaseModel, answer: type[M], *, identity: Identity | None = None) -> M:
        """POSTs a contract body (shared/contracts) and parses the contract answer: the typed way to call a service."""
        sent = body.model_dump(mode="json", exclude_none=True)
        return answer.model_validate(await self.post_json(path, identity=identity, json=sent))

    async def get_json(self, path: str, **kwargs: Any) -> Any:
        return _json_or_raise(self.service, await self.request("GET", path, **kwargs))

    async def post_json(self, path: str, **kwargs: Any) -> Any:
        return _json_or_raise(self.service, await self.request("POST", path, **kwargs))

    async def put_json(self, path: str, **kwargs: Any) -> Any:
        return _json_or_raise(self.service, await self.request("PUT", path, **kwargs))

    async def delete(self, path: str, **kwargs: Any) -> None:
        response = await self.request("DELETE", path, **kwargs)
        if not response.is_success:
            _json_or_raise(self.service, response)

    async def stream_events(
        self, path: str, *, identity: Identity | None = None, json: Any = None
    ) -> AsyncIterator[tuple[str, Any]]:
        """POSTs and yields the answer's server-sent events as (event name, JSON data), via httpx-sse. No retries:
        a stream that started cannot be replayed."""
        headers = propagation_headers()
        if identity is not None:
            headers.update(sign_identity(identity, self.internal_secret))
        try:
            async with aconnect_sse(self._http, "POST", path, json=json, headers=headers) as source:
                if not source.response.is_success:
                    await source.response.aread()
                    _json_or_raise(self.service, source.response)
                async for event in source.aiter_sse():
                    yield event.event, event.json()
        except httpx.TimeoutException as exc:
            raise GatewayTimeoutError(f"{self.service} timed out", details={"service": self.service}) from exc
        except httpx.TransportError as exc:
            raise ServiceUnavailableError(
                f"{self.service} is unreachable", details={"service": self.service, "reason": str(exc)}
            ) from exc


def service_client(settings: BaseServiceSettings, service: ServiceName, *, timeout: float) -> ServiceClient:
    """The one way a service makes a client for another: its URL and the internal secret come from settings."""
    return ServiceClient(
        service, settings.service_url(service), internal_secret=settings.internal_secret, timeout=timeout
    )


def _json_or_raise(service: str, response: httpx.Response) -> Any:
    if response.is_success:
        return response.json()
    try:
        error = response.json()["error"]
        code, message, details = error["code"], error["message"], error.get("details", {})
    except (ValueError, KeyError, TypeError):
        code, message, details = "upstream_error", response.text[:500], {}
    exc = AppError(message, code=code, details={**details, "service": service})
    exc.status_code = response.status_code
    raise exc
