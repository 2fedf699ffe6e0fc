"""What writing a run's events sets in motion, beside the rows themselves (repository.add_events): a finished run's
outcome is posted to the conversation that started it and its webhooks' deliveries are written (automation/outcomes.py),
in the same transaction, and the outcome metrics are counted once that transaction has committed (a rolled-back
event is not counted)."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import event as orm_events
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from services.agent_orchestrator import repository
from services.agent_orchestrator.automation.outcomes import record_outcomes
from services.agent_orchestrator.conversations import repository as conversations_repository
from services.agent_orchestrator.repository import FINISHED_RUN_EVENTS, FINISHED_TASK_EVENTS, NewEvent
from shared import metrics

_UNCOUNTED = "cognitionos.uncounted_outcomes"  # session.info key: events written, not yet committed


async def record(session: AsyncSession, events: Sequence[NewEvent], *, wake_workers: bool = False) -> None:
    """Appends the events to the run log (see repository.add_events for the ordering it keeps) and sets off
    what they mean: a run's outcome posted to its conversation, the metrics counted on commit."""
    await repository.add_events(session, events, wake_workers=wake_workers)
    for written in events:
        if written.event_type in FINISHED_RUN_EVENTS:
            await conversations_repository.post_run_outcome(session, written.run_id)
    await record_outcomes(session, events)
    session.sync_session.info.setdefault(_UNCOUNTED, []).extend(events)


def count_outcomes(events: Sequence[NewEvent]) -> None:
    """Every task and run outcome is an event of the run log, so the metrics are counted from the log's events."""
    for event in events:
        if event.event_type in FINISHED_TASK_EVENTS:
            metrics.TASKS_FINISHED.labels(FINISHED_TASK_EVENTS[event.event_type]).inc()
        elif event.event_type in FINISHED_RUN_EVENTS:
            metrics.RUNS_FINISHED.labels(FINISHED_RUN_EVENTS[event.event_type]).inc()
        elif event.event_type == "task_retry_scheduled":
            metrics.TASK_RETRIES.inc()


@orm_events.listens_for(Session, "after_commit")
def _count_committed(session: Session) -> None:
    count_outcomes(session.info.pop(_UNCOUNTED, []))


@orm_events.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session, *_: Any) -> None:
    session.info.pop(_UNCOUNTED, None)
