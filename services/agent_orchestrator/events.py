"""Run events as they happen: one LISTEN connection per process wakes the worker and the SSE streams.

Notifications only say "look again"; the rows in task_execution_logs are the truth, so a missed
notification costs at most one poll interval and a reconnecting client resumes with Last-Event-ID.
"""

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import asyncpg
from redis.exceptions import RedisError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.agent_orchestrator import repository
from services.agent_orchestrator.repository import EVENTS_CHANNEL, TASKS_CHANNEL, TERMINAL_RUN_STATUSES
from services.agent_orchestrator.schemas import RunEvent
from shared.background import BackgroundComponent
from shared.db import normalize_database_url

logger = logging.getLogger(__name__)

POLL_SECONDS = 1.0  # without a notification (connection down), look again this often


def asyncpg_dsn(database_url: str) -> str:
    return (
        make_url(normalize_database_url(database_url))
        .set(drivername="postgresql")
        .render_as_string(hide_password=False)
    )


class Notifications(BackgroundComponent):
    """LISTENs for ready tasks and new run events; reconnects when the connection drops."""

    def __init__(self, database_url: str, on_tasks_ready: Callable[[], None]) -> None:
        self.dsn = asyncpg_dsn(database_url)
        self.on_tasks_ready = on_tasks_ready
        self._run_waiters: defaultdict[str, set[asyncio.Event]] = defaultdict(set)
        self._listener: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._listener = asyncio.create_task(self._listen_forever(), name="notifications")

    async def stop(self) -> None:
        if self._listener:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener

    @contextlib.contextmanager
    def watch(self, run_id: uuid.UUID) -> Iterator[asyncio.Event]:
        event = asyncio.Event()
        self._run_waiters[str(run_id)].add(event)
        try:
            yield event
        finally:
            self._run_waiters[str(run_id)].discard(event)
            if not self._run_waiters[str(run_id)]:
                del self._run_waiters[str(run_id)]

    def _received(self, _connection: object, _pid: int, channel: str, payload: str) -> None:
        if channel == TASKS_CHANNEL:
            self.on_tasks_ready()
        else:
            for event in self._run_waiters.get(payload, ()):
                event.set()

    async def _listen_forever(self) -> None:
        while True:
            connection = None
            try:
                connection = await asyncpg.connect(self.dsn)
                await connection.add_listener(TASKS_CHANNEL, self._received)
                await connection.add_listener(EVENTS_CHANNEL, self._received)
                self.on_tasks_ready()  # anything that became ready while we were not listening
                while not connection.is_closed():
                    await asyncio.sleep(1.0)
            except (OSError, asyncpg.PostgresError):
                logger.warning("notification connection lost; polling until it is back")
            finally:
                if connection is not None and not connection.is_closed():
                    await connection.close()
            await asyncio.sleep(1.0)


def sse(event_id: int | None, event_type: str, data: str) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event_type}\ndata: {data}\n\n"


async def stream_run_events(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    notifications: Notifications,
    run_id: uuid.UUID,
    after_id: int,
    keepalive_seconds: float,
    read_progress: Callable[[], Awaitable[str | bytes | None]] | None = None,
) -> AsyncIterator[str]:
    """The run's events after `after_id`, then live ones, until the run has ended and all were sent; a comment after
    every `keepalive_seconds` of silence. Between events, what `read_progress` says whenever it changes (how the
    run's call to the embedded model stands) as a `progress` event without an id: it is not stored or replayed."""
    last_id, last_sent = after_id, time.monotonic()
    last_progress: str | None = None
    with notifications.watch(run_id) as changed:
        while True:
            changed.clear()
            try:
                async with sessionmaker() as session:
                    # Status first: once it reads as ended, every event of the run is already committed.
                    run = await repository.get_run(session, run_id)
                    events = await repository.list_events(session, run_id, after_id=last_id, limit=500)
            except (OSError, SQLAlchemyError):
                logger.warning("reading run events failed; retrying")
                await asyncio.sleep(1.0)
                continue
            for event in events:
                last_id = event.id
                yield sse(event.id, event.event_type, RunEvent.model_validate(event).model_dump_json())
            if events:
                # A client drops what it knew of the model's progress at each event: say it again after them.
                last_sent, last_progress = time.monotonic(), None
                continue
            if run is None or run.status in TERMINAL_RUN_STATUSES:
                yield sse(
                    None,
                    "end",
                    json.dumps(
                        {"event_type": "end", "status": run.status if run else "deleted", "last_event_id": last_id}
                    ),
                )
                return
            if read_progress is not None and (progress := await _progress(read_progress, run_id)) != last_progress:
                last_progress, last_sent = progress, time.monotonic()
                if progress is not None:
                    yield sse(None, "progress", progress)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), min(POLL_SECONDS, keepalive_seconds))
            if time.monotonic() - last_sent >= keepalive_seconds:
                last_sent = time.monotonic()
                yield ": keepalive\n\n"


async def _progress(read: Callable[[], Awaitable[str | bytes | None]], run_id: uuid.UUID) -> str | None:
    try:
        found = await read()
    except RedisError:
        return None  # progress is a courtesy: the stream goes on without it
    if found is None:
        return None
    return json.dumps({"event_type": "progress", "run_id": str(run_id), **json.loads(found)})
