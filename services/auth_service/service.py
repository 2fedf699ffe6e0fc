"""Accounts, credentials and tokens."""

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from pwdlib import PasswordHash
from pwdlib.exceptions import UnknownHashError
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher
from redis.asyncio import Redis
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import ApiKey, User, UserSession
from services.auth_service import repository
from services.auth_service.config import AuthSettings
from services.auth_service.schemas import (
    ApiKeyCreateRequest,
    ApiKeyResponse,
    RegisterRequest,
    TokenResponse,
    UserResponse,
)
from shared import audit, teams
from shared.errors import ConflictError, ForbiddenError, NotFoundError, UnauthorizedError, UnprocessableError
from shared.identity import Identity, Role
from shared.pagination import Page, after_cursor, page_of
from shared.revocation import forget_api_key, mark_session_revoked
from shared.scopes import KNOWN_SCOPES, unknown_scopes
from shared.security import JWTConfig, decode_token, generate_api_key, hash_api_key, issue_token

logger = logging.getLogger(__name__)

# Also the answer for a locked account: a different one would tell a stranger that the account exists.
INVALID_CREDENTIALS = "Invalid credentials (after repeated failures, logins are refused for a while)"
# One answer whichever of the two is taken, so registration does not say which usernames or emails exist.
ALREADY_REGISTERED = "That username or email cannot be registered"


@lru_cache(maxsize=4)
def password_hasher(time_cost: int, memory_kib: int) -> PasswordHash:
    """Argon2id (OWASP's first choice) for every new hash; bcrypt only reads hashes made before the switch, and a
    login with one of those stores the password again as Argon2id (`verify_password` hands back the new hash)."""
    return PasswordHash((Argon2Hasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1), BcryptHasher()))


def _hasher(settings: AuthSettings) -> PasswordHash:
    return password_hasher(settings.password_time_cost, settings.password_memory_kib)


async def hash_password(password: str, settings: AuthSettings) -> str:
    return await asyncio.to_thread(_hasher(settings).hash, password)


async def verify_password(password: str, password_hash: str, settings: AuthSettings) -> tuple[bool, str | None]:
    """Whether it matches, and the hash to store instead when the stored one is outdated (bcrypt, older costs)."""
    try:
        return await asyncio.to_thread(_hasher(settings).verify_and_update, password, password_hash)
    except (ValueError, UnknownHashError):
        return False, None


@lru_cache(maxsize=4)
def _dummy_password_hash(time_cost: int, memory_kib: int) -> str:
    return password_hasher(time_cost, memory_kib).hash("not-a-real-password")


