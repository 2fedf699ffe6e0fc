"""SQL for users, sessions (refresh-token families) and API keys."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import ApiKey, User, UserSession
from shared.pagination import keyset


def _now() -> datetime:
    return datetime.now(UTC)


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def find_user_by_login(session: AsyncSession, identifier: str) -> User | None:
    lowered = identifier.lower()
    query = select(User).where(or_(func.lower(User.username) == lowered, func.lower(User.email) == lowered))
    return (await session.execute(query)).scalars().first()


async def username_or_email_taken(session: AsyncSession, username: str, email: str) -> bool:
    query = select(User.id).where(
        or_(func.lower(User.username) == username.lower(), func.lower(User.email) == email.lower())
    )
    return (await session.execute(query.limit(1))).first() is not None


async def add_user(session: AsyncSession, user: User) -> User:
    session.add(user)
    await session.flush()
    return user


async def list_users(session: AsyncSession, *, after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[User]:
    """Oldest first; `after` is the last (created_at, id) of the previous page."""
    return list((await session.scalars(keyset(select(User), User, after=after, limit=limit, newest_first=False))).all())


async def add_user_session(session: AsyncSession, row: UserSession) -> None:
    session.add(row)
    await session.flush()


async def get_user_session_for_update(session: AsyncSession, refresh_jti: str) -> UserSession | None:
    query = select(UserSession).where(UserSession.refresh_jti == refresh_jti).with_for_update()
    return (await session.execute(query)).scalars().first()


async def revoke_user_session_family(session: AsyncSession, family_id: uuid.UUID, reason: str) -> None:
    await session.execute(
        update(UserSession)
        .where(UserSession.family_id == family_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=_now(), revoked_reason=reason)
    )


async def add_api_key(session: AsyncSession, key: ApiKey) -> ApiKey:
    session.add(key)
    await session.flush()
    return key


async def list_api_keys(
    session: AsyncSession, user_id: uuid.UUID, *, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[ApiKey]:
    """Newest first; `after` is the last (created_at, id) of the previous page."""
    query = select(ApiKey).where(ApiKey.user_id == user_id)
    return list((await session.execute(keyset(query, ApiKey, after=after, limit=limit, newest_first=True))).scalars())


async def get_api_key(session: AsyncSession, key_id: uuid.UUID) -> ApiKey | None:
    return await session.get(ApiKey, key_id)


async def reserve_login_attempt(
    session: AsyncSession, user_id: uuid.UUID, *, max_failures: int, lock_base_seconds: int, lock_max_seconds: int
) -> bool:
    """Count an attempt before its password is checked, in one statement: concurrent guesses queue on the row, and
    the attempt that reaches `max_failures` locks the account for the ones behind it (base·2^k seconds, capped).
    False when the account is locked; a correct password then clears the count (`clear_failed_logins`)."""
    attempts = User.failed_login_attempts + 1
    lock_seconds = func.least(lock_base_seconds * func.power(2, attempts - max_failures), lock_max_seconds)
    statement = (
        update(User)
        .where(User.id == user_id, or_(User.locked_until.is_(None), User.locked_until <= func.now()))
        .values(
            failed_login_attempts=attempts,
            locked_until=case(
                (attempts >= max_failures, func.now() + func.make_interval(0, 0, 0, 0, 0, 0, lock_seconds)),
                else_=User.locked_until,
            ),
        )
        .returning(User.failed_login_attempts)
    )
    return (await session.execute(statement)).first() is not None


async def clear_failed_logins(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(
        update(User).where(User.id == user_id).values(failed_login_attempts=0, locked_until=None, last_login_at=_now())
    )


async def active_session_families(session: AsyncSession, user_id: uuid.UUID) -> list[uuid.UUID]:
    query = select(UserSession.family_id).where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
    return list((await session.execute(query.distinct())).scalars())


async def api_key_hashes(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    return list((await session.execute(select(ApiKey.key_hash).where(ApiKey.user_id == user_id))).scalars())
