"""task-planner: turns a goal into a validated DAG of tasks using the LLM (schema-constrained JSON)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.task_planner.api import router
from services.task_planner.config import TaskPlannerSettings, get_settings
from shared.app import create_service_app
from shared.clients import ServiceClient


def create_app(settings: TaskPlannerSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def clients(app: FastAPI) -> AsyncIterator[None]:
        app.state.ai_client = ServiceClient(
            "ai-runtime", settings.ai_runtime_url, internal_secret=settings.internal_secret, timeout=300
        )
        try:
            yield
        finally:
            await app.state.ai_client.aclose()

    return create_service_app(
        settings,
        title="CognitionOS task-planner",
        description=(
            "Turns a goal into a validated DAG of tasks using the LLM (schema-constrained JSON), and replans after "
            "failures."
        ),
        routers=[router],
        extra_lifespan=clients,
    )
