"""Automation routes. Through the gateway: /api/v1/templates, /api/v1/schedules and /api/v1/webhooks."""

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from services.agent_orchestrator.automation.schemas import (
    DeliveryResponse,
    NextFireTimes,
    ScheduleBody,
    ScheduleEventResponse,
    ScheduleResponse,
    ScheduleUpdate,
    TemplateCreate,
    TemplateResponse,
    TemplateRunRequest,
    TemplateSpec,
    WebhookCreate,
    WebhookResponse,
    WebhookUpdate,
)
from services.agent_orchestrator.deps import Schedules, Templates, Webhooks
from services.agent_orchestrator.schemas import RunResponse
from shared.identity import PersonIdentity
from shared.pagination import Page

router = APIRouter()
Cursor = Annotated[str | None, Query(max_length=200)]
Limit = Annotated[int, Query(ge=1, le=200)]

# --- templates --------------------------------------------------------------------------------------------------


@router.post(
    "/templates",
    response_model=TemplateResponse,
    status_code=status.HTTP_201_CREATED,
    summary="A named run configuration with typed {{parameters}} (version 1)",
    tags=["templates"],
)
async def create_template(body: TemplateCreate, identity: PersonIdentity, templates: Templates) -> TemplateResponse:
    return await templates.create(identity, body)


@router.get("/templates", response_model=Page[TemplateResponse], summary="Your templates", tags=["templates"])
async def list_templates(
    identity: PersonIdentity, templates: Templates, cursor: Cursor = None, limit: Limit = 50
) -> Page[TemplateResponse]:
    return await templates.page(identity, cursor=cursor, limit=limit)


@router.get(
    "/templates/{template_id}",
    response_model=TemplateResponse,
    summary="A template: its newest version, or ?version=N",
    tags=["templates"],
)
async def get_template(
    template_id: uuid.UUID,
    identity: PersonIdentity,
    templates: Templates,
    version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
) -> TemplateResponse:
    return await templates.shown(identity, template_id, version=version)


@router.put(
    "/templates/{template_id}",
    response_model=TemplateResponse,
    summary="A new version of the template (runs already made keep theirs)",
    tags=["templates"],
)
async def update_template(
    template_id: uuid.UUID, body: TemplateSpec, identity: PersonIdentity, templates: Templates
) -> TemplateResponse:
    return await templates.update(identity, template_id, body)


@router.delete(
    "/templates/{template_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a template, its versions and its schedules (its runs stay)",
    tags=["templates"],
)
async def delete_template(template_id: uuid.UUID, identity: PersonIdentity, templates: Templates) -> Response:
    await templates.delete(identity, template_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/templates/{template_id}/runs",
    response_model=RunResponse,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Start a run from the template with these parameter values (422 for a missing or mistyped one)",
    tags=["templates"],
)
async def run_template(
    template_id: uuid.UUID, body: TemplateRunRequest, identity: PersonIdentity, templates: Templates
) -> RunResponse:
    return await templates.start_run(identity, template_id, body)


# --- schedules --------------------------------------------------------------------------------------------------


@router.post(
    "/schedules",
    response_model=ScheduleResponse,
    status_code=status.HTTP_201_CREATED,
    summary="Fire a template on a cron expression (5 fields, a time zone) or an interval",
    tags=["schedules"],
)
async def create_schedule(body: ScheduleBody, identity: PersonIdentity, schedules: Schedules) -> ScheduleResponse:
    return await schedules.create(identity, body)


@router.get("/schedules", response_model=Page[ScheduleResponse], summary="Your schedules", tags=["schedules"])
async def list_schedules(
    identity: PersonIdentity, schedules: Schedules, cursor: Cursor = None, limit: Limit = 50
) -> Page[ScheduleResponse]:
    return await schedules.page(identity, cursor=cursor, limit=limit)


@router.get("/schedules/{schedule_id}", response_model=ScheduleResponse, summary="One schedule", tags=["schedules"])
async def get_schedule(schedule_id: uuid.UUID, identity: PersonIdentity, schedules: Schedules) -> ScheduleResponse:
    return ScheduleResponse.model_validate(await schedules.get(identity, schedule_id))


@router.patch(
    "/schedules/{schedule_id}",
    response_model=ScheduleResponse,
    summary="Change a schedule; pause or resume it (slots missed while paused are not fired)",
    tags=["schedules"],
)
async def update_schedule(
    schedule_id: uuid.UUID, body: ScheduleUpdate, identity: PersonIdentity, schedules: Schedules
) -> ScheduleResponse:
    return await schedules.update(identity, schedule_id, body)


