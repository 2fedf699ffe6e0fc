"""SQL for users, sessions (refresh-token families) and API keys."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import Select, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import ApiKey, Organization, Team, TeamInvitation, TeamMember, User, UserSession
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


# --- organisations and teams -------------------------------------------------------------------


async def personal_organization(session: AsyncSession, user_id: uuid.UUID) -> Organization | None:
    query = select(Organization).where(Organization.owner_id == user_id, Organization.personal.is_(True))
    return (await session.execute(query)).scalar_one_or_none()


async def organizations_of(session: AsyncSession, user_id: uuid.UUID) -> list[Organization]:
    """The ones the user owns and those of the teams they are in."""
    theirs = select(Team.organization_id).join(TeamMember, TeamMember.team_id == Team.id)
    query = (
        select(Organization)
        .where(or_(Organization.owner_id == user_id, Organization.id.in_(theirs.where(TeamMember.user_id == user_id))))
        .order_by(Organization.created_at, Organization.id)
    )
    return list((await session.execute(query)).scalars())


def _teams_of_user(user_id: uuid.UUID) -> Select[Team, str]:
    """The user's teams, each with the user's role in it."""
    return (
        select(Team, TeamMember.role)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(TeamMember.user_id == user_id)
    )


async def teams_with_roles(session: AsyncSession, user_id: uuid.UUID) -> list[tuple[Team, str]]:
    query = _teams_of_user(user_id).order_by(Team.created_at, Team.id)
    return [(team, role) for team, role in (await session.execute(query)).all()]


async def team_with_role(session: AsyncSession, team_id: uuid.UUID, user_id: uuid.UUID) -> tuple[Team, str] | None:
    row = (await session.execute(_teams_of_user(user_id).where(Team.id == team_id))).first()
    return (row[0], row[1]) if row else None


async def members(session: AsyncSession, team_id: uuid.UUID) -> list[tuple[TeamMember, str]]:
    query = (
        select(TeamMember, User.username)
        .join(User, User.id == TeamMember.user_id)
        .where(TeamMember.team_id == team_id)
        .order_by(TeamMember.created_at, TeamMember.user_id)
    )
    return [(member, name) for member, name in (await session.execute(query)).all()]


async def member(session: AsyncSession, team_id: uuid.UUID, user_id: uuid.UUID) -> TeamMember | None:
    return await session.get(TeamMember, (team_id, user_id), with_for_update=True)


async def owners_count(session: AsyncSession, team_id: uuid.UUID) -> int:
    # Read under the team row's lock (caller) so two owners cannot both leave at once.
    query = select(func.count()).where(TeamMember.team_id == team_id, TeamMember.role == "owner")
    return int((await session.execute(query)).scalar_one())


async def lock_team(session: AsyncSession, team_id: uuid.UUID) -> Team | None:
    return await session.get(Team, team_id, with_for_update=True)


async def pending_invitations(
    session: AsyncSession, *, user_id: uuid.UUID | None = None, team_id: uuid.UUID | None = None
) -> list[tuple[TeamInvitation, str, str]]:
    """A user's (unexpired) or a team's pending invitations, each with its team's name and the invitee's."""
    query = (
        select(TeamInvitation, Team.name, User.username)
        .join(Team, Team.id == TeamInvitation.team_id)
        .join(User, User.id == TeamInvitation.user_id)
        .where(TeamInvitation.status == "pending")
        .order_by(TeamInvitation.created_at, TeamInvitation.id)
    )
    if user_id is not None:
        query = query.where(TeamInvitation.user_id == user_id, TeamInvitation.expires_at > _now())
    if team_id is not None:
        query = query.where(TeamInvitation.team_id == team_id)
    return [(row[0], row[1], row[2]) for row in (await session.execute(query)).all()]


async def invitation(session: AsyncSession, invitation_id: uuid.UUID) -> TeamInvitation | None:
    return await session.get(TeamInvitation, invitation_id, with_for_update=True)
