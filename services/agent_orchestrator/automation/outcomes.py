"""What a run's end means to the automation, in the transaction that records it (run_log.record): its webhooks'
deliveries, and for a scheduled run, its schedule's count of failures in a row (which pauses it at its limit)."""

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from services.agent_orchestrator.automation import repository
from services.agent_orchestrator.automation.webhooks import enqueue_run_events
from services.agent_orchestrator.repository import FINISHED_RUN_EVENTS, NewEvent


async def record_outcomes(session: AsyncSession, events: Sequence[NewEvent]) -> None:
    await enqueue_run_events(session, events)
    for event in events:
        if event.event_type in FINISHED_RUN_EVENTS:
            await run_finished(session, run_id=event.run_id, status=FINISHED_RUN_EVENTS[event.event_type])


async def run_finished(session: AsyncSession, *, run_id: uuid.UUID, status: str) -> None:
    """Failures in a row are counted; at the schedule's pause_after_failures it pauses itself and says so (an
    event, and schedule.paused webhooks). A success starts the count again."""
    schedule_id = await repository.schedule_of_run(session, run_id)
    if schedule_id is None:
        return
    schedule = await repository.lock_schedule(session, schedule_id)
    if schedule is None:
        return
    schedule.consecutive_failures = schedule.consecutive_failures + 1 if status == "failed" else 0
    if schedule.paused or schedule.consecutive_failures < schedule.pause_after_failures:
        return
    schedule.paused = True
    schedule.pause_reason = f"{schedule.consecutive_failures} runs in a row failed"
    await repository.add_schedule_event(
        session, schedule.id, kind="paused", run_id=run_id, message=schedule.pause_reason
    )
    data = {
        "schedule_id": str(schedule.id),
        "name": schedule.name,
        "reason": schedule.pause_reason,
        "run_id": str(run_id),
    }
    await repository.enqueue_for_owner(session, owner_id=schedule.owner_id, event_type="schedule.paused", data=data)
