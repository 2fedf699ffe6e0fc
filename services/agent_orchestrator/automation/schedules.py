"""Schedules: a template fired at each slot of a cron expression (in a time zone) or an interval, with an overlap
policy, a catch-up window and jitter, as Temporal's schedules have them.

Due schedules are claimed with FOR UPDATE SKIP LOCKED and their next slot is set in the same transaction as the
run they fire: any number of orchestrator processes fire each slot once. Time comes from the caller (`now`), so the
firing is tested with an injected clock, never by waiting."""

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from database.models import Schedule, Template
from services.agent_orchestrator.automation import repository
from services.agent_orchestrator.automation.schemas import (
    ScheduleBody,
    ScheduleEventResponse,
    ScheduleResponse,
    ScheduleUpdate,
)
from services.agent_orchestrator.automation.templates import bind, open_from_template
from services.agent_orchestrator.config import OrchestratorSettings
from services.agent_orchestrator.schemas import RunResponse
from services.agent_orchestrator.service import RunService
from shared import audit, teams
from shared.background import BackgroundComponent
from shared.clients import ServiceClient
from shared.errors import AppError, NotFoundError, UnprocessableError
from shared.identity import Identity
from shared.pagination import Page, after_cursor, id_cursor, page_of

logger = logging.getLogger(__name__)
Clock = Callable[[], datetime]
MAX_CATCH_UP_SLOTS = 100_000  # slots walked to find the latest missed one (a minutely cron over ~70 days)
ON_TIME_GRACE = timedelta(seconds=60)  # a slot fired this late was not missed (a slow poll, a busy database)


def utc_now() -> datetime:
    return datetime.now(UTC)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UnprocessableError(f"Unknown time zone {name!r}", code="unknown_timezone") from exc


def slots_after(schedule: Schedule, after: datetime) -> Iterator[datetime]:
    """The schedule's slots strictly after `after`, in UTC: a cron's on its time zone's wall clock (DST as cron has
    it: a time that does not exist that day fires when the clock resumes), an interval's from its first slot."""
    if schedule.cron is not None:
        for slot in CronSim(schedule.cron, after.astimezone(zone(schedule.timezone))):
            yield slot.astimezone(UTC)
        return
    assert schedule.interval_seconds is not None
    step = timedelta(seconds=schedule.interval_seconds)
    anchor = schedule.next_slot_at or after
    count = max(int((after - anchor) / step) + 1, 0) if after >= anchor else 0
    slot = anchor + step * count
    while True:
        if slot > after:
            yield slot
        slot += step


def check_timing(
    *, cron: str | None, interval_seconds: int | None, timezone: str, settings: OrchestratorSettings
) -> None:
    """422 for a bad cron (five fields), an unknown zone, an interval under the minimum, or neither / both."""
    if (cron is None) == (interval_seconds is None):
        raise UnprocessableError("Give exactly one of cron or interval_seconds", code="cron_or_interval")
    zone(timezone)
    if interval_seconds is not None and interval_seconds < settings.schedule_min_interval_seconds:
        raise UnprocessableError(
            f"An interval is at least {settings.schedule_min_interval_seconds} s",
            code="interval_too_short",
            details={"minimum_seconds": settings.schedule_min_interval_seconds},
        )
    if cron is not None:
        if len(cron.split()) != 5:
            raise UnprocessableError("A cron expression has five fields", code="invalid_cron", details={"cron": cron})
        try:
            next(iter(CronSim(cron, utc_now())))
        except (CronSimError, StopIteration) as exc:
            raise UnprocessableError(
                f"Invalid cron expression: {exc}", code="invalid_cron", details={"cron": cron}
            ) from exc


def plan_next(schedule: Schedule, after: datetime) -> None:
    """The next slot after `after`, and when to fire it (the slot plus up to jitter_seconds, at random)."""
    slot = next(slots_after(schedule, after))
    schedule.next_slot_at = slot
    schedule.next_fire_at = slot + timedelta(seconds=random.uniform(0, schedule.jitter_seconds))


