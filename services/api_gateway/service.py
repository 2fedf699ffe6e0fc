"""Gateway rules: who is calling (JWT or API key, verified here), may they, how fast, and the proxy."""

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import StreamingResponse

from services.api_gateway.circuit import CircuitBreaker
from services.api_gateway.config import GatewaySettings
from services.api_gateway.ratelimit import Bucket, RateLimitDecision, RateLimiter
from services.api_gateway.repository import find_identity_by_api_key_hash
from services.api_gateway.routes import UpstreamRoute
from services.api_gateway.schemas import AggregatedHealthResponse, UpstreamHealth
from shared.clients import ServiceName
from shared.errors import (
    ForbiddenError,
    GatewayTimeoutError,
    ServiceUnavailableError,
    TooManyRequestsError,
    UnauthorizedError,
)
from shared.identity import INTERNAL_HEADERS, Identity, sign_identity
from shared.revocation import api_key_cache_key, revoked_session_key
from shared.security import JWTConfig, decode_token, hash_api_key, looks_like_api_key

logger = logging.getLogger(__name__)

HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers", "transfer-encoding", "upgrade"}
)
# Never forwarded upstream: the gateway has consumed the credentials and signs identity itself.
STRIPPED_REQUEST_HEADERS = HOP_BY_HOP | {"host", "authorization", "x-api-key", "traceparent", "x-request-id", *INTERNAL_HEADERS}
# The gateway's own middleware sets these on the way out.
STRIPPED_RESPONSE_HEADERS = HOP_BY_HOP | {"x-request-id", "traceparent", "server-timing"}


def service_urls(settings: GatewaySettings) -> dict[ServiceName, str]:
    return {
        "auth-service": settings.auth_service_url,
        "task-planner": settings.task_planner_url,
        "agent-orchestrator": settings.agent_orchestrator_url,
        "memory-service": settings.memory_service_url,
        "ai-runtime": settings.ai_runtime_url,
        "tool-runner": settings.tool_runner_url,
    }


@dataclass
class Authenticator:
    settings: GatewaySettings
    redis: Redis
    sessionmaker: async_sessionmaker[AsyncSession]

    def __post_init__(self) -> None:
        s = self.settings
        self._jwt = JWTConfig(s.jwt_secret, s.jwt_algorithm, s.jwt_issuer, s.jwt_audience)

    async def authenticate(self, request: Request) -> Identity | None:
        """The verified caller, None when no credentials were sent; 401 for bad credentials."""
        api_key = request.headers.get("x-api-key")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if not api_key and scheme.lower() == "bearer" and looks_like_api_key(token):
            api_key = token
        if api_key:
            return await self._identity_from_api_key(api_key.strip())
        if not token:
            return None
        if scheme.lower() != "bearer":
            raise UnauthorizedError("Use 'Authorization: Bearer <token>' or 'X-API-Key'", code="invalid_token")
        return await self._identity_from_jwt(token.strip())

    async def _identity_from_jwt(self, token: str) -> Identity:
        claims = decode_token(self._jwt, token, expected_type="access")
        role = claims.get("role")
        if role not in ("admin", "user", "agent") or not claims.get("sid") or not claims.get("username"):
            raise UnauthorizedError("Invalid token claims", code="invalid_token")
        if await self._redis_flag(revoked_session_key(claims["sid"])):
            raise UnauthorizedError("Session has been revoked", code="session_revoked")
        return Identity(user_id=claims["sub"], username=claims["username"], role=role, auth_method="jwt", session_id=claims["sid"])

    async def _redis_flag(self, key: str) -> bool:
        try:
            return bool(await self.redis.exists(key))
        except RedisError:
            if self.settings.redis_fail_open:
                logger.warning("redis unavailable; revocation list not checked")
                return False
            raise ServiceUnavailableError("Session store unavailable", code="dependency_unavailable")

    async def _identity_from_api_key(self, api_key: str) -> Identity:
        key_hash = hash_api_key(api_key)
        cache_key = api_key_cache_key(key_hash)
        cached = await self._cache_get(cache_key)
        if cached:
            return Identity(**json.loads(cached))
        async with self.sessionmaker() as session:
            identity = await find_identity_by_api_key_hash(session, key_hash)
        if identity is None:
            raise UnauthorizedError("Invalid or revoked API key", code="invalid_api_key")
        if self.settings.api_key_cache_seconds:
            await self._cache_set(cache_key, json.dumps(dataclasses.asdict(identity)))
        return identity

    async def _cache_get(self, key: str) -> str | None:
        try:
            return await self.redis.get(key)
        except RedisError:
            return None

    async def _cache_set(self, key: str, value: str) -> None:
        try:
            await self.redis.set(key, value, ex=self.settings.api_key_cache_seconds)
        except RedisError:
            pass


