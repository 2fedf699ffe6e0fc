"""SQL for templates, schedules and webhooks."""

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import (
    Run,
    Schedule,
    ScheduleEvent,
    Template,
    TemplateVersion,
    Webhook,
    WebhookDelivery,
)
from shared import teams
from shared.identity import Identity
from shared.pagination import keyset

# --- templates --------------------------------------------------------------------------------------------------


async def reachable_template(session: AsyncSession, identity: Identity, template_id: uuid.UUID) -> Template | None:
    reachable = await teams.reachable(session, identity, owner=Template.owner_id, team=Template.team_id)
    query = select(Template).where(Template.id == template_id, reachable)
    return (await session.execute(query)).scalar_one_or_none()


async def template_named(session: AsyncSession, owner_id: uuid.UUID, name: str) -> Template | None:
    query = select(Template).where(Template.owner_id == owner_id, Template.name == name)
    return (await session.execute(query)).scalar_one_or_none()


async def page_templates(
    session: AsyncSession, identity: Identity, *, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[Template]:
    reachable = await teams.reachable(session, identity, owner=Template.owner_id, team=Template.team_id)
    query = keyset(select(Template).where(reachable), Template, after=after, limit=limit, newest_first=True)
    return list((await session.execute(query)).scalars())


async def template_version(session: AsyncSession, template_id: uuid.UUID, version: int) -> TemplateVersion | None:
    query = select(TemplateVersion).where(
        TemplateVersion.template_id == template_id, TemplateVersion.version == version
    )
    return (await session.execute(query)).scalar_one_or_none()


async def latest_specs(session: AsyncSession, templates: list[Template]) -> dict[uuid.UUID, dict[str, Any]]:
    if not templates:
        return {}
    query = select(TemplateVersion).where(
        TemplateVersion.template_id.in_([t.id for t in templates]),
        TemplateVersion.version
        == select(Template.version).where(Template.id == TemplateVersion.template_id).scalar_subquery(),
    )
    return {v.template_id: dict(v.spec) for v in (await session.execute(query)).scalars()}


# --- schedules --------------------------------------------------------------------------------------------------


async def reachable_schedule(session: AsyncSession, identity: Identity, schedule_id: uuid.UUID) -> Schedule | None:
    reachable = await teams.reachable(session, identity, owner=Schedule.owner_id, team=Schedule.team_id)
    query = select(Schedule).where(Schedule.id == schedule_id, reachable)
    return (await session.execute(query)).scalar_one_or_none()


async def page_schedules(
    session: AsyncSession, identity: Identity, *, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[Schedule]:
    reachable = await teams.reachable(session, identity, owner=Schedule.owner_id, team=Schedule.team_id)
    query = keyset(select(Schedule).where(reachable), Schedule, after=after, limit=limit, newest_first=True)
    return list((await session.execute(query)).scalars())


async def claim_due_schedules(session: AsyncSession, *, now: datetime, limit: int) -> list[Schedule]:
    """Due schedules, and buffer_one schedules holding a slot, locked for this transaction; those another
    process holds are skipped (it fires them)."""
    query = (
        select(Schedule)
        .where(
            Schedule.paused.is_(False),
            (Schedule.next_fire_at <= now) | Schedule.buffered_slot_at.is_not(None),
        )
        .order_by(Schedule.next_fire_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.execute(query)).scalars())


async def lock_schedule(session: AsyncSession, schedule_id: uuid.UUID) -> Schedule | None:
    query = select(Schedule).where(Schedule.id == schedule_id).with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def has_active_run(session: AsyncSession, schedule_id: uuid.UUID) -> bool:
    query = select(exists().where(Run.schedule_id == schedule_id, Run.status == "running"))
    return bool((await session.execute(query)).scalar())


async def add_schedule_event(
    session: AsyncSession,
    schedule_id: uuid.UUID,
    *,
    kind: str,
    slot_at: datetime | None = None,
    run_id: uuid.UUID | None = None,
    message: str = "",
) -> None:
    session.add(ScheduleEvent(schedule_id=schedule_id, kind=kind, slot_at=slot_at, run_id=run_id, message=message))
    await session.flush()


async def page_schedule_events(
    session: AsyncSession, schedule_id: uuid.UUID, *, before: int | None, limit: int
) -> list[tuple[ScheduleEvent, str | None]]:
    query = (
        select(ScheduleEvent, Run.status)
        .outerjoin(Run, Run.id == ScheduleEvent.run_id)
        .where(ScheduleEvent.schedule_id == schedule_id)
        .order_by(ScheduleEvent.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(ScheduleEvent.id < before)
    return [(row[0], row[1]) for row in await session.execute(query)]


async def schedule_of_run(session: AsyncSession, run_id: uuid.UUID) -> uuid.UUID | None:
    return (await session.execute(select(Run.schedule_id).where(Run.id == run_id))).scalar_one_or_none()


# --- webhooks ---------------------------------------------------------------------------------------------------


async def count_webhooks(session: AsyncSession, owner_id: uuid.UUID) -> int:
    return int((await session.execute(select(func.count()).where(Webhook.owner_id == owner_id))).scalar_one())


async def owned_webhook(session: AsyncSession, owner_id: uuid.UUID, webhook_id: uuid.UUID) -> Webhook | None:
    query = select(Webhook).where(Webhook.id == webhook_id, Webhook.owner_id == owner_id)
    return (await session.execute(query)).scalar_one_or_none()


async def page_webhooks(
    session: AsyncSession, owner_id: uuid.UUID, *, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[Webhook]:
    query = keyset(
        select(Webhook).where(Webhook.owner_id == owner_id), Webhook, after=after, limit=limit, newest_first=True
    )
    return list((await session.execute(query)).scalars())


async def page_deliveries(
    session: AsyncSession, webhook_id: uuid.UUID, *, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[WebhookDelivery]:
    query = keyset(
        select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id),
        WebhookDelivery,
        after=after,
        limit=limit,
        newest_first=True,
    )
    return list((await session.execute(query)).scalars())


async def delivery_of(session: AsyncSession, webhook_id: uuid.UUID, delivery_id: uuid.UUID) -> WebhookDelivery | None:
    query = select(WebhookDelivery).where(WebhookDelivery.id == delivery_id, WebhookDelivery.webhook_id == webhook_id)
    return (await session.execute(query)).scalar_one_or_none()


async def add_delivery(
    session: AsyncSession, *, webhook_id: uuid.UUID, owner_id: uuid.UUID, event_type: str, data: dict[str, Any]
) -> WebhookDelivery:
    delivery = WebhookDelivery(
        id=uuid.uuid4(), webhook_id=webhook_id, owner_id=owner_id, event_type=event_type, payload=data
    )
    session.add(delivery)
    await session.flush()
    await session.refresh(delivery)
    return delivery


ENQUEUE_FOR_RUN = text(
    """
    INSERT INTO webhook_deliveries (id, webhook_id, run_id, owner_id, event_type, payload)
    SELECT gen_random_uuid(), w.id, r.id, r.user_id, CAST(:event_type AS text), CAST(:payload AS jsonb)
    FROM runs r JOIN webhooks w ON w.owner_id = r.user_id
    WHERE r.id = :run_id AND r.eval_id IS NULL AND w.enabled
      AND w.event_types @> jsonb_build_array(CAST(:event_type AS text))
    UNION ALL
    SELECT gen_random_uuid(), NULL, r.id, r.user_id, CAST(:event_type AS text), CAST(:payload AS jsonb)
    FROM runs r
    WHERE :one_off AND r.id = :run_id AND r.webhook_url IS NOT NULL
    """
)


async def enqueue_for_run(
    session: AsyncSession, *, run_id: uuid.UUID, event_type: str, data: dict[str, Any], one_off: bool
) -> None:
    params = {"run_id": run_id, "event_type": event_type, "payload": json.dumps(data, default=str), "one_off": one_off}
    await session.execute(ENQUEUE_FOR_RUN, params)


ENQUEUE_FOR_OWNER = text(
    """
    INSERT INTO webhook_deliveries (id, webhook_id, owner_id, event_type, payload)
    SELECT gen_random_uuid(), w.id, w.owner_id, CAST(:event_type AS text), CAST(:payload AS jsonb)
    FROM webhooks w
    WHERE w.owner_id = :owner_id AND w.enabled AND w.event_types @> jsonb_build_array(CAST(:event_type AS text))
    """
)


async def enqueue_for_owner(
    session: AsyncSession, *, owner_id: uuid.UUID, event_type: str, data: dict[str, Any]
) -> None:
    params = {"owner_id": owner_id, "event_type": event_type, "payload": json.dumps(data, default=str)}
    await session.execute(ENQUEUE_FOR_OWNER, params)


async def claim_deliveries(
    session: AsyncSession, *, limit: int, lease: timedelta
) -> list[tuple[WebhookDelivery, str | None, str | None]]:
    """Due deliveries, each counted as one more attempt and held for `lease` (its next_attempt_at moves on):
    with its receiver's URL and encrypted secret (a subscription's, or its run's one-off webhook's)."""
    due = (
        select(WebhookDelivery.id)
        .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= func.now())
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("due")
    )
    claimed = (
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(select(due.c.id)))
        .values(attempts=WebhookDelivery.attempts + 1, next_attempt_at=func.now() + lease)
        .returning(WebhookDelivery.id)
    )
    ids = list((await session.execute(claimed)).scalars())
    if not ids:
        return []
    query = (
        select(
            WebhookDelivery,
            func.coalesce(Webhook.url, Run.webhook_url),
            func.coalesce(Webhook.secret_encrypted, Run.webhook_secret_encrypted),
        )
        .outerjoin(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .outerjoin(Run, and_(WebhookDelivery.webhook_id.is_(None), Run.id == WebhookDelivery.run_id))
        .where(WebhookDelivery.id.in_(ids))
        .execution_options(populate_existing=True)
    )
    return [(row[0], row[1], row[2]) for row in await session.execute(query)]


async def finish_delivery(
    session: AsyncSession, delivery_id: uuid.UUID, *, status: str, code: int | None = None, error: str | None = None
) -> None:
    values: dict[str, Any] = {"status": status, "last_status_code": code, "last_error": error}
    if status == "delivered":
        values["delivered_at"] = func.now()
    await session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(**values))


async def retry_delivery(
    session: AsyncSession, delivery_id: uuid.UUID, *, wait: float, code: int | None, error: str | None
) -> None:
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id)
        .values(next_attempt_at=func.now() + timedelta(seconds=wait), last_status_code=code, last_error=error)
    )
