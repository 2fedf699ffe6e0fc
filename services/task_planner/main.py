"""task-planner: turns a goal into a validated DAG of tasks using the LLM (schema-constrained JSON)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.task_planner.api import router
from services.task_planner.config import TaskPlannerSettings, get_settings
from services.task_planner.deps import PlannerState
from shared.app import CoreState, create_service_app
from shared.clients import service_client


def create_app(settings: TaskPlannerSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def clients(_core: CoreState) -> AsyncIterator[PlannerState]:
        async with (
            service_client(settings, "ai-runtime", timeout=300) as ai,
            service_client(settings, "tool-runner", timeout=10) as tools,
        ):
            yield PlannerState(ai=ai, tools=tools, plan_schema=settings.plan_schema())

    return create_service_app(
        settings,
        title="CognitionOS task-planner",
        description=(
            "Turns a goal into a validated DAG of tasks using the LLM (schema-constrained JSON), and replans after "
            "failures."
        ),
        routers=[router],
        service_lifespan=clients,
    )
