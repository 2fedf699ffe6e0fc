"""The worker's lease heartbeat against the real database."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from database.models import Run, Task
from services.agent_orchestrator import repository
from services.agent_orchestrator.config import OrchestratorSettings
from services.agent_orchestrator.worker import Worker
from shared.db import create_engine, create_sessionmaker
from tests.support.settings import common_settings
from tests.support.users import make_user


async def _heartbeat_scenario(database_url: str, redis_url: str, user_id: str) -> dict[str, bool]:
    engine = create_engine(database_url)
    sessionmaker = create_sessionmaker(engine)
    worker = Worker(OrchestratorSettings(**common_settings(database_url, redis_url)), sessionmaker, executor=None)  # type: ignore[arg-type]
    run_id, claimed = uuid.uuid4(), {key: uuid.uuid4() for key in ("held", "cancelled", "late")}
    lease = datetime.now(UTC) + timedelta(seconds=30)
    async with sessionmaker.begin() as session:
        # Held by this worker as a claim leaves them; the run is not "running", so no other worker of the suite claims
        # them.
        session.add(Run(id=run_id, user_id=uuid.UUID(user_id), goal="heartbeat", status="cancelled", max_parallel=10))
        await session.flush()
        session.add_all(
            Task(
                id=task_id,
                run_id=run_id,
                task_key=key,
                name=key,
                agent_role="executor",
                tool="noop",
                status="running",
                lease_owner=worker.worker_id,
                lease_expires_at=lease,
            )
            for key, task_id in claimed.items()
        )
    async with sessionmaker.begin() as session:  # the run's owner cancels one of them
        await session.execute(
            update(Task).where(Task.id == claimed["cancelled"]).values(status="cancelled", lease_owner=None)
        )

    forever = asyncio.Event()

    async def endless() -> None:
        await forever.wait()

    worker.running = {
        claimed["held"]: asyncio.create_task(endless()),
        claimed["cancelled"]: asyncio.create_task(endless()),
    }
    extend = repository.extend_leases

    async def extend_while_a_task_starts(*args: Any, **kwargs: Any) -> set[uuid.UUID]:
        # A task is claimed and started while the heartbeat waits for the database.
        worker.running[claimed["late"]] = asyncio.create_task(endless())
        return await extend(*args, **kwargs)

    repository.extend_leases = extend_while_a_task_starts
    try:
        await worker._extend_leases()
    finally:
        repository.extend_leases = extend
    await asyncio.sleep(0)
    outcome = {key: worker.running[task_id].cancelled() for key, task_id in claimed.items()}
    for task in worker.running.values():
        task.cancel()
    await engine.dispose()
    return outcome


def test_heartbeat_stops_only_tasks_that_are_no_longer_this_workers(database_url: str, redis_url: str) -> None:
    cancelled = asyncio.run(_heartbeat_scenario(database_url, redis_url, make_user(database_url)))
    assert cancelled == {"held": False, "cancelled": True, "late": False}