def owner_of(schedule: Schedule) -> Identity:
    """Who a schedule's runs are started as: its maker, for its team when it is a team's (while still a member)."""
    team = str(schedule.team_id) if schedule.team_id else None
    return Identity(user_id=str(schedule.owner_id), username="schedule", role="user", auth_method="jwt", team_id=team)


@dataclass(frozen=True, slots=True)
class Fired:
    schedule_id: uuid.UUID
    kind: str  # fired, skipped, buffered
    slot_at: datetime | None
    run_id: uuid.UUID | None


@dataclass(kw_only=True)
class Firer:
    """Fires what is due at `now`: one transaction per batch, every slot once across processes."""

    settings: OrchestratorSettings
    sessionmaker: async_sessionmaker[AsyncSession]
    planner: ServiceClient
    ai: ServiceClient
    tools: ServiceClient

    def runs(self, session: AsyncSession) -> RunService:
        return RunService(session=session, settings=self.settings, planner=self.planner, ai=self.ai, tools=self.tools)

    async def fire_due(self, now: datetime) -> list[Fired]:
        async with self.sessionmaker() as session:
            claimed = await repository.claim_due_schedules(session, now=now, limit=self.settings.schedule_batch)
            fired: list[Fired] = []
            for schedule in claimed:
                fired += await self._fire(session, schedule, now)
            await session.commit()
        return fired

    async def _fire(self, session: AsyncSession, schedule: Schedule, now: datetime) -> list[Fired]:
        fired: list[Fired] = []
        busy = schedule.overlap != "allow_all" and await repository.has_active_run(session, schedule.id)
        if schedule.buffered_slot_at is not None and not busy:
            buffered, schedule.buffered_slot_at = schedule.buffered_slot_at, None
            fired.append(await self.start(session, schedule, slot=buffered, kind="fired"))
            busy = fired[-1].run_id is not None
        if schedule.next_fire_at is None or schedule.next_fire_at > now:
            return fired
        slot = self._slot_to_fire(schedule, now)
        if slot is None:
            await repository.add_schedule_event(
                session, schedule.id, kind="skipped", slot_at=schedule.next_slot_at, message="missed while down"
            )
            fired.append(Fired(schedule.id, "skipped", schedule.next_slot_at, None))
        elif busy and schedule.overlap == "skip":
            await repository.add_schedule_event(
                session, schedule.id, kind="skipped", slot_at=slot, message="the previous run is still running"
            )
            fired.append(Fired(schedule.id, "skipped", slot, None))
        elif busy and schedule.overlap == "buffer_one":
            schedule.buffered_slot_at = slot
            await repository.add_schedule_event(
                session, schedule.id, kind="buffered", slot_at=slot, message="starts when the previous run ends"
            )
            fired.append(Fired(schedule.id, "buffered", slot, None))
        else:
            fired.append(await self.start(session, schedule, slot=slot, kind="fired"))
        plan_next(schedule, max(now, slot or now))
        return fired

    def _slot_to_fire(self, schedule: Schedule, now: datetime) -> datetime | None:
        """The latest slot due by now (one firing for all the slots missed while down), unless it is late by more
        than the catch-up window, beyond its jitter and ON_TIME_GRACE; then none."""
        assert schedule.next_slot_at is not None
        latest = schedule.next_slot_at
        for slot in islice(slots_after(schedule, latest), MAX_CATCH_UP_SLOTS):
            if slot > now:
                break
            latest = slot
        late = now - latest - timedelta(seconds=schedule.jitter_seconds)
        return latest if late <= max(ON_TIME_GRACE, timedelta(seconds=schedule.catchup_window_seconds)) else None

    async def start(self, session: AsyncSession, schedule: Schedule, *, slot: datetime | None, kind: str) -> Fired:
        """The template's run for this slot, in a savepoint: a run that cannot start (a parameter the template no
        longer takes, a file gone) is recorded as a skipped slot with the reason, and counts as a failure."""
        runs = self.runs(session)
        try:
            async with session.begin_nested():
                template = await repository.reachable_template(session, owner_of(schedule), schedule.template_id)
                if template is None:
                    raise NotFoundError("The template is gone", code="template_not_found")
                version = await repository.template_version(session, template.id, template.version)
                assert version is not None
                values = bind(version.spec.get("parameters", []), dict(schedule.parameters))
                run = await open_from_template(
                    runs, owner_of(schedule), template, version, values, schedule_id=schedule.id
                )
        except AppError as exc:
            schedule.consecutive_failures += 1
            await repository.add_schedule_event(
                session, schedule.id, kind="skipped", slot_at=slot, message=f"the run could not start: {exc.message}"
            )
            return Fired(schedule.id, "skipped", slot, None)
        schedule.last_fired_at = utc_now()
        await repository.add_schedule_event(session, schedule.id, kind=kind, slot_at=slot, run_id=run.id)
        return Fired(schedule.id, kind, slot, run.id)


