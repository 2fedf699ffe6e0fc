"""What writing a run's events sets off: outcome metrics counted only once the transaction commits."""

import asyncio
import uuid

from services.agent_orchestrator import run_log
from services.agent_orchestrator.repository import NewEvent
from shared import metrics
from shared.db import create_engine, create_sessionmaker
from tests.support import sql_scalar
from tests.support.users import make_user


def _cancelled_runs() -> float:
    return metrics.RUNS_FINISHED.labels("cancelled")._value.get()


def test_an_outcome_is_counted_when_committed_and_not_when_rolled_back(database_url: str) -> None:
    run_id = str(uuid.uuid4())
    sql_scalar(
        database_url,
        "INSERT INTO runs (id, user_id, goal, status) VALUES (:r, :u, 'g', 'cancelled') RETURNING 1",
        r=run_id,
        u=make_user(database_url),
    )
    ended = [NewEvent(run_id=uuid.UUID(run_id), event_type="run_cancelled", message="stopped")]

    async def scenario() -> tuple[float, float]:
        engine = create_engine(database_url)
        sessions = create_sessionmaker(engine)
        before = _cancelled_runs()
        async with sessions() as session:
            await run_log.record(session, ended)
            await session.rollback()
        after_rollback = _cancelled_runs() - before
        async with sessions.begin() as session:
            await run_log.record(session, ended)
        await engine.dispose()
        return after_rollback, _cancelled_runs() - before

    assert asyncio.run(scenario()) == (0, 1)
    assert sql_scalar(database_url, "SELECT count(*) FROM task_execution_logs WHERE run_id = :r", r=run_id) == 1
