"""Budgets and spend: a user's or a run's budget (admin), and spend from the ledger (yours; admins: everyone's)."""

import uuid
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from services.ai_runtime.deps import Runtime
from services.ai_runtime.schemas import BudgetRequest, BudgetResponse, SpendResponse
from services.ai_runtime.service import AIRuntime
from shared import teams
from shared.errors import ForbiddenError, NotFoundError
from shared.identity import AdminIdentity, CurrentIdentity, Identity

router = APIRouter(tags=["ai-runtime"])


ScopeParam = Annotated[Literal["user", "run", "team"], Path(description="user, run or team")]


@router.put(
    "/admin/budgets/{scope}/{scope_id}",
    response_model=BudgetResponse,
    summary="Set a user's, a run's or a team's budget (admin)",
    tags=["admin"],
)
async def set_budget(
    scope: ScopeParam,
    scope_id: uuid.UUID,
    body: BudgetRequest,
    admin: AdminIdentity,
    runtime: Runtime,
) -> BudgetResponse:
    budget = await runtime.limits.set_budget(admin, scope=scope, scope_id=str(scope_id), values=body.model_dump())
    return await runtime.limits.budget_report(budget)


@router.get(
    "/admin/budgets/{scope}/{scope_id}",
    response_model=BudgetResponse,
    summary="A budget and what has been spent against it (admin)",
    tags=["admin"],
)
async def get_budget(scope: ScopeParam, scope_id: uuid.UUID, _: AdminIdentity, runtime: Runtime) -> BudgetResponse:
    budget = await runtime.limits.find_budget(scope, str(scope_id))
    if budget is None:
        raise NotFoundError(f"No budget for {scope} {scope_id}")
    return await runtime.limits.budget_report(budget)


@router.get(
    "/admin/spend",
    response_model=SpendResponse,
    summary="Spend by user, model or day from the ledger (admin)",
    tags=["admin"],
)
async def spend(
    _: AdminIdentity,
    runtime: Runtime,
    group_by: Annotated[Literal["user", "model", "day", "api_key", "team"], Query()] = "model",
    since: Annotated[date | None, Query()] = None,
) -> SpendResponse:
    return await runtime.limits.spend_report(group_by=group_by, since=since, user_id=None)


async def _check_member(runtime: AIRuntime, identity: Identity, team_id: uuid.UUID) -> None:
    """A team's spend and budget are shown to its members only (404 to anyone else, as if it did not exist)."""
    async with runtime.limits.sessionmaker() as session:
        if await teams.role_in(session, identity.user_id, team_id) is None:
            raise teams.team_not_found(team_id)


@router.get(
    "/spend",
    response_model=SpendResponse,
    summary="Your spend by model, day or API key, from the ledger (admins: everyone's with everyone=true)",
)
async def own_spend(
    identity: CurrentIdentity,
    runtime: Runtime,
    group_by: Annotated[Literal["model", "day", "api_key", "user", "team"], Query()] = "model",
    since: Annotated[date | None, Query()] = None,
    everyone: Annotated[bool, Query(description="Admins: every user's spend, not only yours")] = False,
    team_id: Annotated[
        uuid.UUID | None, Query(description="A team you belong to: its spend, by all its members")
    ] = None,
) -> SpendResponse:
    if team_id is not None:
        await _check_member(runtime, identity, team_id)
        return await runtime.limits.spend_report(group_by=group_by, since=since, user_id=None, team_id=team_id)
    if (everyone or group_by == "user") and not identity.is_admin:
        raise ForbiddenError("Only admins see other users' spend", code="forbidden")
    owner = None if everyone else uuid.UUID(identity.user_id)
    return await runtime.limits.spend_report(group_by=group_by, since=since, user_id=owner)


@router.get(
    "/budget",
    response_model=BudgetResponse | None,
    summary="Your own budget, or a team's you belong to, and what is spent against it (null when none is set)",
)
async def own_budget(
    identity: CurrentIdentity,
    runtime: Runtime,
    team_id: Annotated[uuid.UUID | None, Query(description="A team you belong to")] = None,
) -> BudgetResponse | None:
    if team_id is not None:
        await _check_member(runtime, identity, team_id)
    scope, scope_id = ("team", str(team_id)) if team_id else ("user", identity.user_id)
    budget = await runtime.limits.find_budget(scope, scope_id)
    return None if budget is None else await runtime.limits.budget_report(budget)
