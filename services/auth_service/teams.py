"""Organisations, teams, members and invitations. Who may reach a team's resources is shared/teams.py's rule,
applied by each service in its own queries."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import ApiKey, Organization, Team, TeamInvitation, TeamMember
from services.auth_service import repository
from services.auth_service.schemas import (
    InvitationResponse,
    MemberResponse,
    OrganizationResponse,
    TeamResponse,
    TeamRole,
)
from shared import audit
from shared.errors import ConflictError, ForbiddenError, NotFoundError
from shared.identity import Identity
from shared.revocation import forget_api_key
from shared.teams import acting_for_another, team_not_found

INVITATION_DAYS = 7


def _now() -> datetime:
    return datetime.now(UTC)


def _team_response(team: Team, role: str) -> TeamResponse:
    return TeamResponse.model_validate(
        {"id": team.id, "organization_id": team.organization_id, "name": team.name, "role": role}
        | {"created_at": team.created_at}
    )


def _invitation_response(row: tuple[TeamInvitation, str, str]) -> InvitationResponse:
    invitation, team_name, username = row
    return InvitationResponse.model_validate(
        {
            "id": invitation.id,
            "team_id": invitation.team_id,
            "team_name": team_name,
            "username": username,
            "role": invitation.role,
            "status": invitation.status,
            "created_at": invitation.created_at,
            "expires_at": invitation.expires_at,
        }
    )


@dataclass
class TeamService:
    session: AsyncSession
    redis: Redis

    # --- organisations ---------------------------------------------------------------------------

    async def personal_organization(self, identity: Identity) -> Organization:
        """The caller's personal organisation, made on first use (a concurrent first use finds the other's)."""
        user_id = uuid.UUID(identity.user_id)
        found = await repository.personal_organization(self.session, user_id)
        if found is not None:
            return found
        organization = Organization(name=f"{identity.username}'s organisation", owner_id=user_id, personal=True)
        try:
            async with self.session.begin_nested():
                self.session.add(organization)
        except IntegrityError:
            found = await repository.personal_organization(self.session, user_id)
            assert found is not None
            return found
        await self.session.commit()
        return organization

    async def list_organizations(self, identity: Identity) -> list[OrganizationResponse]:
        await self.personal_organization(identity)
        rows = await repository.organizations_of(self.session, uuid.UUID(identity.user_id))
        return [OrganizationResponse.model_validate(row) for row in rows]

    async def create_organization(self, identity: Identity, name: str) -> OrganizationResponse:
        organization = Organization(name=name, owner_id=uuid.UUID(identity.user_id), personal=False)
        self.session.add(organization)
        await self.session.flush()
        await audit.record(
            self.session,
            identity,
            "organization.created",
            target_type="organization",
            target_id=organization.id,
            details={"name": name},
        )
        await self.session.commit()
        return OrganizationResponse.model_validate(organization)

    # --- teams -------------------------------------------------------------------------------------

    async def create_team(self, identity: Identity, *, name: str, organization_id: uuid.UUID | None) -> TeamResponse:
        user_id = uuid.UUID(identity.user_id)
        if organization_id is None:
            organization = await self.personal_organization(identity)
        else:
            found = await self.session.get(Organization, organization_id)
            if found is None or found.owner_id != user_id:
                raise NotFoundError(
                    "Organisation not found (teams are made by the organisation's owner)",
                    code="organization_not_found",
                    details={"organization_id": str(organization_id)},
                )
            organization = found
        team = Team(organization_id=organization.id, name=name)
        try:
            async with self.session.begin_nested():
                self.session.add(team)
                await self.session.flush()
        except IntegrityError as exc:
            raise ConflictError("That organisation already has a team of that name", details={"name": name}) from exc
        self.session.add(TeamMember(team_id=team.id, user_id=user_id, role="owner"))
        details = {"name": name, "organization_id": str(organization.id)}
        await audit.record(
            self.session, identity, "team.created", target_type="team", target_id=team.id, details=details
        )
        await self.session.commit()
        await self.session.refresh(team)
        return _team_response(team, "owner")

    async def list_teams(self, identity: Identity) -> list[TeamResponse]:
        rows = await repository.teams_with_roles(self.session, uuid.UUID(identity.user_id))
        return [_team_response(team, role) for team, role in rows if not acting_for_another(identity, team.id)]

    async def get_team(self, identity: Identity, team_id: uuid.UUID) -> TeamResponse:
        team, role = await self._membership(identity, team_id)
        return _team_response(team, role)

    async def delete_team(self, identity: Identity, team_id: uuid.UUID) -> None:
        team, _ = await self._membership(identity, team_id, owner=True)
        keys = (await self.session.execute(select(ApiKey.key_hash).where(ApiKey.team_id == team_id))).scalars().all()
        await audit.record(
            self.session, identity, "team.deleted", target_type="team", target_id=team_id, details={"name": team.name}
        )
        try:
            await self.session.delete(team)
            await self.session.commit()
        except IntegrityError as exc:
            await self.session.rollback()
            raise ConflictError(
                "The team still owns agents, templates, schedules, runs, memories, files or MCP servers: "
                "delete them or move them first",
                code="team_not_empty",
                details={"team_id": str(team_id)},
            ) from exc
        for key_hash in keys:
            await forget_api_key(self.redis, key_hash)

    # --- members -----------------------------------------------------------------------------------

    async def list_members(self, identity: Identity, team_id: uuid.UUID) -> list[MemberResponse]:
        await self._membership(identity, team_id)
        return [
            MemberResponse(user_id=m.user_id, username=name, role=m.role, created_at=m.created_at)
            for m, name in await repository.members(self.session, team_id)
        ]

    async def change_role(
        self, identity: Identity, team_id: uuid.UUID, user_id: uuid.UUID, role: TeamRole
    ) -> MemberResponse:
        await self._membership(identity, team_id, owner=True, lock=True)
        member = await repository.member(self.session, team_id, user_id)
        if member is None:
            raise NotFoundError("Not a member of this team", details={"user_id": str(user_id)})
        before = member.role
        if before == "owner" and role != "owner":
            await self._keep_an_owner(team_id)
        member.role = role
        details = {"user_id": str(user_id), "before": {"role": before}, "after": {"role": role}}
        await audit.record(
            self.session, identity, "team.member_role_changed", target_type="team", target_id=team_id, details=details
        )
        await self.session.commit()
        rows = await repository.members(self.session, team_id)
        name = next(n for m, n in rows if m.user_id == user_id)
        return MemberResponse(user_id=user_id, username=name, role=role, created_at=member.created_at)

    async def remove_member(self, identity: Identity, team_id: uuid.UUID, user_id: uuid.UUID) -> None:
        """An owner removes anyone; anyone may leave. The last owner stays until another is named."""
        leaving = str(user_id) == identity.user_id
        await self._membership(identity, team_id, owner=not leaving, lock=True)
        member = await repository.member(self.session, team_id, user_id)
        if member is None:
            raise NotFoundError("Not a member of this team", details={"user_id": str(user_id)})
        if member.role == "owner":
            await self._keep_an_owner(team_id)
        await self.session.delete(member)
        details = {"user_id": str(user_id), "role": member.role, "left": leaving}
        await audit.record(
            self.session, identity, "team.member_removed", target_type="team", target_id=team_id, details=details
        )
        await self.session.commit()

    async def _keep_an_owner(self, team_id: uuid.UUID) -> None:
        if await repository.owners_count(self.session, team_id) <= 1:
            raise ConflictError(
                "A team keeps at least one owner: make another member an owner first",
                code="last_owner",
                details={"team_id": str(team_id)},
            )

    # --- invitations -------------------------------------------------------------------------------

    async def invite(
        self, identity: Identity, team_id: uuid.UUID, *, username: str, role: TeamRole
    ) -> InvitationResponse:
        await self._membership(identity, team_id, owner=True)
        user = await repository.find_user_by_login(self.session, username)
        if user is None or not user.is_active:
            raise NotFoundError("No such user", code="user_not_found", details={"username": username})
        if await repository.member(self.session, team_id, user.id) is not None:
            raise ConflictError("Already a member of this team", details={"username": user.username})
        invitation = TeamInvitation(
            team_id=team_id,
            user_id=user.id,
            invited_by=uuid.UUID(identity.user_id),
            role=role,
            expires_at=_now() + timedelta(days=INVITATION_DAYS),
        )
        try:
            async with self.session.begin_nested():
                self.session.add(invitation)
                await self.session.flush()
        except IntegrityError as exc:
            raise ConflictError("That user already has a pending invitation to this team") from exc
        details = {
            "user_id": str(user.id),
            "username": user.username,
            "role": role,
            "invitation_id": str(invitation.id),
        }
        await audit.record(
            self.session, identity, "team.member_invited", target_type="team", target_id=team_id, details=details
        )
        await self.session.commit()
        rows = await repository.pending_invitations(self.session, team_id=team_id)
        return _invitation_response(next(row for row in rows if row[0].id == invitation.id))

    async def team_invitations(self, identity: Identity, team_id: uuid.UUID) -> list[InvitationResponse]:
        await self._membership(identity, team_id, owner=True)
        return [
            _invitation_response(row) for row in await repository.pending_invitations(self.session, team_id=team_id)
        ]

    async def my_invitations(self, identity: Identity) -> list[InvitationResponse]:
        rows = await repository.pending_invitations(self.session, user_id=uuid.UUID(identity.user_id))
        return [_invitation_response(row) for row in rows]

    async def revoke_invitation(self, identity: Identity, team_id: uuid.UUID, invitation_id: uuid.UUID) -> None:
        await self._membership(identity, team_id, owner=True)
        invitation = await repository.invitation(self.session, invitation_id)
        if invitation is None or invitation.team_id != team_id or invitation.status != "pending":
            raise NotFoundError("No such pending invitation")
        invitation.status, invitation.decided_at = "revoked", _now()
        details = {"invitation_id": str(invitation_id), "user_id": str(invitation.user_id)}
        await audit.record(
            self.session, identity, "team.invitation_revoked", target_type="team", target_id=team_id, details=details
        )
        await self.session.commit()

    async def answer_invitation(self, identity: Identity, invitation_id: uuid.UUID, *, accept: bool) -> None:
        invitation = await repository.invitation(self.session, invitation_id)
        if (
            invitation is None
            or str(invitation.user_id) != identity.user_id
            or invitation.status != "pending"
            or invitation.expires_at <= _now()
        ):
            raise NotFoundError("No such pending invitation")
        invitation.status, invitation.decided_at = ("accepted" if accept else "declined"), _now()
        if accept:
            self.session.add(TeamMember(team_id=invitation.team_id, user_id=invitation.user_id, role=invitation.role))
            details = {"user_id": identity.user_id, "role": invitation.role, "invitation_id": str(invitation_id)}
            await audit.record(
                self.session,
                identity,
                "team.member_added",
                target_type="team",
                target_id=invitation.team_id,
                details=details,
            )
        await self.session.commit()

    # --- the caller's place ------------------------------------------------------------------------

    async def _membership(
        self, identity: Identity, team_id: uuid.UUID, *, owner: bool = False, lock: bool = False
    ) -> tuple[Team, str]:
        """The team and the caller's role: 404 to a non-member (as if it did not exist), 403 to a non-owner where
        an owner is needed."""
        if acting_for_another(identity, team_id):
            raise team_not_found(team_id)
        if lock and await repository.lock_team(self.session, team_id) is None:
            raise team_not_found(team_id)
        found = await repository.team_with_role(self.session, team_id, uuid.UUID(identity.user_id))
        if found is None:
            raise team_not_found(team_id)
        if owner and found[1] != "owner":
            raise ForbiddenError(
                "Only the team's owners may do this", code="team_owner_required", details={"role": found[1]}
            )
        return found