def jwt_config(settings: AuthSettings) -> JWTConfig:
    return JWTConfig(
        secret=settings.jwt_secret,
        algorithm=settings.jwt_algorithm,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class AuthService:
    session: AsyncSession
    redis: Redis
    settings: AuthSettings

    def __post_init__(self) -> None:
        self._jwt = jwt_config(self.settings)

    # --- accounts -------------------------------------------------------------------------

    async def register(self, request: RegisterRequest, role: Role = "user") -> User:
        if await repository.username_or_email_taken(self.session, request.username, request.email):
            raise ConflictError(ALREADY_REGISTERED, code="already_exists")
        user = User(
            username=request.username,
            email=str(request.email).lower(),
            full_name=request.full_name,
            password_hash=await hash_password(request.password, self.settings),
            role=role,
        )
        try:
            await repository.add_user(self.session, user)
            await self.session.commit()
        except IntegrityError as exc:  # a concurrent registration won the race
            await self.session.rollback()
            raise ConflictError(ALREADY_REGISTERED, code="already_exists") from exc
        return user

    async def get_user(self, user_id: uuid.UUID) -> User:
        user = await repository.get_user(self.session, user_id)
        if user is None or not user.is_active:
            raise NotFoundError("User not found")
        return user

    async def list_users(self, *, cursor: str | None, limit: int) -> Page[UserResponse]:
        rows = await repository.list_users(self.session, after=after_cursor(cursor), limit=limit + 1)
        return page_of(rows, limit=limit, item=UserResponse.model_validate)

    async def change_role(self, actor: Identity, user_id: uuid.UUID, role: Role) -> User:
        user = await self.get_user(user_id)
        if str(user.id) == actor.user_id and role != "admin":
            raise ForbiddenError("Admins cannot demote themselves", code="self_demotion")
        before = user.role
        user.role = role
        if before != role:
            details = {"before": before, "after": role}
            await audit.record(
                self.session, actor, "user.role_changed", target_type="user", target_id=user.id, details=details
            )
        await self.session.commit()
        if before != role:
            await self.end_access(user.id, reason="role_changed")
        return user

    async def set_active(self, actor: Identity, user_id: uuid.UUID, *, is_active: bool) -> User:
        user = await repository.get_user(self.session, user_id)
        if user is None:
            raise NotFoundError("User not found")
        if str(user.id) == actor.user_id and not is_active:
            raise ForbiddenError("Admins cannot deactivate themselves", code="self_deactivation")
        if user.is_active != is_active:
            action = "user.reactivated" if is_active else "user.deactivated"
            await audit.record(self.session, actor, action, target_type="user", target_id=user.id)
        user.is_active = is_active
        await self.session.commit()
        if not is_active:
            await self.end_access(user.id, reason="deactivated")
        return user

    async def change_password(self, identity: Identity, *, current: str, new: str) -> None:
        user = await self.get_user(uuid.UUID(identity.user_id))
        # Counted and locked like a login: a stolen access token must not become an unlimited password oracle.
        if not await self._reserve_attempt(user):
            raise UnauthorizedError(INVALID_CREDENTIALS, code="invalid_credentials")
        matches, _ = await verify_password(current, user.password_hash, self.settings)
        if not matches:
            raise UnauthorizedError(INVALID_CREDENTIALS, code="invalid_credentials")
        await repository.clear_failed_logins(self.session, user.id)
        user.password_hash = await hash_password(new, self.settings)
        await audit.record(self.session, identity, "user.password_changed", target_type="user", target_id=user.id)
        await self.session.commit()
        await self.end_access(user.id, reason="password_changed")

    async def end_access(self, user_id: uuid.UUID, *, reason: str) -> None:
        """Everything that still carries the user's old rights stops at once: every session family is revoked (the
        gateway refuses their access tokens on the next request) and the gateway forgets every cached API key, so
        the next use reads the role from the database. Call it on a role change, deactivation or password change."""
        for family_id in await repository.active_session_families(self.session, user_id):
            await self._revoke_family(family_id, reason=reason)
        await self.session.commit()
        for key_hash in await repository.api_key_hashes(self.session, user_id):
            await forget_api_key(self.redis, key_hash)

    # --- login and tokens -------------------------------------------------------------------

    async def login(self, identifier: str, password: str, *, user_agent: str | None, ip: str | None) -> TokenResponse:
        user = await repository.find_user_by_login(self.session, identifier)
        if user is None or not await self._reserve_attempt(user):
            # An unknown account and a locked one get the same answer after the same work as a real check, so
            # neither the answer nor its timing says which accounts exist.
            dummy_hash = await asyncio.to_thread(
                _dummy_password_hash, self.settings.password_time_cost, self.settings.password_memory_kib
            )
            await verify_password(password, dummy_hash, self.settings)
            raise UnauthorizedError(INVALID_CREDENTIALS, code="invalid_credentials")
        matches, rehashed = await verify_password(password, user.password_hash, self.settings)
        if not matches or not user.is_active:
            raise UnauthorizedError(INVALID_CREDENTIALS, code="invalid_credentials")  # the attempt is counted
        if rehashed is not None:
            user.password_hash = rehashed
        await repository.clear_failed_logins(self.session, user.id)
        tokens, _ = await self._start_session(user, family_id=uuid.uuid4(), user_agent=user_agent, ip=ip)
        await self.session.commit()
        return tokens

    async def _reserve_attempt(self, user: User) -> bool:
        reserved = await repository.reserve_login_attempt(
            self.session,
            user.id,
            max_failures=self.settings.max_failed_logins,
            lock_base_seconds=self.settings.lockout_base_seconds,
            lock_max_seconds=self.settings.lockout_max_seconds,
        )
        await self.session.commit()  # counted before the password is checked, whatever happens next
        if not reserved:
            logger.warning("login refused: account locked", extra={"user_id": str(user.id)})
        return reserved

    async def _start_session(
        self, user: User, *, family_id: uuid.UUID, user_agent: str | None, ip: str | None
    ) -> tuple[TokenResponse, str]:
        """Issue an access+refresh pair in a session family; returns the tokens and the refresh jti."""
        access_ttl = timedelta(minutes=self.settings.access_token_ttl_minutes)
        refresh_ttl = timedelta(days=self.settings.refresh_token_ttl_days)
        claims = {"role": user.role, "username": user.username, "sid": str(family_id)}
        access = issue_token(self._jwt, subject=str(user.id), token_type="access", ttl=access_ttl, claims=claims)
        refresh = issue_token(
            self._jwt, subject=str(user.id), token_type="refresh", ttl=refresh_ttl, claims={"sid": str(family_id)}
        )
        await repository.add_user_session(
            self.session,
            UserSession(
                user_id=user.id,
                family_id=family_id,
                refresh_jti=refresh.jti,
                user_agent=(user_agent or "")[:512] or None,
                ip_address=ip,
                expires_at=refresh.expires_at,
            ),
        )
        tokens = TokenResponse(
            access_token=access.token,
            refresh_token=refresh.token,
            expires_in=int(access_ttl.total_seconds()),
            refresh_expires_in=int(refresh_ttl.total_seconds()),
        )
        return tokens, refresh.jti

    async def refresh(self, refresh_token: str, *, user_agent: str | None, ip: str | None) -> TokenResponse:
        claims = decode_token(self._jwt, refresh_token, expected_type="refresh")
        current = await repository.get_user_session_for_update(self.session, claims["jti"])
        if current is None:
            raise UnauthorizedError("Unknown refresh token", code="invalid_token")
        if current.replaced_by_jti is not None:
            # A rotated token came back: someone holds a stolen copy. End the whole family.
            await self._revoke_family(current.family_id, reason="refresh_token_reuse")
            await self.session.commit()
            logger.warning("refresh token reuse detected", extra={"family_id": str(current.family_id)})
            raise UnauthorizedError("Refresh token reuse detected; session revoked", code="refresh_token_reused")
        if current.revoked_at is not None:
            raise UnauthorizedError("Session has been revoked", code="session_revoked")
        user = await repository.get_user(self.session, current.user_id)
        if user is None or not user.is_active:
            raise UnauthorizedError("Account is not active", code="invalid_token")
        tokens, new_jti = await self._start_session(user, family_id=current.family_id, user_agent=user_agent, ip=ip)
        current.replaced_by_jti = new_jti
        await self.session.commit()
        return tokens

    async def logout(self, identity: Identity, refresh_token: str | None) -> None:
        family_ids: set[str] = set()
        if identity.session_id:
            family_ids.add(identity.session_id)
        if refresh_token:
            claims = decode_token(self._jwt, refresh_token, expected_type="refresh")
            if claims["sub"] != identity.user_id:
                raise ForbiddenError("That refresh token belongs to another user")
            family_ids.add(claims["sid"])
        for family_id in family_ids:
            await self._revoke_family(uuid.UUID(family_id), reason="logout")
        await self.session.commit()

    async def _revoke_family(self, family_id: uuid.UUID, reason: str) -> None:
        await repository.revoke_user_session_family(self.session, family_id, reason)
        await mark_session_revoked(self.redis, str(family_id), self.settings.access_token_ttl_minutes * 60)

    # --- API keys ---------------------------------------------------------------------------

    async def create_api_key(self, identity: Identity, request: ApiKeyCreateRequest) -> tuple[ApiKey, str]:
        if request.scopes is not None and (unknown := unknown_scopes(request.scopes)):
            raise UnprocessableError(
                f"Unknown scope: {', '.join(unknown)}",
                code="unknown_scope",
                details={"unknown": unknown, "known": sorted(KNOWN_SCOPES)},
            )
        if request.team_id is not None and await teams.role_in(self.session, identity.user_id, request.team_id) is None:
            raise teams.team_not_found(request.team_id)
        key, prefix = generate_api_key()
        expires_at = _now() + timedelta(days=request.expires_in_days) if request.expires_in_days else None
        row = await repository.add_api_key(
            self.session,
            ApiKey(
                user_id=uuid.UUID(identity.user_id),
                name=request.name,
                prefix=prefix,
                key_hash=hash_api_key(key),
                expires_at=expires_at,
                max_budget_usd=request.max_budget_usd,
                rpm_limit=request.rpm_limit,
                tpm_limit=request.tpm_limit,
                allowed_models=request.allowed_models,
                allowed_tools=request.allowed_tools,
                scopes=list(dict.fromkeys(request.scopes or [])),
                team_id=request.team_id,
            ),
        )
        details = request.model_dump(mode="json") | {"prefix": prefix}
        await audit.record(
            self.session, identity, "api_key.created", target_type="api_key", target_id=row.id, details=details
        )
        await self.session.commit()
        return row, key

    async def list_api_keys(self, identity: Identity, *, cursor: str | None, limit: int) -> Page[ApiKeyResponse]:
        rows = await repository.list_api_keys(
            self.session, uuid.UUID(identity.user_id), after=after_cursor(cursor), limit=limit + 1
        )
        return page_of(rows, limit=limit, item=ApiKeyResponse.model_validate)

    async def revoke_api_key(self, identity: Identity, key_id: uuid.UUID) -> ApiKey:
        row = await repository.get_api_key(self.session, key_id)
        if row is None or (str(row.user_id) != identity.user_id and not identity.is_admin):
            raise NotFoundError("API key not found")
        if row.revoked_at is None:
            row.revoked_at = _now()
            details = {"name": row.name, "prefix": row.prefix, "owner_id": str(row.user_id)}
            await audit.record(
                self.session, identity, "api_key.revoked", target_type="api_key", target_id=row.id, details=details
            )
            await self.session.commit()
            await forget_api_key(self.redis, row.key_hash)
        return row

    async def ensure_bootstrap_admin(self) -> None:
        s = self.settings
        if not (s.bootstrap_admin_username and s.bootstrap_admin_email and s.bootstrap_admin_password):
            return
        if await repository.find_user_by_login(self.session, s.bootstrap_admin_username):
            return
        request = RegisterRequest(
            username=s.bootstrap_admin_username, email=s.bootstrap_admin_email, password=s.bootstrap_admin_password
        )
        try:
            await self.register(request, role="admin")
            logger.info("bootstrap admin created", extra={"username": s.bootstrap_admin_username})
        except ConflictError:
            pass
