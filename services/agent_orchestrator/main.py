"""agent-orchestrator: agent definitions and durable execution of DAG runs (a worker in every process)."""

import functools
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError

from services.agent_orchestrator.api import router
from services.agent_orchestrator.automation.api import router as automation_router
from services.agent_orchestrator.automation.schedules import Firer, ScheduleLoop
from services.agent_orchestrator.automation.webhooks import Dispatcher
from services.agent_orchestrator.config import OrchestratorSettings, get_settings
from services.agent_orchestrator.conversations.api import router as conversations_router
from services.agent_orchestrator.conversations.memory import MemoryLearner
from services.agent_orchestrator.deps import OrchestratorState
from services.agent_orchestrator.evals.api import router as evals_router
from services.agent_orchestrator.evals.arms import CaseRunner
from services.agent_orchestrator.evals.driver import EvalDriver
from services.agent_orchestrator.events import Notifications
from services.agent_orchestrator.execution import TaskExecutor
from services.agent_orchestrator.mcp_server import create_mcp_server, mcp_routes
from services.agent_orchestrator.service import seed_built_in_agents
from services.agent_orchestrator.worker import Worker, record_task_event
from shared.app import CoreState, create_service_app, service_state
from shared.clients import service_client

logger = logging.getLogger(__name__)


async def _seed_agents(core: CoreState) -> bool:
    """The service starts even when the database is down (/ready says so); seeding is then retried on use."""
    try:
        async with core.sessionmaker() as session:
            await seed_built_in_agents(session)
    except (OSError, SQLAlchemyError):
        logger.warning("built-in agents not seeded yet: database unavailable")
        return False
    return True


def create_app(settings: OrchestratorSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    mcp = create_mcp_server()
    mcp_at_root = mcp_routes(mcp)

    @asynccontextmanager
    async def orchestration(core: CoreState) -> AsyncIterator[OrchestratorState]:
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(mcp.session_manager.run())
            ai = await stack.enter_async_context(service_client(settings, "ai-runtime", timeout=300))
            planner = await stack.enter_async_context(service_client(settings, "task-planner", timeout=600))
            tools = await stack.enter_async_context(
                service_client(settings, "tool-runner", timeout=settings.tool_timeout_seconds + 30)
            )
            executor = TaskExecutor(
                settings=settings,
                ai=ai,
                tools=tools,
                planner=planner,
                record_event=functools.partial(record_task_event, core.sessionmaker),
            )
            worker = Worker(settings, core.sessionmaker, executor)
            memory = await stack.enter_async_context(service_client(settings, "memory-service", timeout=60))
            learner = MemoryLearner(settings=settings, ai=ai, memory=memory)
            stack.push_async_callback(learner.aclose)
            runner = CaseRunner(settings=settings, sessionmaker=core.sessionmaker, ai=ai, tools=tools, planner=planner)
            evals = EvalDriver(settings=settings, sessionmaker=core.sessionmaker, runner=runner, memory=memory)
            firer = Firer(settings=settings, sessionmaker=core.sessionmaker, planner=planner, ai=ai, tools=tools)
            state = OrchestratorState(
                settings=settings,
                ai=ai,
                planner=planner,
                tools=tools,
                memory=memory,
                worker=worker,
                notifications=await stack.enter_async_context(Notifications(settings.database_url, worker.wake)),
                learner=learner,
                evals=evals,
                firer=firer,
                agents_seeded=await _seed_agents(core),
            )
            if settings.worker_enabled:
                await stack.enter_async_context(worker)
            if settings.evals_enabled:
                await stack.enter_async_context(evals)
            if settings.schedules_enabled:
                await stack.enter_async_context(ScheduleLoop(firer))
            if settings.webhooks_enabled:
                await stack.enter_async_context(Dispatcher(settings, core.sessionmaker))
            yield state

    def health_details(app: FastAPI) -> dict[str, Any]:
        worker = service_state(app, OrchestratorState).worker
        return {
            "worker_id": worker.worker_id,
            "running_tasks": len(worker.running),
            "worker_enabled": settings.worker_enabled,
        }

    app = create_service_app(
        settings,
        title="CognitionOS agent-orchestrator",
        description=(
            "Agents (planner, executor, critic, summarizer seeded; register more) and durable runs of task DAGs: "
            "leases, retries with backoff, fallbacks and replanning, budgets, cancellation, and live run events."
        ),
        routers=[router, conversations_router, evals_router, automation_router],
        service_lifespan=orchestration,
        health_details=health_details,
    )
    app.router.routes.extend(mcp_at_root)  # /mcp: CognitionOS as an MCP server (mcp_server.py)
    return app
