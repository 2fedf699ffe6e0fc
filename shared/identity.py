"""The verified caller, and how the gateway hands it to upstreams.

The gateway verifies the JWT or API key, then sends the identity as a JSON header signed with
HMAC-SHA256 under the internal secret, with a timestamp to bound replay. Upstreams trust identity
only from that signature, so a client cannot spoof it: the gateway strips these headers from
client requests, and anything unsigned or mis-signed is ignored.
"""

import base64
import functools
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Annotated, Literal

from fastapi import Depends, Request

from shared.errors import ForbiddenError, UnauthorizedError

Role = Literal["admin", "user", "agent"]
ROLES: tuple[Role, ...] = ("admin", "user", "agent")

IDENTITY_HEADER = "x-cognitionos-identity"
SIGNATURE_HEADER = "x-cognitionos-identity-signature"
INTERNAL_HEADERS = (IDENTITY_HEADER, SIGNATURE_HEADER)
MAX_IDENTITY_AGE_SECONDS = 300


@dataclass(frozen=True, slots=True)
class Identity:
    user_id: str
    username: str
    role: Role
    auth_method: Literal["jwt", "api_key"]
    session_id: str | None = None
    api_key_id: str | None = None
    agent_id: str | None = None  # set when an orchestrator agent acts for the user; its definition limits the tools
    api_key_rpm: int | None = None  # an API key's own requests-per-minute limit, enforced by the gateway
    api_key_scopes: tuple[str, ...] | None = None  # what the key may do (shared/scopes.py); None: all its user may
    # Acting for one team (a key bound to it, or a team's run): reaches that team's resources only (shared/teams.py).
    team_id: str | None = None

    def __post_init__(self) -> None:
        if self.api_key_scopes is not None and not isinstance(self.api_key_scopes, tuple):
            object.__setattr__(self, "api_key_scopes", tuple(self.api_key_scopes))  # read back from JSON as a list

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def hmac_sha256(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def sign_identity(identity: Identity, secret: str, now: float | None = None) -> dict[str, str]:
    return dict(_signed_headers(identity, secret, int(now if now is not None else time.time())))


# Signing and checking are pure functions of their inputs, and a caller sends the same identity many times a
# second: each is computed once per (identity, second) and (headers) instead of per request, in bounded caches.
@functools.lru_cache(maxsize=1024)
def _signed_headers(identity: Identity, secret: str, issued: int) -> tuple[tuple[str, str], ...]:
    body = {**asdict(identity), "ts": issued}
    payload = base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).decode()
    return ((IDENTITY_HEADER, payload), (SIGNATURE_HEADER, hmac_sha256(secret, payload)))


def verify_identity_headers(payload: str | None, signature: str | None, secret: str) -> Identity | None:
    """The identity the gateway signed, or None when absent, forged or stale."""
    if not payload or not signature:
        return None
    signed = _signed_identity(payload, signature, secret)
    if signed is None:
        return None
    identity, issued = signed
    if abs(time.time() - issued) > MAX_IDENTITY_AGE_SECONDS:
        return None
    return identity


@functools.lru_cache(maxsize=1024)
def _signed_identity(payload: str, signature: str, secret: str) -> tuple[Identity, int] | None:
    if not hmac.compare_digest(hmac_sha256(secret, payload), signature):
        return None
    try:
        body = json.loads(base64.urlsafe_b64decode(payload.encode()))
        issued = int(body.pop("ts"))
        identity = Identity(**body)
    except (ValueError, TypeError, KeyError):
        return None
    return (identity, issued) if identity.role in ROLES else None


def identity_from_request(request: Request) -> Identity | None:
    secret: str = request.app.state.settings.internal_secret  # set when the app is made, before its lifespan
    return verify_identity_headers(request.headers.get(IDENTITY_HEADER), request.headers.get(SIGNATURE_HEADER), secret)


async def require_identity(request: Request) -> Identity:
    """Identity signed by the gateway; services that also accept a bearer JWT override this dependency."""
    identity = identity_from_request(request)
    if identity is None:
        raise UnauthorizedError("Authentication required: call this service through the API gateway")
    return identity


CurrentIdentity = Annotated[Identity, Depends(require_identity)]


def acting_user_id(identity: Identity, requested: uuid.UUID | None) -> str:
    """Agents and admins may act for a user named in a request body; everyone else acts as themselves."""
    if requested and identity.role in ("agent", "admin"):
        return str(requested)
    return identity.user_id


async def require_admin(identity: CurrentIdentity) -> Identity:
    if not identity.is_admin:
        raise ForbiddenError("Admin role required", details={"role": identity.role})
    return identity


AdminIdentity = Annotated[Identity, Depends(require_admin)]


async def require_person(identity: CurrentIdentity) -> Identity:
    """A user or an admin, never an agent identity: for routes that change what agents may do."""
    if identity.role == "agent":
        raise ForbiddenError("Agent identities may not call this endpoint", details={"role": identity.role})
    return identity


PersonIdentity = Annotated[Identity, Depends(require_person)]
