"""How often: each request is admitted against its user's (or key's) and its IP's rate limits, in one Redis
script; and which address a request comes from."""

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from redis.exceptions import RedisError
from starlette.requests import Request

from services.api_gateway.config import GatewaySettings
from services.api_gateway.proxy import request_headers
from services.api_gateway.ratelimit import Bucket, HeldKeyChanged, RateLimitDecision, RateLimiter
from shared import metrics
from shared.errors import (
    OUTAGE_RETRY_AFTER_SECONDS,
    ServiceUnavailableError,
    TooManyRequestsError,
    UnauthorizedError,
)
from shared.identity import Identity
from shared.revocation import revoked_session_key

logger = logging.getLogger(__name__)


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
    if settings.trust_forwarded_for and (forwarded := request_headers(request.scope).get("x-forwarded-for")):
        return forwarded.split(",")[0].strip()
    client = request.scope.get("client")
    return client[0] if client else "unknown"
