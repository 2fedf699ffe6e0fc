"""SQL for users, sessions (refresh-token families) and API keys."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import ApiKey, User, UserSession


def _now() -> datetime:
    return datetime.now(UTC)


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id)

    async def find_by_login(self, identifier: str) -> User | None:
        lowered = identifier.lower()
        query = select(User).where(or_(func.lower(User.username) == lowered, func.lower(User.email) == lowered))
        return (await self.session.execute(query)).scalars().first()

    async def username_or_email_taken(self, username: str, email: str) -> list[str]:
        query = select(func.lower(User.username), func.lower(User.email)).where(
            or_(func.lower(User.username) == username.lower(), func.lower(User.email) == email.lower())
        )
        taken: list[str] = []
        for existing_username, existing_email in (await self.session.execute(query)).all():
            if existing_username == username.lower():
                taken.append("username")
            if existing_email == email.lower():
                taken.append("email")
        return sorted(set(taken))

    async def add(self, user: User) -> User:
        self.session.add(user)
        await self.session.flush()
        return user

    async def list(self, limit: int, offset: int) -> tuple[list[User], int]:
        total = (await self.session.execute(select(func.count()).select_from(User))).scalar_one()
        rows = await self.session.execute(select(User).order_by(User.created_at, User.id).limit(limit).offset(offset))
        return list(rows.scalars()), total


class SessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, row: UserSession) -> None:
        self.session.add(row)
        await self.session.flush()

    async def get_for_update(self, refresh_jti: str) -> UserSession | None:
        query = select(UserSession).where(UserSession.refresh_jti == refresh_jti).with_for_update()
        return (await self.session.execute(query)).scalars().first()

    async def revoke_family(self, family_id: uuid.UUID, reason: str) -> None:
        await self.session.execute(
            update(UserSession)
            .where(UserSession.family_id == family_id, UserSession.revoked_at.is_(None))
            .values(revoked_at=_now(), revoked_reason=reason)
        )


class ApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, key: ApiKey) -> ApiKey:
        self.session.add(key)
        await self.session.flush()
        return key

    async def list_for_user(self, user_id: uuid.UUID) -> list[ApiKey]:
        query = select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.created_at.desc())
        return list((await self.session.execute(query)).scalars())

    async def get(self, key_id: uuid.UUID) -> ApiKey | None:
        return await self.session.get(ApiKey, key_id)
