"""agent-orchestrator: agent definitions and durable execution of DAG runs (a worker in every process)."""

import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError

from services.agent_orchestrator.api import router
from services.agent_orchestrator.config import OrchestratorSettings, get_settings
from services.agent_orchestrator.events import Notifications
from services.agent_orchestrator.execution import TaskExecutor
from services.agent_orchestrator.service import seed_built_in_agents
from services.agent_orchestrator.worker import Worker, record_task_event
from shared.app import create_service_app
from shared.clients import ServiceClient

logger = logging.getLogger(__name__)


def create_app(settings: OrchestratorSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def orchestration(app: FastAPI) -> AsyncIterator[None]:
        # The service starts even when the database is down (/ready says so); seeding is retried on use.
        app.state.agents_seeded = False
        try:
            async with app.state.sessionmaker() as session:
                await seed_built_in_agents(session)
            app.state.agents_seeded = True
        except (OSError, SQLAlchemyError):
            logger.warning("built-in agents not seeded yet: database unavailable")
        secret = settings.internal_secret
        clients = [
            ServiceClient("ai-runtime", settings.ai_runtime_url, internal_secret=secret, timeout=300),
            ServiceClient("task-planner", settings.task_planner_url, internal_secret=secret, timeout=600),
            ServiceClient(
                "tool-runner",
                settings.tool_runner_url,
                internal_secret=secret,
                timeout=settings.tool_timeout_seconds + 30,
            ),
        ]
        app.state.ai_client, app.state.planner_client, tools_client = clients
        executor = TaskExecutor(
            settings=settings,
            ai=app.state.ai_client,
            tools=tools_client,
            planner=app.state.planner_client,
            record_event=functools.partial(record_task_event, app.state.sessionmaker),
        )
        worker = app.state.worker = Worker(settings, app.state.sessionmaker, executor)
        notifications = app.state.notifications = Notifications(settings.database_url, worker.wake)
        notifications.start()
        if settings.worker_enabled:
            worker.start()
        try:
            yield
        finally:
            if settings.worker_enabled:
                await worker.stop()
            await notifications.stop()
            for client in clients:
                await client.aclose()

    return create_service_app(
        settings,
        title="CognitionOS agent-orchestrator",
        description=(
            "Agents (planner, executor, critic, summarizer seeded; register more) and durable runs of task DAGs: "
            "leases, retries with backoff, fallbacks and replanning, budgets, cancellation, and live run events."
        ),
        routers=[router],
        extra_lifespan=orchestration,
        health_details=lambda app: {
            "worker_id": app.state.worker.worker_id,
            "running_tasks": len(app.state.worker.running),
            "worker_enabled": settings.worker_enabled,
        },
    )