@router.delete(
    "/schedules/{schedule_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a schedule", tags=["schedules"]
)
async def delete_schedule(schedule_id: uuid.UUID, identity: PersonIdentity, schedules: Schedules) -> Response:
    await schedules.delete(identity, schedule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/schedules/{schedule_id}/trigger",
    response_model=RunResponse,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Fire now (whatever the overlap policy); the next slot stays as it was",
    tags=["schedules"],
)
async def trigger_schedule(schedule_id: uuid.UUID, identity: PersonIdentity, schedules: Schedules) -> RunResponse:
    return await schedules.trigger(identity, schedule_id)


@router.get(
    "/schedules/{schedule_id}/next",
    response_model=NextFireTimes,
    summary="The next fire times (slots, before jitter), in UTC",
    tags=["schedules"],
)
async def next_fire_times(
    schedule_id: uuid.UUID,
    identity: PersonIdentity,
    schedules: Schedules,
    count: Annotated[int, Query(ge=1, le=100)] = 5,
) -> NextFireTimes:
    times: list[datetime] = await schedules.next_times(identity, schedule_id, count)
    return NextFireTimes(times=times)


@router.get(
    "/schedules/{schedule_id}/runs",
    response_model=Page[ScheduleEventResponse],
    summary="What the schedule did, newest first: each run it fired (with its status), skipped or buffered slot, pause",
    tags=["schedules"],
)
async def schedule_runs(
    schedule_id: uuid.UUID, identity: PersonIdentity, schedules: Schedules, cursor: Cursor = None, limit: Limit = 50
) -> Page[ScheduleEventResponse]:
    return await schedules.events(identity, schedule_id, cursor=cursor, limit=limit)


# --- webhooks ---------------------------------------------------------------------------------------------------


@router.post(
    "/webhooks",
    response_model=WebhookResponse,
    status_code=status.HTTP_201_CREATED,
    summary="Subscribe a URL to event types; the signing secret is in this answer only",
    tags=["webhooks"],
)
async def create_webhook(body: WebhookCreate, identity: PersonIdentity, webhooks: Webhooks) -> WebhookResponse:
    return await webhooks.create(identity, body)


@router.get("/webhooks", response_model=Page[WebhookResponse], summary="Your webhooks", tags=["webhooks"])
async def list_webhooks(
    identity: PersonIdentity, webhooks: Webhooks, cursor: Cursor = None, limit: Limit = 50
) -> Page[WebhookResponse]:
    return await webhooks.page(identity, cursor=cursor, limit=limit)


@router.get("/webhooks/{webhook_id}", response_model=WebhookResponse, summary="One webhook", tags=["webhooks"])
async def get_webhook(webhook_id: uuid.UUID, identity: PersonIdentity, webhooks: Webhooks) -> WebhookResponse:
    return await webhooks.shown(identity, webhook_id)


@router.patch("/webhooks/{webhook_id}", response_model=WebhookResponse, summary="Change a webhook", tags=["webhooks"])
async def update_webhook(
    webhook_id: uuid.UUID, body: WebhookUpdate, identity: PersonIdentity, webhooks: Webhooks
) -> WebhookResponse:
    return await webhooks.update(identity, webhook_id, body)


@router.delete(
    "/webhooks/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a webhook and its deliveries",
    tags=["webhooks"],
)
async def delete_webhook(webhook_id: uuid.UUID, identity: PersonIdentity, webhooks: Webhooks) -> Response:
    await webhooks.delete(identity, webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response_model=Page[DeliveryResponse],
    summary="Its deliveries, newest first: status, attempts, last response",
    tags=["webhooks"],
)
async def webhook_deliveries(
    webhook_id: uuid.UUID, identity: PersonIdentity, webhooks: Webhooks, cursor: Cursor = None, limit: Limit = 50
) -> Page[DeliveryResponse]:
    return await webhooks.deliveries(identity, webhook_id, cursor=cursor, limit=limit)


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    response_model=DeliveryResponse,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a delivery again (the same message id), from a fresh count of attempts",
    tags=["webhooks"],
)
async def redeliver(
    webhook_id: uuid.UUID, delivery_id: uuid.UUID, identity: PersonIdentity, webhooks: Webhooks
) -> DeliveryResponse:
    return await webhooks.redeliver(identity, webhook_id, delivery_id)


@router.post(
    "/webhooks/{webhook_id}/ping",
    response_model=DeliveryResponse,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a webhook.ping message (delivered and logged like any other)",
    tags=["webhooks"],
)
async def ping_webhook(webhook_id: uuid.UUID, identity: PersonIdentity, webhooks: Webhooks) -> DeliveryResponse:
    return await webhooks.ping(identity, webhook_id)
