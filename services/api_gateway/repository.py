"""The only SQL the gateway runs: resolving an API key to its owner."""

from datetime import UTC, datetime
from typing import cast

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import ApiKey, User
from shared.identity import Identity, Role


async def find_identity_by_api_key_hash(session: AsyncSession, key_hash: str) -> Identity | None:
    now = datetime.now(UTC)
    query = (
        select(ApiKey.id, User.id, User.username, User.role, ApiKey.rpm_limit, ApiKey.scopes, ApiKey.team_id)
        .join(User, User.id == ApiKey.user_id)
        .where(
            ApiKey.key_hash == key_hash,
            ApiKey.revoked_at.is_(None),
            or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now),
            User.is_active.is_(True),
        )
    )
    row = (await session.execute(query)).first()
    if row is None:
        return None
    key_id, user_id, username, role, rpm_limit, scopes, team_id = row
    await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))
    return Identity(
        user_id=str(user_id),
        username=username,
        role=cast(Role, role),
        auth_method="api_key",
        api_key_id=str(key_id),
        api_key_rpm=rpm_limit,
        api_key_scopes=tuple(scopes) if scopes else None,  # none given: its user's full power
        team_id=str(team_id) if team_id else None,
    )
