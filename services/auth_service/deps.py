"""The auth-service's running state and the dependencies its routes declare."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis

from services.auth_service.config import AuthSettings
from services.auth_service.service import AuthService, jwt_config
from shared.app import DbSession, service_state
from shared.errors import ForbiddenError, UnauthorizedError
from shared.identity import Identity, identity_from_request, require_admin
from shared.revocation import is_session_revoked
from shared.security import decode_token


@dataclass(kw_only=True)
class AuthState:
    settings: AuthSettings
    redis: Redis


def auth_state(request: Request) -> AuthState:
    return service_state(request.app, AuthState)


async def get_auth_service(request: Request, session: DbSession) -> AuthService:
    state = auth_state(request)
    return AuthService(session=session, redis=state.redis, settings=state.settings)


async def get_signed_or_bearer_identity(request: Request) -> Identity:
    """The gateway's signed identity, or a bearer access token when the service is called directly."""
    identity = identity_from_request(request)
    if identity is not None:
        return identity
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise UnauthorizedError("Authentication required")
    state = auth_state(request)
    claims = decode_token(jwt_config(state.settings), token, expected_type="access")
    if await is_session_revoked(state.redis, claims["sid"]):
        raise UnauthorizedError("Session has been revoked", code="session_revoked")
    return Identity(
        user_id=claims["sub"],
        username=claims["username"],
        role=claims["role"],
        auth_method="jwt",
        session_id=claims["sid"],
    )


SignedOrBearerIdentity = Annotated[Identity, Depends(get_signed_or_bearer_identity)]


async def get_signed_or_bearer_admin(identity: SignedOrBearerIdentity) -> Identity:
    return await require_admin(identity)


async def get_signed_in_identity(identity: SignedOrBearerIdentity) -> Identity:
    """A person signed in with their password, not an API key. Keys cannot manage keys or the password: a key
    limited to one model or a few requests a minute could otherwise mint itself an unlimited twin."""
    if identity.auth_method == "api_key":
        raise ForbiddenError(
            "API keys cannot manage API keys or the password: sign in with your password",
            code="session_required",
            details={"auth_method": identity.auth_method},
        )
    return identity


Auth = Annotated[AuthService, Depends(get_auth_service)]
SignedOrBearerAdmin = Annotated[Identity, Depends(get_signed_or_bearer_admin)]
SignedInIdentity = Annotated[Identity, Depends(get_signed_in_identity)]
