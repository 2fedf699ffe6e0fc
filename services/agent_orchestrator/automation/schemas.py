"""Bodies of /templates, /schedules and /webhooks."""

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

from services.agent_orchestrator.schemas import ToolPattern
from shared.contracts.files import MAX_FILES_PER_RUN
from shared.contracts.plans import PlanTask

ParameterType = Literal["string", "integer", "number", "boolean"]
Overlap = Literal["skip", "buffer_one", "allow_all"]
WebhookEventType = Literal[
    "run.succeeded",
    "run.failed",
    "run.cancelled",
    "run.waiting",
    "approval.requested",
    "artifact.created",
    "schedule.paused",
]
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}$"


class TemplateParameter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z_][a-z0-9_]{0,39}$", description="Used as {{name}} in the goal and the plan")
    type: ParameterType = "string"
    default: str | int | float | bool | None = Field(default=None, description="Unset: the parameter is required")
    description: str | None = Field(default=None, max_length=500)


class TemplateSpec(BaseModel):
    """What a run made from the template gets. `{{name}}` in the goal or anywhere in the plan's text is replaced by
    the parameter's value; every name used must be declared."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(default=None, max_length=1000)
    goal: str = Field(min_length=3, max_length=4000)
    parameters: list[TemplateParameter] = Field(default_factory=list, max_length=20)
    plan: list[PlanTask] | None = Field(
        default=None, max_length=50, description="A hand-written DAG: the run does these tasks, with no planning call"
    )
    agent: str | None = Field(default=None, max_length=100)
    model: str | None = Field(default=None, max_length=128)
    budget_usd: Decimal | None = Field(default=None, gt=0, le=100_000)
    max_tasks: int | None = Field(default=None, ge=1, le=50)
    max_parallel: int = Field(default=4, ge=1, le=256)
    summarize: bool = True
    require_approval: list[ToolPattern] | Literal["all"] = Field(default_factory=list)
    files: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_FILES_PER_RUN)


class TemplateCreate(TemplateSpec):
    name: str = Field(pattern=NAME_PATTERN, description="Unique among your templates")
    team_id: uuid.UUID | None = Field(
        default=None, description="Share it with a team you belong to: its runs and schedules are the team's"
    )


class TemplateResponse(BaseModel):
    id: uuid.UUID
    name: str
    version: int = Field(description="The version shown (the newest unless ?version= asked for another)")
    latest_version: int
    spec: dict[str, Any]
    team_id: uuid.UUID | None = None
    created_at: datetime
    updated_at: datetime


class TemplateRunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    parameters: dict[str, Any] = Field(default_factory=dict, max_length=20)
    version: int | None = Field(default=None, ge=1, description="Default: the newest")
    webhook: HttpUrl | None = Field(default=None, description="Told when this run ends (a one-off webhook)")


class ScheduleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    template_id: uuid.UUID
    parameters: dict[str, Any] = Field(default_factory=dict, max_length=20)
    cron: str | None = Field(default=None, max_length=120, description="Five fields: minute hour day month weekday")
    interval_seconds: int | None = Field(default=None, ge=1, le=366 * 86400)
    timezone: str = Field(default="UTC", max_length=64, description="An IANA zone: the cron's wall clock")
    overlap: Overlap = Field(
        default="skip",
        description="When the previous run still runs: skip the slot, buffer one slot until it ends, or start anyway",
    )
    paused: bool = False
    catchup_window_seconds: int = Field(
        default=3600,
        ge=0,
        le=30 * 86400,
        description="After downtime, the latest missed slot is fired (once) if it is at most this old; older ones are "
        "skipped",
    )
    jitter_seconds: int = Field(default=0, ge=0, le=3600, description="Each firing waits up to this long, at random")
    pause_after_failures: int | None = Field(
        default=None, ge=1, le=100, description="Pause after this many failed runs in a row (default: the setting)"
    )


class ScheduleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, pattern=NAME_PATTERN)
    parameters: dict[str, Any] | None = Field(default=None, max_length=20)
    cron: str | None = Field(default=None, max_length=120)
    interval_seconds: int | None = Field(default=None, ge=1, le=366 * 86400)
    timezone: str | None = Field(default=None, max_length=64)
    overlap: Overlap | None = None
    paused: bool | None = None
    catchup_window_seconds: int | None = Field(default=None, ge=0, le=30 * 86400)
    jitter_seconds: int | None = Field(default=None, ge=0, le=3600)
    pause_after_failures: int | None = Field(default=None, ge=1, le=100)


class ScheduleResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    template_id: uuid.UUID
    parameters: dict[str, Any]
    cron: str | None
    interval_seconds: int | None
    timezone: str
    overlap: Overlap
    paused: bool
    pause_reason: str | None
    catchup_window_seconds: int
    jitter_seconds: int
    next_slot_at: datetime | None = Field(description="The next slot it fires for (null while paused)")
    consecutive_failures: int
    pause_after_failures: int
    last_fired_at: datetime | None
    team_id: uuid.UUID | None = Field(default=None, description="Its template's team (null: yours alone)")
    created_at: datetime


class ScheduleEventResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: Literal["fired", "triggered", "skipped", "buffered", "paused"]
    slot_at: datetime | None
    run_id: uuid.UUID | None
    run_status: str | None = None
    message: str
    created_at: datetime


class NextFireTimes(BaseModel):
    times: list[datetime]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: HttpUrl
    event_types: list[WebhookEventType] = Field(min_length=1, max_length=7)
    description: str | None = Field(default=None, max_length=255)
    enabled: bool = True

    @field_validator("event_types")
    @classmethod
    def _once_each(cls, types: list[str]) -> list[str]:
        return list(dict.fromkeys(types))


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: HttpUrl | None = None
    event_types: list[WebhookEventType] | None = Field(default=None, min_length=1, max_length=7)
    description: str | None = Field(default=None, max_length=255)
    enabled: bool | None = None


class WebhookResponse(BaseModel):
    id: uuid.UUID
    url: str
    event_types: list[str]
    description: str | None
    enabled: bool
    created_at: datetime
    secret: str | None = Field(
        default=None, description="Only in the answer that created it: keep it, it is never shown again"
    )


class DeliveryResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID = Field(description="The message's webhook-id, the same on every attempt")
    event_type: str
    status: Literal["pending", "delivered", "dead"]
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any]
