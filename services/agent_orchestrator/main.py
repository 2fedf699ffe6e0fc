"""agent-orchestrator: agent definitions now; durable execution of DAG runs arrives with the orchestration issue."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError

from services.agent_orchestrator.api import router
from services.agent_orchestrator.config import OrchestratorSettings, get_settings
from services.agent_orchestrator.service import seed_built_in_agents
from shared.app import create_service_app

logger = logging.getLogger(__name__)


def create_app(settings: OrchestratorSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def seed(app: FastAPI) -> AsyncIterator[None]:
        # The service starts even when the database is down (/ready says so); seeding is retried on use.
        app.state.agents_seeded = False
        try:
            async with app.state.sessionmaker() as session:
                await seed_built_in_agents(session)
            app.state.agents_seeded = True
        except (OSError, SQLAlchemyError):
            logger.warning("built-in agents not seeded yet: database unavailable")
        yield

    return create_service_app(
        settings,
        title="CognitionOS agent-orchestrator",
        description="Agent definitions (planner, executor, critic, summarizer seeded; register more).",
        routers=[router],
        extra_lifespan=seed,
    )
