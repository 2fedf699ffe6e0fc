"""Who is calling (a JWT or an API key, verified here, with a short-lived cache of what was verified), and may
they call this route."""

import dataclasses
import hmac
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request

from services.api_gateway.config import GatewaySettings
from services.api_gateway.proxy import request_headers
from services.api_gateway.repository import find_identity_by_api_key_hash
from services.api_gateway.upstreams import ADMIN, UpstreamRoute
from shared.errors import (
    ForbiddenError,
    UnauthorizedError,
)
from shared.identity import Identity, hmac_sha256
from shared.revocation import api_key_cache_key
from shared.scopes import grants, required_scope
from shared.security import JWTConfig, decode_token, hash_api_key, looks_like_api_key

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
        request.scope["state"]["held_api_key"] = None
        headers = request_headers(request.scope)
        api_key = headers.get("x-api-key")
        scheme, _, token = headers.get("authorization", "").partition(" ")
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
            request.scope["state"]["held_api_key"] = {cache_key: held[1]}
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
    if identity.api_key_scopes is not None:
        check_scope(route, method=method, subpath=subpath, scopes=identity.api_key_scopes, admin_route=allowed == ADMIN)


def check_scope(route: UpstreamRoute, *, method: str, subpath: str, scopes: tuple[str, ...], admin_route: bool) -> None:
    """A scoped API key reaches only what its scopes name: 403 insufficient_scope, naming the scope it lacks."""
    required = required_scope(route.prefix, method, subpath, admin_route=admin_route)
    if required is not None and not grants(scopes, required):
        raise ForbiddenError(
            f"This API key lacks the scope {required}",
            code="insufficient_scope",
            details={"required": required, "scopes": list(scopes)},
        )
