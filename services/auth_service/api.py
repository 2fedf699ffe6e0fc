"""Auth routes. Through the gateway they live under /api/v1/auth/."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response, status

from services.auth_service.deps import Auth, SignedInIdentity, SignedOrBearerAdmin, SignedOrBearerIdentity
from services.auth_service.schemas import (
    ActiveUpdateRequest,
    ApiKeyCreatedResponse,
    ApiKeyCreateRequest,
    ApiKeyResponse,
    LoginRequest,
    LogoutRequest,
    PasswordChangeRequest,
    RefreshRequest,
    RegisterRequest,
    RoleUpdateRequest,
    TokenResponse,
    UserResponse,
)
from shared.errors import UnauthorizedError
from shared.identity import identity_from_request
from shared.pagination import Page

router = APIRouter(tags=["auth"])


def _client_ip(request: Request) -> str | None:
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded and identity_from_request(request) is not None:
        return forwarded.split(",")[0].strip()
    return request.client.host if request.client else None


@router.post("/register", response_model=UserResponse, status_code=status.HTTP_201_CREATED, summary="Create an account")
async def register(body: RegisterRequest, auth: Auth) -> UserResponse:
    return UserResponse.model_validate(await auth.register(body))


# A browser keeps the refresh token where its scripts cannot read it: an HttpOnly, SameSite=Strict cookie sent only
# to the auth path, and only honoured on a request that says X-Refresh-Cookie: true (a header another site cannot
# set without this origin's consent), so a session survives a new tab without a long-lived token in storage.
REFRESH_COOKIE = "cos_refresh"
COOKIE_MODE = "x-refresh-cookie"
CookieMode = Annotated[bool, Header(alias=COOKIE_MODE, description="Refresh token as an HttpOnly cookie")]


def _delivered(tokens: TokenResponse, request: Request, response: Response, *, cookie: bool) -> TokenResponse:
    if not cookie:
        return tokens
    settings = request.app.state.settings
    response.set_cookie(
        REFRESH_COOKIE,
        tokens.refresh_token or "",
        max_age=tokens.refresh_expires_in,
        path=settings.refresh_cookie_path,
        httponly=True,
        samesite="strict",
        # Outside development the console is served over HTTPS (a TLS proxy in front of the gateway may hide it).
        secure=not settings.is_development or request.headers.get("x-forwarded-proto", request.url.scheme) == "https",
    )
    return tokens.model_copy(update={"refresh_token": None})


@router.post("/login", response_model=TokenResponse, summary="Log in with username or email")
async def login(
    body: LoginRequest, request: Request, response: Response, auth: Auth, cookie: CookieMode = False
) -> TokenResponse:
    tokens = await auth.login(
        body.identifier, body.password, user_agent=request.headers.get("user-agent"), ip=_client_ip(request)
    )
    return _delivered(tokens, request, response, cookie=cookie)


@router.post("/refresh", response_model=TokenResponse, summary="Rotate a refresh token (from the body or the cookie)")
async def refresh(
    request: Request, response: Response, auth: Auth, body: RefreshRequest | None = None, cookie: CookieMode = False
) -> TokenResponse:
    token = (body.refresh_token if body else None) or (request.cookies.get(REFRESH_COOKIE) if cookie else None)
    if not token:
        raise UnauthorizedError("No refresh token: send it in the body, or the cookie with X-Refresh-Cookie: true")
    tokens = await auth.refresh(token, user_agent=request.headers.get("user-agent"), ip=_client_ip(request))
    return _delivered(tokens, request, response, cookie=cookie)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke the current session")
async def logout(
    identity: SignedOrBearerIdentity,
    request: Request,
    auth: Auth,
    body: LogoutRequest | None = None,
    cookie: CookieMode = False,
) -> Response:
    token = (body.refresh_token if body else None) or (request.cookies.get(REFRESH_COOKIE) if cookie else None)
    await auth.logout(identity, token)
    done = Response(status_code=status.HTTP_204_NO_CONTENT)
    if cookie:
        done.delete_cookie(REFRESH_COOKIE, path=request.app.state.settings.refresh_cookie_path)
    return done


@router.get("/me", response_model=UserResponse, summary="The calling user")
async def me(identity: SignedOrBearerIdentity, auth: Auth) -> UserResponse:
    return UserResponse.model_validate(await auth.get_user(uuid.UUID(identity.user_id)))


@router.get("/users", response_model=Page[UserResponse], summary="List users, oldest first, with a cursor (admin)")
async def list_users(
    _: SignedOrBearerAdmin,
    auth: Auth,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[UserResponse]:
    return await auth.list_users(cursor=cursor, limit=limit)


@router.patch("/users/{user_id}/role", response_model=UserResponse, summary="Change a user's role (admin)")
async def change_role(
    user_id: uuid.UUID, body: RoleUpdateRequest, admin: SignedOrBearerAdmin, auth: Auth
) -> UserResponse:
    return UserResponse.model_validate(await auth.change_role(admin, user_id, body.role))


@router.patch(
    "/users/{user_id}/active",
    response_model=UserResponse,
    summary="Deactivate or reactivate a user (admin); deactivation ends their sessions and keys at once",
)
async def set_active(
    user_id: uuid.UUID, body: ActiveUpdateRequest, admin: SignedOrBearerAdmin, auth: Auth
) -> UserResponse:
    return UserResponse.model_validate(await auth.set_active(admin, user_id, is_active=body.is_active))


@router.post(
    "/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Change your password; every session ends (log in again) and cached keys are re-read",
)
async def change_password(body: PasswordChangeRequest, identity: SignedInIdentity, auth: Auth) -> Response:
    await auth.change_password(identity, current=body.current_password, new=body.new_password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/api-keys", response_model=ApiKeyCreatedResponse, status_code=status.HTTP_201_CREATED, summary="Create an API key"
)
async def create_api_key(body: ApiKeyCreateRequest, identity: SignedInIdentity, auth: Auth) -> ApiKeyCreatedResponse:
    row, key = await auth.create_api_key(identity, body)
    return ApiKeyCreatedResponse(**ApiKeyResponse.model_validate(row).model_dump(), key=key)


@router.get("/api-keys", response_model=Page[ApiKeyResponse], summary="Your API keys, newest first, with a cursor")
async def list_api_keys(
    identity: SignedInIdentity,
    auth: Auth,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[ApiKeyResponse]:
    return await auth.list_api_keys(identity, cursor=cursor, limit=limit)


@router.delete("/api-keys/{key_id}", response_model=ApiKeyResponse, summary="Revoke an API key")
async def revoke_api_key(key_id: uuid.UUID, identity: SignedInIdentity, auth: Auth) -> ApiKeyResponse:
    return ApiKeyResponse.model_validate(await auth.revoke_api_key(identity, key_id))