class ScheduleLoop(BackgroundComponent):
    """Fires due schedules every schedule_poll_seconds, on the real clock."""

    def __init__(self, firer: Firer, *, clock: Clock = utc_now) -> None:
        self.firer = firer
        self.clock = clock
        self._job: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._job = asyncio.create_task(self._loop(), name="schedules")

    async def stop(self) -> None:
        if self._job is not None:
            self._job.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._job

    async def _loop(self) -> None:
        while True:
            try:
                fired = await self.firer.fire_due(self.clock())
            except Exception:
                logger.exception("firing schedules failed")
                fired = []
            if len(fired) < self.firer.settings.schedule_batch:
                await asyncio.sleep(self.firer.settings.schedule_poll_seconds)


@dataclass
class ScheduleService:
    session: AsyncSession
    settings: OrchestratorSettings
    firer: Firer
    clock: Clock = utc_now

    async def create(self, identity: Identity, body: ScheduleBody) -> ScheduleResponse:
        owner = uuid.UUID(identity.user_id)
        check_timing(
            cron=body.cron, interval_seconds=body.interval_seconds, timezone=body.timezone, settings=self.settings
        )
        template = await self._check_parameters(identity, body.template_id, body.parameters)
        values = body.model_dump()
        values["pause_after_failures"] = values["pause_after_failures"] or self.settings.schedule_failures_to_pause
        schedule = Schedule(id=uuid.uuid4(), owner_id=owner, team_id=template.team_id, **values)
        now = self.clock()
        if schedule.interval_seconds is not None:
            schedule.next_slot_at = now  # the anchor: the first slot is one interval from now
        plan_next(schedule, now)
        self.session.add(schedule)
        await self.session.flush()
        await self.session.refresh(schedule)
        details = body.model_dump(mode="json")
        await audit.record(
            self.session, identity, "schedule.created", target_type="schedule", target_id=schedule.id, details=details
        )
        await self.session.commit()
        return ScheduleResponse.model_validate(schedule)

    async def _check_parameters(
        self, identity: Identity, template_id: uuid.UUID, parameters: dict[str, Any]
    ) -> Template:
        """The template (one the caller may run) takes these values."""
        found = await repository.reachable_template(self.session, identity, template_id)
        template = await teams.check_reached(
            self.session, identity, found, access="write", missing="No such template", code="template_not_found"
        )
        version = await repository.template_version(self.session, template.id, template.version)
        assert version is not None
        bind(version.spec.get("parameters", []), parameters)
        return template

    async def get(self, identity: Identity, schedule_id: uuid.UUID, *, access: teams.Access = "read") -> Schedule:
        """One the caller may read (or change: a team's owners and members)."""
        found = await repository.reachable_schedule(self.session, identity, schedule_id)
        return await teams.check_reached(
            self.session, identity, found, access=access, missing="No such schedule", code="schedule_not_found"
        )

    async def page(self, identity: Identity, *, cursor: str | None, limit: int) -> Page[ScheduleResponse]:
        rows = await repository.page_schedules(self.session, identity, after=after_cursor(cursor), limit=limit + 1)
        return page_of(rows, limit=limit, item=ScheduleResponse.model_validate)

    async def update(self, identity: Identity, schedule_id: uuid.UUID, body: ScheduleUpdate) -> ScheduleResponse:
        schedule = await self.get(identity, schedule_id, access="write")
        changes = body.model_dump(exclude_unset=True)
        before = {k: getattr(schedule, k) for k in changes}
        timing = {"cron", "interval_seconds", "timezone", "jitter_seconds"} & set(changes)
        if "cron" in changes and changes["cron"] is not None:
            changes["interval_seconds"] = None
        if "interval_seconds" in changes and changes["interval_seconds"] is not None:
            changes["cron"] = None
        merged = {k: changes.get(k, getattr(schedule, k)) for k in ("cron", "interval_seconds", "timezone")}
        check_timing(**merged, settings=self.settings)
        if "parameters" in changes:
            await self._check_parameters(identity, schedule.template_id, changes["parameters"] or {})
        resumed = changes.get("paused") is False and schedule.paused
        for key, value in changes.items():
            if value is not None or key in ("cron", "interval_seconds"):
                setattr(schedule, key, value)
        if resumed:
            schedule.pause_reason, schedule.consecutive_failures = None, 0
        if timing or resumed:
            now = self.clock()
            if schedule.interval_seconds is not None and "interval_seconds" in timing:
                schedule.next_slot_at = now
            plan_next(schedule, now)  # missed slots while paused are not fired
        await self.session.flush()
        await self.session.refresh(schedule)
        details = {"before": before, "after": {k: getattr(schedule, k) for k in before}}
        await audit.record(
            self.session, identity, "schedule.updated", target_type="schedule", target_id=schedule.id, details=details
        )
        await self.session.commit()
        return ScheduleResponse.model_validate(schedule)

    async def delete(self, identity: Identity, schedule_id: uuid.UUID) -> None:
        schedule = await self.get(identity, schedule_id, access="write")
        await self.session.delete(schedule)
        details = {"name": schedule.name}
        await audit.record(
            self.session, identity, "schedule.deleted", target_type="schedule", target_id=schedule.id, details=details
        )
        await self.session.commit()

    async def trigger(self, identity: Identity, schedule_id: uuid.UUID) -> RunResponse:
        """Fires now, whatever the overlap policy and the slots; the next slot stays as it was."""
        found = await self.get(identity, schedule_id, access="write")
        schedule = await repository.lock_schedule(self.session, found.id)
        assert schedule is not None
        fired = await self.firer.start(self.session, schedule, slot=None, kind="triggered")
        if fired.run_id is None:
            await self.session.commit()
            raise UnprocessableError("The template's run could not start", code="run_not_started")
        runs = self.firer.runs(self.session)
        run = await runs.get(identity, fired.run_id)
        shown = await runs.respond(run)
        details = {"run_id": str(run.id)}
        await audit.record(
            self.session, identity, "schedule.triggered", target_type="schedule", target_id=schedule.id, details=details
        )
        await self.session.commit()
        return shown

    async def next_times(self, identity: Identity, schedule_id: uuid.UUID, count: int) -> list[datetime]:
        schedule = await self.get(identity, schedule_id)
        if schedule.paused or schedule.next_slot_at is None:
            return []
        first = schedule.next_slot_at
        return [first, *islice(slots_after(schedule, first), count - 1)]

    async def events(
        self, identity: Identity, schedule_id: uuid.UUID, *, cursor: str | None, limit: int
    ) -> Page[ScheduleEventResponse]:
        schedule = await self.get(identity, schedule_id)
        before = id_cursor(cursor)
        rows = await repository.page_schedule_events(self.session, schedule.id, before=before, limit=limit + 1)
        items = [
            ScheduleEventResponse.model_validate(event).model_copy(update={"run_status": status})
            for event, status in rows[:limit]
        ]
        next_cursor = str(rows[limit - 1][0].id) if len(rows) > limit else None
        return Page[ScheduleEventResponse](items=items, next_cursor=next_cursor)
