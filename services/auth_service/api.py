"""Auth routes. Through the gateway they live under /api/v1/auth/."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from services.auth_service.config import AuthSettings
from services.auth_service.schemas import (
    ApiKeyCreatedResponse,
    ApiKeyCreateRequest,
    ApiKeyResponse,
    LoginRequest,
    LogoutRequest,
    RefreshRequest,
    RegisterRequest,
    RoleUpdateRequest,
    TokenResponse,
    UserListResponse,
    UserResponse,
)
from services.auth_service.service import AuthService, jwt_config
from shared.db import DbSession
from shared.errors import UnauthorizedError
from shared.identity import Identity, ensure_admin, identity_from_request
from shared.revocation import is_session_revoked
from shared.security import decode_token

router = APIRouter(tags=["auth"])


async def get_auth_service(request: Request, session: DbSession) -> AuthService:
    return AuthService(session=session, redis=request.app.state.redis, settings=request.app.state.settings)


async def get_identity(request: Request) -> Identity:
    """The gateway's signed identity, or a bearer access token when the service is called directly."""
    identity = identity_from_request(request)
    if identity is not None:
        return identity
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise UnauthorizedError("Authentication required")
    settings: AuthSettings = request.app.state.settings
    claims = decode_token(jwt_config(settings), token, expected_type="access")
    if await is_session_revoked(request.app.state.redis, claims["sid"]):
        raise UnauthorizedError("Session has been revoked", code="session_revoked")
    return Identity(
        user_id=claims["sub"],
        username=claims["username"],
        role=claims["role"],
        auth_method="jwt",
        session_id=claims["sid"],
    )


async def get_admin_identity(identity: Annotated[Identity, Depends(get_identity)]) -> Identity:
    ensure_admin(identity)
    return identity


Service = Annotated[AuthService, Depends(get_auth_service)]
CurrentIdentity = Annotated[Identity, Depends(get_identity)]
AdminIdentity = Annotated[Identity, Depends(get_admin_identity)]


def _client_ip(request: Request) -> str | None:
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded and identity_from_request(request) is not None:
        return forwarded.split(",")[0].strip()
    return request.client.host if request.client else None


@router.post("/register", response_model=UserResponse, status_code=status.HTTP_201_CREATED, summary="Create an account")
async def register(body: RegisterRequest, service: Service) -> UserResponse:
    return UserResponse.model_validate(await service.register(body))


@router.post("/login", response_model=TokenResponse, summary="Log in with username or email")
async def login(body: LoginRequest, request: Request, service: Service) -> TokenResponse:
    return await service.login(
        body.identifier, body.password, user_agent=request.headers.get("user-agent"), ip=_client_ip(request)
    )


@router.post("/refresh", response_model=TokenResponse, summary="Rotate a refresh token")
async def refresh(body: RefreshRequest, request: Request, service: Service) -> TokenResponse:
    return await service.refresh(
        body.refresh_token, user_agent=request.headers.get("user-agent"), ip=_client_ip(request)
    )


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke the current session")
async def logout(identity: CurrentIdentity, service: Service, body: LogoutRequest | None = None) -> Response:
    await service.logout(identity, body.refresh_token if body else None)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=UserResponse, summary="The calling user")
async def me(identity: CurrentIdentity, service: Service) -> UserResponse:
    return UserResponse.model_validate(await service.get_user(uuid.UUID(identity.user_id)))


@router.get("/users", response_model=UserListResponse, summary="List users (admin)")
async def list_users(
    _: AdminIdentity,
    service: Service,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> UserListResponse:
    users, total = await service.list_users(limit, offset)
    return UserListResponse(
        items=[UserResponse.model_validate(u) for u in users], total=total, limit=limit, offset=offset
    )


@router.patch("/users/{user_id}/role", response_model=UserResponse, summary="Change a user's role (admin)")
async def change_role(
    user_id: uuid.UUID, body: RoleUpdateRequest, admin: AdminIdentity, service: Service
) -> UserResponse:
    return UserResponse.model_validate(await service.change_role(admin, user_id, body.role))


@router.post(
    "/api-keys", response_model=ApiKeyCreatedResponse, status_code=status.HTTP_201_CREATED, summary="Create an API key"
)
async def create_api_key(
    body: ApiKeyCreateRequest, identity: CurrentIdentity, service: Service
) -> ApiKeyCreatedResponse:
    row, key = await service.create_api_key(identity, body)
    return ApiKeyCreatedResponse(**ApiKeyResponse.model_validate(row).model_dump(), key=key)


@router.get("/api-keys", response_model=list[ApiKeyResponse], summary="List your API keys")
async def list_api_keys(identity: CurrentIdentity, service: Service) -> list[ApiKeyResponse]:
    return [ApiKeyResponse.model_validate(row) for row in await service.list_api_keys(identity)]


@router.delete("/api-keys/{key_id}", response_model=ApiKeyResponse, summary="Revoke an API key")
async def revoke_api_key(key_id: uuid.UUID, identity: CurrentIdentity, service: Service) -> ApiKeyResponse:
    return ApiKeyResponse.model_validate(await service.revoke_api_key(identity, key_id))
