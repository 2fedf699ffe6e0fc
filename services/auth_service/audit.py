"""The audit log's read side (admin only): filter and page it, export it as JSON lines, verify its hash chain."""

import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import AuditEvent
from services.auth_service.deps import SignedOrBearerAdmin
from shared import audit
from shared.app import DbSession
from shared.pagination import Page, id_cursor

router = APIRouter(prefix="/audit", tags=["audit"])


class AuditEventResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int = Field(description="Its place in the chain")
    created_at: datetime
    actor_user_id: uuid.UUID | None = Field(description="Who acted (null: the system itself)")
    actor_username: str | None
    actor_role: str | None
    actor_key_id: uuid.UUID | None = Field(description="The API key they acted with, if any")
    request_id: str | None
    action: str
    target_type: str
    target_id: str
    details: dict[str, Any] = Field(description="What changed (before and after where it applies), secrets redacted")
    prev_hash: str
    hash: str


class VerifyResponse(BaseModel):
    ok: bool
    checked: int = Field(description="Rows checked from the chain's start (after any purged by retention)")
    first_broken_id: int | None = Field(description="The first row that does not hash to what it says")
    reason: str | None = None


class AuditFilter(BaseModel):
    action: str | None = Field(default=None, max_length=64, description="An action, or a prefix ending in *")
    actor_user_id: uuid.UUID | None = None
    target_type: str | None = Field(default=None, max_length=32)
    target_id: str | None = Field(default=None, max_length=128)
    since: datetime | None = None
    until: datetime | None = None

    def apply(self, query: Select[AuditEvent]) -> Select[AuditEvent]:
        if self.action is not None:
            prefix = self.action.removesuffix("*")
            query = query.where(
                AuditEvent.action.startswith(prefix, autoescape=True)
                if self.action.endswith("*")
                else AuditEvent.action == self.action
            )
        if self.actor_user_id is not None:
            query = query.where(AuditEvent.actor_user_id == self.actor_user_id)
        if self.target_type is not None:
            query = query.where(AuditEvent.target_type == self.target_type)
        if self.target_id is not None:
            query = query.where(AuditEvent.target_id == self.target_id)
        if self.since is not None:
            query = query.where(AuditEvent.created_at >= self.since)
        if self.until is not None:
            query = query.where(AuditEvent.created_at < self.until)
        return query


Filters = Annotated[AuditFilter, Query()]


@router.get("/events", response_model=Page[AuditEventResponse], summary="The audit log, newest first (admin)")
async def list_events(
    _: SignedOrBearerAdmin,
    session: DbSession,
    filters: Filters,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Page[AuditEventResponse]:
    query = filters.apply(select(AuditEvent)).order_by(AuditEvent.id.desc()).limit(limit + 1)
    if (before := id_cursor(cursor)) is not None:
        query = query.where(AuditEvent.id < before)
    rows = list((await session.execute(query)).scalars())
    items = [AuditEventResponse.model_validate(r) for r in rows[:limit]]
    return Page[AuditEventResponse](items=items, next_cursor=str(rows[limit - 1].id) if len(rows) > limit else None)


@router.get(
    "/events/export",
    summary="The audit log as JSON lines, oldest first (admin): one event per line, hashes included",
    response_class=StreamingResponse,
)
async def export_events(_: SignedOrBearerAdmin, session: DbSession, filters: Filters) -> StreamingResponse:
    return StreamingResponse(_lines(session, filters), media_type="application/x-ndjson")


async def _lines(session: AsyncSession, filters: AuditFilter) -> AsyncIterator[bytes]:
    async for event in audit.in_order(session, filters.apply(select(AuditEvent))):
        yield (json.dumps(AuditEventResponse.model_validate(event).model_dump(mode="json")) + "\n").encode()


@router.post("/verify", response_model=VerifyResponse, summary="Check the audit log's hash chain (admin)")
async def verify_chain(_: SignedOrBearerAdmin, session: DbSession) -> VerifyResponse:
    result = await audit.verify(session)
    return VerifyResponse(
        ok=result.ok, checked=result.checked, first_broken_id=result.first_broken_id, reason=result.reason
    )
