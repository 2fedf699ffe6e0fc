"""agent-orchestrator: Agents and durable execution of DAG runs with retries, budgets and run events."""

from fastapi import FastAPI

from services.agent_orchestrator.api import router
from services.agent_orchestrator.config import OrchestratorSettings, get_settings
from shared.app import create_service_app


def create_app(settings: OrchestratorSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    return create_service_app(
        settings,
        title="CognitionOS agent-orchestrator",
        description="Agents and durable execution of DAG runs with retries, budgets and run events.",
        routers=[router],
    )