def authorize(route: UpstreamRoute, method: str, subpath: str, identity: Identity | None) -> None:
    if route.is_public(method, subpath):
        return
    if identity is None:
        raise UnauthorizedError("Authentication required: send a bearer token or an API key")
    allowed = route.allowed_roles(method, subpath)
    if identity.role not in allowed:
        raise ForbiddenError("Your role may not call this endpoint", details={"role": identity.role, "allowed": sorted(allowed)})


@dataclass
class RateLimitPolicy:
    settings: GatewaySettings
    limiter: RateLimiter

    async def check(self, client_ip: str, identity: Identity | None) -> RateLimitDecision | None:
        if not self.settings.rate_limit_enabled:
            return None
        s = self.settings
        buckets = [Bucket(f"rl:ip:{client_ip}", s.rate_limit_ip_burst, s.rate_limit_ip_per_minute)]
        if identity is not None:
            buckets.append(Bucket(f"rl:user:{identity.user_id}", s.rate_limit_user_burst, s.rate_limit_user_per_minute))
        try:
            decision = await self.limiter.check(buckets)
        except RedisError:
            if s.redis_fail_open:
                logger.warning("redis unavailable; rate limit not enforced (fail open)")
                return None
            raise ServiceUnavailableError("Rate limiter unavailable", code="dependency_unavailable")
        if not decision.allowed:
            raise TooManyRequestsError(
                "Rate limit exceeded",
                details={"retry_after_seconds": decision.retry_after_seconds, "limit": decision.limit},
                headers=decision.headers(),
            )
        return decision


