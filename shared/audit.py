"""The audit log: who did what administrative action, to what, in which request. Every service writes its events
with `record`, in the transaction of the change itself: a change rolled back or refused leaves no event, and a
committed change always has one.

The rows form one hash chain: each row's `hash` is SHA-256 of the previous row's hash and the row's canonical JSON.
The next position and the previous hash are read under a transaction-scoped advisory lock, so any number of
processes and replicas extend the same chain, in commit order (the lock is held until the transaction ends: call
`record` as the last statement before the commit). A trigger refuses UPDATE and DELETE; `verify` walks the chain
and names the first row that does not hash to what it says."""

import hashlib
import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import AuditAnchor, AuditEvent
from shared.context import request_id_var
from shared.identity import Identity

CHAIN_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('cognitionos.audit_chain'))")
REDACTED = "[redacted]"
# Keys whose values never enter an event's details, at any depth: credentials, their hashes, signing secrets,
# encrypted blobs and the headers sent to MCP servers.
SECRET_KEY = re.compile(
    r"(^|_)(password|secret|token|key|hash|credentials?|authorization|headers|encrypted)(_|$)", re.IGNORECASE
)


def is_secret(name: str) -> bool:
    return bool(SECRET_KEY.search(name)) and not name.lower().endswith("_id")


def redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED if is_secret(str(k)) else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _fields(event: AuditEvent) -> dict[str, Any]:
    """What the hash covers: every column but the hash itself."""
    return {
        "id": event.id,
        "created_at": event.created_at.astimezone(UTC).isoformat(),
        "actor_user_id": str(event.actor_user_id) if event.actor_user_id else None,
        "actor_username": event.actor_username,
        "actor_role": event.actor_role,
        "actor_key_id": str(event.actor_key_id) if event.actor_key_id else None,
        "request_id": event.request_id,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "details": event.details,
        "prev_hash": event.prev_hash,
    }


def chain_hash(event: AuditEvent) -> str:
    canonical = json.dumps(_fields(event), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{event.prev_hash}{canonical}".encode()).hexdigest()


async def _anchor(session: AsyncSession) -> tuple[int, str]:
    anchor = (await session.execute(select(AuditAnchor))).scalar_one()
    return anchor.last_purged_id, anchor.last_purged_hash


async def record(
    session: AsyncSession,
    actor: Identity | None,
    action: str,
    *,
    target_type: str,
    target_id: str | uuid.UUID,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """One event, in the session's transaction (None as the actor: the system itself, e.g. a schedule pausing)."""
    await session.execute(CHAIN_LOCK)
    last = (
        await session.execute(select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    ).first()
    prev_id, prev_hash = (last[0], last[1]) if last is not None else await _anchor(session)
    event = AuditEvent(
        id=prev_id + 1,
        created_at=datetime.now(UTC),
        actor_user_id=uuid.UUID(actor.user_id) if actor else None,
        actor_username=actor.username if actor else None,
        actor_role=actor.role if actor else None,
        actor_key_id=uuid.UUID(actor.api_key_id) if actor and actor.api_key_id else None,
        request_id=request_id_var.get(),
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        # As JSONB gives it back (numbers and strings as stored), so the hash is the one verify recomputes.
        details=json.loads(json.dumps(redact(details or {}), default=str)),
        prev_hash=prev_hash,
    )
    event.hash = chain_hash(event)
    session.add(event)
    await session.flush()
    return event


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    checked: int
    first_broken_id: int | None
    reason: str | None = None


async def verify(session: AsyncSession, *, batch: int = 1000) -> Verification:
    """Walks the chain from its anchor: each row must follow the one before (id, prev_hash) and hash to its hash."""
    prev_id, prev_hash = await _anchor(session)
    checked = 0
    async for event in in_order(session, batch=batch):
        problem = _problem(event, prev_id=prev_id, prev_hash=prev_hash)
        if problem is not None:
            return Verification(ok=False, checked=checked, first_broken_id=event.id, reason=problem)
        checked += 1
        prev_id, prev_hash = event.id, event.hash
    return Verification(ok=True, checked=checked, first_broken_id=None)


def _problem(event: AuditEvent, *, prev_id: int, prev_hash: str) -> str | None:
    if event.id != prev_id + 1:
        return f"a gap: row {prev_id + 1} is missing"
    if event.prev_hash != prev_hash:
        return "its prev_hash is not the hash of the row before"
    if chain_hash(event) != event.hash:
        return "its content does not hash to its hash"
    return None


async def in_order(
    session: AsyncSession, query: Select[AuditEvent] | None = None, *, batch: int = 1000
) -> AsyncIterator[AuditEvent]:
    """The events `query` selects (all by default), oldest first, read `batch` at a time: the session holds one
    batch, never the whole log."""
    after = 0
    while True:
        page = (query if query is not None else select(AuditEvent)).where(AuditEvent.id > after)
        page = page.order_by(AuditEvent.id).limit(batch).execution_options(populate_existing=True)
        rows = list((await session.execute(page)).scalars())
        for row in rows:
            yield row
        if len(rows) < batch:
            return
        after = rows[-1].id
        session.expunge_all()


async def purge_before(session: AsyncSession, before: datetime) -> int:
    """Retention: rows older than `before` go; the chain's anchor keeps the last one's id and hash."""
    return int((await session.execute(text("SELECT audit_purge(:before)"), {"before": before})).scalar_one())
