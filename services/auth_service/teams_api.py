"""Organisation and team routes. Through the gateway: /api/v1/organizations and /api/v1/teams."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from services.auth_service.deps import SignedOrBearerIdentity, auth_state
from services.auth_service.schemas import (
    InvitationCreateRequest,
    InvitationResponse,
    MemberResponse,
    MemberUpdateRequest,
    OrganizationCreateRequest,
    OrganizationResponse,
    TeamCreateRequest,
    TeamResponse,
)
from services.auth_service.teams import TeamService
from shared.app import DbSession
from shared.errors import ForbiddenError
from shared.identity import Identity

router = APIRouter(tags=["teams"])


async def get_team_service(request: Request, session: DbSession) -> TeamService:
    return TeamService(session=session, redis=auth_state(request).redis)


async def get_person(identity: SignedOrBearerIdentity) -> Identity:
    """A person (or their key), never an agent acting in a run: agents do not change who is in a team."""
    if identity.role == "agent":
        raise ForbiddenError("Agent identities may not manage teams", details={"role": identity.role})
    return identity


Teams = Annotated[TeamService, Depends(get_team_service)]
Person = Annotated[Identity, Depends(get_person)]


@router.get("/organizations", response_model=list[OrganizationResponse], summary="Your organisations")
async def list_organizations(identity: Person, teams: Teams) -> list[OrganizationResponse]:
    return await teams.list_organizations(identity)


@router.post(
    "/organizations",
    response_model=OrganizationResponse,
    status_code=status.HTTP_201_CREATED,
    summary="Create an organisation (you own it and make its teams)",
)
async def create_organization(body: OrganizationCreateRequest, identity: Person, teams: Teams) -> OrganizationResponse:
    return await teams.create_organization(identity, body.name)


@router.get("/teams", response_model=list[TeamResponse], summary="The teams you are in, with your role")
async def list_teams(identity: Person, teams: Teams) -> list[TeamResponse]:
    return await teams.list_teams(identity)


@router.post(
    "/teams",
    response_model=TeamResponse,
    status_code=status.HTTP_201_CREATED,
    summary="Create a team in an organisation you own (default: your personal one); you are its owner",
)
async def create_team(body: TeamCreateRequest, identity: Person, teams: Teams) -> TeamResponse:
    return await teams.create_team(identity, name=body.name, organization_id=body.organization_id)


@router.get("/teams/invitations", response_model=list[InvitationResponse], summary="Your pending invitations to teams")
async def my_invitations(identity: Person, teams: Teams) -> list[InvitationResponse]:
    return await teams.my_invitations(identity)


@router.post(
    "/teams/invitations/{invitation_id}/accept",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Join the team with the role you were invited with",
)
async def accept_invitation(invitation_id: uuid.UUID, identity: Person, teams: Teams) -> None:
    await teams.answer_invitation(identity, invitation_id, accept=True)


@router.post("/teams/invitations/{invitation_id}/decline", status_code=status.HTTP_204_NO_CONTENT, summary="Decline it")
async def decline_invitation(invitation_id: uuid.UUID, identity: Person, teams: Teams) -> None:
    await teams.answer_invitation(identity, invitation_id, accept=False)


@router.get("/teams/{team_id}", response_model=TeamResponse, summary="A team you are in")
async def get_team(team_id: uuid.UUID, identity: Person, teams: Teams) -> TeamResponse:
    return await teams.get_team(identity, team_id)


@router.delete(
    "/teams/{team_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a team (owners; 409 while it still owns anything; its keys go with it)",
)
async def delete_team(team_id: uuid.UUID, identity: Person, teams: Teams) -> None:
    await teams.delete_team(identity, team_id)


@router.get("/teams/{team_id}/members", response_model=list[MemberResponse], summary="A team's members")
async def list_members(team_id: uuid.UUID, identity: Person, teams: Teams) -> list[MemberResponse]:
    return await teams.list_members(identity, team_id)


@router.patch(
    "/teams/{team_id}/members/{user_id}", response_model=MemberResponse, summary="Change a member's role (owners)"
)
async def change_role(
    team_id: uuid.UUID, user_id: uuid.UUID, body: MemberUpdateRequest, identity: Person, teams: Teams
) -> MemberResponse:
    return await teams.change_role(identity, team_id, user_id, body.role)


@router.delete(
    "/teams/{team_id}/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a member (owners), or leave (your own id): its keys lose the team's resources at once",
)
async def remove_member(team_id: uuid.UUID, user_id: uuid.UUID, identity: Person, teams: Teams) -> None:
    await teams.remove_member(identity, team_id, user_id)


@router.post(
    "/teams/{team_id}/invitations",
    response_model=InvitationResponse,
    status_code=status.HTTP_201_CREATED,
    summary="Invite a user by username with a role (owners); they accept or decline it",
)
async def invite(
    team_id: uuid.UUID, body: InvitationCreateRequest, identity: Person, teams: Teams
) -> InvitationResponse:
    return await teams.invite(identity, team_id, username=body.username, role=body.role)


@router.get(
    "/teams/{team_id}/invitations", response_model=list[InvitationResponse], summary="Pending invitations (owners)"
)
async def team_invitations(team_id: uuid.UUID, identity: Person, teams: Teams) -> list[InvitationResponse]:
    return await teams.team_invitations(identity, team_id)


@router.delete(
    "/teams/{team_id}/invitations/{invitation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Withdraw a pending invitation (owners)",
)
async def revoke_invitation(team_id: uuid.UUID, invitation_id: uuid.UUID, identity: Person, teams: Teams) -> None:
    await teams.revoke_invitation(identity, team_id, invitation_id)
