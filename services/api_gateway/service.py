"""Gateway rules: who is calling (JWT or API key, verified here), may they, and how often."""

import dataclasses
import hmac
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request

from services.api_gateway.config import GatewaySettings
from services.api_gateway.ratelimit import Bucket, HeldKeyChanged, RateLimitDecision, RateLimiter
from services.api_gateway.repository import find_identity_by_api_key_hash
from services.api_gateway.upstreams import ROUTES, UpstreamRoute
from shared import metrics
from shared.errors import (
    OUTAGE_RETRY_AFTER_SECONDS,
    ForbiddenError,
    ServiceUnavailableError,
    TooManyRequestsError,
    UnauthorizedError,
)
from shared.identity import Identity, hmac_sha256
from shared.revocation import api_key_cache_key, revoked_session_key
from shared.security import JWTConfig, decode_token, hash_api_key, looks_like_api_key
from shared.services import ServiceName

logger = logging.getLogger(__name__)
V = TypeVar("V")


class ExpiringCache(Generic[V]):
    """Values kept until a deadline on `clock`, at most `max_entries` of them, the least recently used leaving
    first. Only values their caller has checked enter, so neither forged nor many keys can grow it.

    The gateway keeps two: access tokens that verified, with their identity until `exp` (a token verifies the same
    way every time; a repeat then skips the JWT check, about 5% of the gateway's CPU per request; once past `exp` it
    is checked again, and refused), and API keys' identities with the sealed Redis entry they were read from (not
    trusted alone: see Authenticator._identity_from_api_key). Revocation is never cached: Admission checks it on
    every request."""

    def __init__(self, max_entries: int, *, clock: Callable[[], float] = time.time) -> None:
        self.max_entries, self.clock = max_entries, clock
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()

    def get(self, key: str) -> V | None:
        """The value before its deadline; None when absent or past it (it leaves then)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        until, value = entry
        if self.clock() >= until:  # PyJWT's rule for `exp`: expired from that second on
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, key: str, value: V, *, until: float) -> None:
        if self.max_entries <= 0:
            return
        self._entries[key] = (until, value)
        if len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def forget(self, key: str) -> None:
        self._entries.pop(key, None)


@dataclass
class Authenticator:
    settings: GatewaySettings
    redis: Redis
    sessionmaker: async_sessionmaker[AsyncSession]

    def __post_init__(self) -> None:
        s = self.settings
        self._jwt = JWTConfig(
            secret=s.jwt_secret, algorithm=s.jwt_algorithm, issuer=s.jwt_issuer, audience=s.jwt_audience
        )
        self._verified: ExpiringCache[Identity] = ExpiringCache(s.verified_token_cache_size)
        # The API keys this process has served, each with the sealed Redis entry it was read from.
        self._held: ExpiringCache[tuple[Identity, str]] = ExpiringCache(
            s.verified_token_cache_size, clock=time.monotonic
        )

    async def authenticate(self, request: Request, *, fresh: bool = False) -> Identity | None:
        """The verified caller, None when no credentials were sent; 401 for bad credentials. An API key's identity
        may come from this process's memory: then `request.state.held_api_key` names the Redis entry that Admission
        must find unchanged. `fresh`: not from memory (the entry it held has changed)."""
        request.state.held_api_key = None
        api_key = request.headers.get("x-api-key")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if not api_key and scheme.lower() == "bearer" and looks_like_api_key(token):
            api_key = token
        if api_key:
            return await self._identity_from_api_key(request, api_key.strip(), fresh=fresh)
        if not token:
            return None
        if scheme.lower() != "bearer":
            raise UnauthorizedError("Use 'Authorization: Bearer <token>' or 'X-API-Key'", code="invalid_token")
        return self._identity_from_jwt(token.strip())

    def _identity_from_jwt(self, token: str) -> Identity:
        """Signature, expiry and claims; session revocation is checked by Admission with the rate limit."""
        known = self._verified.get(token)
        if known is not None:
            return known
        claims = decode_token(self._jwt, token, expected_type="access")
        role = claims.get("role")
        if role not in ("admin", "user", "agent") or not claims.get("sid") or not claims.get("username"):
            raise UnauthorizedError("Invalid token claims", code="invalid_token")
        identity = Identity(
            user_id=claims["sub"], username=claims["username"], role=role, auth_method="jwt", session_id=claims["sid"]
        )
        self._verified.put(token, identity, until=claims["exp"])
        return identity

    async def _identity_from_api_key(self, request: Request, api_key: str, *, fresh: bool) -> Identity:
        key_hash = hash_api_key(api_key)
        cache_key = api_key_cache_key(key_hash)
        # Held in memory, a key is not trusted alone: the request names its sealed Redis entry to the admission
        # script it runs anyway, which refuses when Redis no longer holds that exact entry (the key revoked or
        # edited: the auth-service deletes it; or expired), and the caller is then looked up again. That saves the
        # cache read, a round trip per request, and keeps revocation immediate on every replica.
        if fresh:
            self._held.forget(cache_key)
        elif held := self._held.get(cache_key):
            request.state.held_api_key = {cache_key: held[1]}
            return held[0]
        cached = await self._cache_get(cache_key)
        if cached is not None:
            self._hold(cache_key, cached)
            return cached[0]
        async with self.sessionmaker.begin() as session:
            identity = await find_identity_by_api_key_hash(session, key_hash)
        if identity is None:
            raise UnauthorizedError("Invalid or revoked API key", code="invalid_api_key")
        if self.settings.api_key_cache_seconds:
            sealed = self._seal(cache_key, json.dumps(dataclasses.asdict(identity)))
            if await self._cache_set(cache_key, sealed):
                self._hold(cache_key, (identity, sealed))
        return identity

    def _hold(self, cache_key: str, entry: tuple[Identity, str]) -> None:
        if seconds := self.settings.api_key_cache_seconds:
            self._held.put(cache_key, entry, until=time.monotonic() + seconds)

    def _seal(self, cache_key: str, payload: str) -> str:
        """The cached identity carries an HMAC under the internal secret, bound to its key, so whoever can write to
        Redis still cannot mint an identity (or move one to another key) without the secret."""
        mac = hmac_sha256(self.settings.internal_secret, cache_key + "\n" + payload)
        return f"{mac}.{payload}"

    async def _cache_get(self, cache_key: str) -> tuple[Identity, str] | None:
        """The cached identity and the sealed entry it came from."""
        try:
            sealed = cast(str | None, await self.redis.get(cache_key))  # the client decodes responses
        except RedisError:
            return None
        if not sealed:
            return None
        _, _, payload = sealed.partition(".")
        if not hmac.compare_digest(self._seal(cache_key, payload), sealed):
            logger.warning("api-key cache entry with a bad seal ignored", extra={"cache_key": cache_key[:24]})
            return None
        try:
            return Identity(**json.loads(payload)), sealed
        except (ValueError, TypeError):
            return None

    async def _cache_set(self, key: str, value: str) -> bool:
        try:
            await self.redis.set(key, value, ex=self.settings.api_key_cache_seconds)
        except RedisError:
            return False
        return True


def authorize(route: UpstreamRoute, *, method: str, subpath: str, identity: Identity | None) -> None:
    if route.is_public(method, subpath):
        return
    if identity is None:
        raise UnauthorizedError("Authentication required: send a bearer token or an API key")
    allowed = route.allowed_roles(method, subpath)
    if identity.role not in allowed:
        raise ForbiddenError(
            "Your role may not call this endpoint", details={"role": identity.role, "allowed": sorted(allowed)}
        )


@dataclass
class Admission:
    """May this request proceed? Session revocation and rate limits, in one Redis round trip."""

    settings: GatewaySettings
    limiter: RateLimiter

    def _buckets(self, client_ip: str, identity: Identity | None) -> list[Bucket]:
        s = self.settings
        buckets = []
        if s.rate_limit_enabled:
            buckets.append(Bucket(f"rl:ip:{client_ip}", s.rate_limit_ip_burst, s.rate_limit_ip_per_minute))
            if identity is not None:
                buckets.append(
                    Bucket(f"rl:user:{identity.user_id}", s.rate_limit_user_burst, s.rate_limit_user_per_minute)
                )
        if identity is not None and identity.api_key_rpm:  # the key's own contract: enforced even with limits off
            buckets.append(Bucket(f"rl:key:{identity.api_key_id}", identity.api_key_rpm, identity.api_key_rpm))
        return buckets

    async def admit(
        self, client_ip: str, identity: Identity | None, *, held: Mapping[str, str] | None = None
    ) -> RateLimitDecision | None:
        """Raise 401 for a revoked session, 429 over a limit, and HeldKeyChanged when a `held` entry changed in
        Redis (nothing consumed); the rate-limit headers otherwise."""
        buckets = self._buckets(client_ip, identity)
        revocation_flags = [revoked_session_key(identity.session_id)] if identity and identity.session_id else []
        if not buckets and not revocation_flags and not held:
            return None
        try:
            decision = await self.limiter.check(buckets, deny_flags=revocation_flags, held=held)
        except RedisError as exc:
            if held:  # unconfirmed: look the caller up again (the database answers when Redis does not)
                raise HeldKeyChanged from exc
            if self.settings.redis_fail_open:
                logger.warning("redis unavailable; rate limits and session revocation not checked (fail open)")
                return None
            raise ServiceUnavailableError(
                "Rate limiter and session store unavailable; retry shortly",
                code="redis_unavailable",
                details={"dependency": "redis", "retry_after_seconds": OUTAGE_RETRY_AFTER_SECONDS},
                headers={"Retry-After": str(OUTAGE_RETRY_AFTER_SECONDS)},
            ) from exc
        if decision is None:
            raise UnauthorizedError("Session has been revoked", code="session_revoked")
        if not decision.allowed:
            metrics.RATE_LIMITED.labels("user" if identity else "ip").inc()
            raise TooManyRequestsError(
                "Rate limit exceeded",
                details={"retry_after_seconds": decision.retry_after_seconds, "limit": decision.limit},
                headers=decision.headers(),
            )
        return decision if buckets else None


def client_ip(request: Request, settings: GatewaySettings) -> str:
    if settings.trust_forwarded_for and (forwarded := request.headers.get("x-forwarded-for")):
        return forwarded.split(",")[0].strip()
    return request.client.host if request.client else "unknown"


PROBE_PATHS = frozenset({"/health", "/ready", "/metrics"})
SECURITY_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "An access token"},
    "apiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "A CognitionOS API key"},
}


def public_openapi(own: dict[str, Any], upstream: Mapping[ServiceName, dict[str, Any]]) -> dict[str, Any]:
    """One OpenAPI document for the whole public API: the gateway's own operations, then every service's under its
    public prefix (`/memories/{id}` of the memory-service is `/api/v1/memories/{id}`), with their schemas named
    `<service>.<Schema>` so equal names from two services never collide, and the two ways to authenticate."""
    document = json.loads(json.dumps(own))
    document.setdefault("paths", {})
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    components["securitySchemes"] = SECURITY_SCHEMES
    document["security"] = [{"bearerAuth": []}, {"apiKeyAuth": []}]
    for route in ROUTES.values():
        spec = upstream.get(route.service)
        if spec is None:
            continue
        renamed = json.loads(
            json.dumps(spec).replace('"#/components/schemas/', f'"#/components/schemas/{route.service}.')
        )
        for name, schema in renamed.get("components", {}).get("schemas", {}).items():
            schemas[f"{route.service}.{name}"] = schema
        for path, operations in renamed.get("paths", {}).items():
            public_path = _public_path(route, path)
            if public_path is None:
                continue
            for method, operation in operations.items():
                operation["tags"] = [route.prefix]
                operation["operationId"] = f"{route.prefix}_{operation.get('operationId', method)}"
                if route.is_public(method.upper(), public_path.removeprefix(f"/api/v1/{route.prefix}/")):
                    operation["security"] = []
            document["paths"][public_path] = operations
    return document


def _public_path(route: UpstreamRoute, path: str) -> str | None:
    if path in PROBE_PATHS or not path.startswith(route.upstream_prefix):
        return None
    if path.startswith(route.root_paths):
        return path  # served at the gateway's root as it is (/v1/chat/completions)
    rest = path[len(route.upstream_prefix) :]
    if route.upstream_prefix and rest and not rest.startswith("/"):
        return None  # /memoriesX is not under /memories
    return f"/api/v1/{route.prefix}{rest}"
