"""Who may reach a row that a user or a team owns: the one rule every service applies.

A row with no team is its owner's alone. A row of a team is read by its members (owner, member, viewer) and
changed by its owners and members. A caller acting for one team (a key bound to it, or that team's run) reaches
that team's rows only. Membership is read on every request, so leaving a team ends its access at once.

The caller's teams are read first and given to the query as a list: `team_id IN (subquery)` under an OR would keep
PostgreSQL from using the owner's index (a scan of the whole table), and with no team the clause is the owner test
it always was."""

import uuid
from collections.abc import Sequence
from typing import Literal, Protocol, TypeVar

from sqlalchemy import ColumnElement, and_, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from database.models import TeamMember
from shared.errors import ForbiddenError, NotFoundError
from shared.identity import Identity

Access = Literal["read", "write"]
WRITING_ROLES = ("owner", "member")


class TeamOwned(Protocol):
    @property
    def owner_id(self) -> uuid.UUID | None: ...

    @property
    def team_id(self) -> uuid.UUID | None: ...


RowT = TypeVar("RowT", bound=TeamOwned)


async def teams_of(session: AsyncSession, user_id: uuid.UUID) -> list[uuid.UUID]:
    """The teams the user is in, whatever their role."""
    query = select(TeamMember.team_id).where(TeamMember.user_id == user_id)
    return list((await session.execute(query)).scalars())


def reachable_among(
    *,
    user_id: uuid.UUID,
    acting_for: uuid.UUID | None,
    owner: InstrumentedAttribute[uuid.UUID] | InstrumentedAttribute[uuid.UUID | None],
    team: InstrumentedAttribute[uuid.UUID | None],
    team_ids: Sequence[uuid.UUID],
) -> ColumnElement[bool]:
    """The WHERE clause for rows a user may reach, given the teams they may reach them in (and the one team they
    act for, if any)."""
    if acting_for is not None:
        return team == acting_for if acting_for in team_ids else false()
    own = and_(owner == user_id, team.is_(None))
    return or_(own, team.in_(team_ids)) if team_ids else own


async def reachable(
    session: AsyncSession,
    identity: Identity,
    *,
    owner: InstrumentedAttribute[uuid.UUID] | InstrumentedAttribute[uuid.UUID | None],
    team: InstrumentedAttribute[uuid.UUID | None],
) -> ColumnElement[bool]:
    """The WHERE clause for rows the caller may read (changing one is check_row's to allow)."""
    user_id = uuid.UUID(identity.user_id)
    acting_for = uuid.UUID(identity.team_id) if identity.team_id else None
    team_ids = await teams_of(session, user_id)
    return reachable_among(user_id=user_id, acting_for=acting_for, owner=owner, team=team, team_ids=team_ids)


async def role_in(session: AsyncSession, user_id: str, team_id: uuid.UUID) -> str | None:
    query = select(TeamMember.role).where(TeamMember.team_id == team_id, TeamMember.user_id == uuid.UUID(user_id))
    return (await session.execute(query)).scalar_one_or_none()


def acting_for_another(identity: Identity, team_id: uuid.UUID) -> bool:
    """The caller acts for one team (a key bound to it, or its run), and this is not that team."""
    return identity.team_id is not None and str(team_id) != identity.team_id


def team_not_found(team_id: uuid.UUID) -> NotFoundError:
    """The answer to anyone who names a team they are not in: as if it did not exist."""
    return NotFoundError("Team not found", code="team_not_found", details={"team_id": str(team_id)})


def _viewer_refused(team_id: uuid.UUID, role: str) -> ForbiddenError:
    return ForbiddenError(
        "A team's viewers may read its resources, not change them or start its runs",
        code="team_viewer",
        details={"team_id": str(team_id), "role": role},
    )


async def check_row(
    session: AsyncSession,
    identity: Identity,
    *,
    owner_id: uuid.UUID | None,
    team_id: uuid.UUID | None,
    access: Access,
    missing: str,
) -> None:
    """For a row already loaded: 404 with `missing` when the caller may not see it, 403 when they see it but may
    not change it."""
    if team_id is None:
        if identity.team_id is not None or owner_id is None or str(owner_id) != identity.user_id:
            raise NotFoundError(missing)
        return
    role = None if acting_for_another(identity, team_id) else await role_in(session, identity.user_id, team_id)
    if role is None:
        raise NotFoundError(missing)
    if access == "write" and role not in WRITING_ROLES:
        raise _viewer_refused(team_id, role)


async def check_reached(
    session: AsyncSession, identity: Identity, row: RowT | None, *, access: Access, missing: str, code: str
) -> RowT:
    """A row looked up among those the caller reaches (`reachable`): 404 (`code`) when none was found; to change
    it, the caller must be its owner or, for a team's row, one of the team's owners and members."""
    if row is None:
        raise NotFoundError(missing, code=code)
    if access == "write":
        await check_row(session, identity, owner_id=row.owner_id, team_id=row.team_id, access=access, missing=missing)
    return row


async def team_for_new_row(session: AsyncSession, identity: Identity, requested: uuid.UUID | None) -> uuid.UUID | None:
    """The team a new row belongs to: the one asked for (the caller must be its owner or member), else the team
    the caller acts for, else none (the caller's own)."""
    team_id = requested or (uuid.UUID(identity.team_id) if identity.team_id else None)
    if team_id is None:
        return None
    role = None if acting_for_another(identity, team_id) else await role_in(session, identity.user_id, team_id)
    if role is None:
        raise team_not_found(team_id)
    if role not in WRITING_ROLES:
        raise _viewer_refused(team_id, role)
    return team_id
