"""SQL for users, sessions (refresh-token families) and API keys."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import ApiKey, User, UserSession


def _now() -> datetime:
    return datetime.now(UTC)


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def find_user_by_login(session: AsyncSession, identifier: str) -> User | None:
    lowered = identifier.lower()
    query = select(User).where(or_(func.lower(User.username) == lowered, func.lower(User.email) == lowered))
    return (await session.execute(query)).scalars().first()


async def username_or_email_taken(session: AsyncSession, username: str, email: str) -> list[str]:
    query = select(func.lower(User.username), func.lower(User.email)).where(
        or_(func.lower(User.username) == username.lower(), func.lower(User.email) == email.lower())
    )
    taken: list[str] = []
    for existing_username, existing_email in (await session.execute(query)).all():
        if existing_username == username.lower():
            taken.append("username")
        if existing_email == email.lower():
            taken.append("email")
    return sorted(set(taken))


async def add_user(session: AsyncSession, user: User) -> User:
    session.add(user)
    await session.flush()
    return user


async def list_users(session: AsyncSession, limit: int, offset: int) -> tuple[list[User], int]:
    total = (await session.execute(select(func.count()).select_from(User))).scalar_one()
    rows = await session.execute(select(User).order_by(User.created_at, User.id).limit(limit).offset(offset))
    return list(rows.scalars()), total


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


async def list_api_keys(session: AsyncSession, user_id: uuid.UUID) -> list[ApiKey]:
    query = select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.created_at.desc())
    return list((await session.execute(query)).scalars())


async def get_api_key(session: AsyncSession, key_id: uuid.UUID) -> ApiKey | None:
    return await session.get(ApiKey, key_id)
