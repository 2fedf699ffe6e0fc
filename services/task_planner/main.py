"""task-planner: Turns a goal into a validated DAG of tasks using the LLM (schema-constrained JSON)."""

from fastapi import FastAPI

from services.task_planner.api import router
from services.task_planner.config import TaskPlannerSettings, get_settings
from shared.app import create_service_app


def create_app(settings: TaskPlannerSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    return create_service_app(
        settings,
        title="CognitionOS task-planner",
        description="Turns a goal into a validated DAG of tasks using the LLM (schema-constrained JSON).",
        routers=[router],
    )