class UpstreamProxy:
    """Streams requests and responses between clients and services; one breaker per service."""

    def __init__(self, settings: GatewaySettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.urls = service_urls(settings)
        self.breakers = {
            name: CircuitBreaker(settings.circuit_failure_threshold, settings.circuit_reset_seconds) for name in self.urls
        }
        limits = httpx.Limits(max_connections=settings.upstream_max_connections, max_keepalive_connections=100)
        self.client = httpx.AsyncClient(limits=limits, transport=transport, follow_redirects=False)

    async def aclose(self) -> None:
        await self.client.aclose()

    def _timeout(self, streaming: bool) -> httpx.Timeout:
        read = None if streaming else self.settings.upstream_timeout_seconds
        return httpx.Timeout(self.settings.upstream_timeout_seconds, connect=self.settings.upstream_connect_timeout_seconds, read=read)

    async def forward(
        self,
        request: Request,
        service: ServiceName,
        path: str,
        identity: Identity | None,
        extra_response_headers: dict[str, str],
    ) -> StreamingResponse:
        breaker = self.breakers[service]
        if not breaker.allow_request():
            raise ServiceUnavailableError(
                f"{service} is failing; requests are paused briefly",
                code="circuit_open",
                details={"service": service, "retry_after_seconds": breaker.retry_after_seconds()},
                headers={"Retry-After": str(breaker.retry_after_seconds())},
            )
        headers = self._upstream_headers(request, identity)
        streaming = "text/event-stream" in request.headers.get("accept", "")
        has_body = request.method not in ("GET", "HEAD", "OPTIONS", "DELETE") or "content-length" in request.headers
        upstream_request = self.client.build_request(
            request.method,
            self.urls[service] + path + (f"?{request.url.query}" if request.url.query else ""),
            headers=headers,
            content=request.stream() if has_body else None,
            timeout=self._timeout(streaming),
        )
        try:
            response = await self.client.send(upstream_request, stream=True)
        except httpx.TimeoutException as exc:
            breaker.record_failure()
            raise GatewayTimeoutError(f"{service} did not answer in time", details={"service": service}) from exc
        except httpx.TransportError as exc:
            breaker.record_failure()
            raise ServiceUnavailableError(
                f"{service} is unavailable", code="upstream_unavailable", details={"service": service, "reason": type(exc).__name__}
            ) from exc
        if response.status_code in (502, 503, 504):
            breaker.record_failure()
        else:
            breaker.record_success()
        response_headers = {k: v for k, v in response.headers.items() if k.lower() not in STRIPPED_RESPONSE_HEADERS}
        response_headers.update(extra_response_headers)
        if "text/event-stream" in response.headers.get("content-type", ""):
            response_headers["x-accel-buffering"] = "no"
            response_headers.setdefault("cache-control", "no-cache")
        return StreamingResponse(
            _relay(response, service),
            status_code=response.status_code,
            headers=response_headers,
            background=BackgroundTask(response.aclose),
        )

    def _upstream_headers(self, request: Request, identity: Identity | None) -> dict[str, str]:
        headers = {k: v for k, v in request.headers.items() if k not in STRIPPED_REQUEST_HEADERS}
        client_ip = request.client.host if request.client else ""
        prior = request.headers.get("x-forwarded-for")
        headers["x-forwarded-for"] = f"{prior}, {client_ip}" if prior and self.settings.trust_forwarded_for else client_ip
        headers["x-forwarded-proto"] = request.url.scheme
        headers["x-request-id"] = request.state.request_id
        headers["traceparent"] = request.state.trace.traceparent
        if identity is not None:
            headers.update(sign_identity(identity, self.settings.internal_secret))
        return headers

    async def aggregated_health(self, version: str) -> AggregatedHealthResponse:
        names = list(self.urls)
        results = await asyncio.gather(*(self._probe(name) for name in names))
        services = dict(zip(names, results, strict=True))
        status = "ok" if all(h.status == "ok" for h in services.values()) else "degraded"
        return AggregatedHealthResponse(status=status, service=self.settings.service_name, version=version, services=services)

    async def _probe(self, service: ServiceName) -> UpstreamHealth:
        url = self.urls[service]
        started = time.perf_counter()
        circuit = self.breakers[service].state
        try:
            response = await self.client.get(f"{url}/health", timeout=2.0)
        except httpx.HTTPError as exc:
            return UpstreamHealth(status="down", url=url, error=type(exc).__name__, circuit=circuit)
        latency = round((time.perf_counter() - started) * 1000, 2)
        if response.status_code != 200:
            return UpstreamHealth(status="down", url=url, latency_ms=latency, error=f"HTTP {response.status_code}", circuit=circuit)
        return UpstreamHealth(status="ok", url=url, latency_ms=latency, circuit=circuit)


async def _relay(response: httpx.Response, service: str) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.aiter_raw():
            yield chunk
    except httpx.HTTPError as exc:
        # Headers are already sent; all we can do is end the stream and say why in the log.
        logger.warning("upstream stream broke", extra={"service": service, "reason": type(exc).__name__})


def client_ip(request: Request, settings: GatewaySettings) -> str:
    if settings.trust_forwarded_for and (forwarded := request.headers.get("x-forwarded-for")):
        return forwarded.split(",")[0].strip()
    return request.client.host if request.client else "unknown"
