"""memory-service: Semantic memory in Postgres + pgvector, scoped per user, session and agent."""

from fastapi import FastAPI

from services.memory_service.api import router
from services.memory_service.config import MemorySettings, get_settings
from shared.app import create_service_app


def create_app(settings: MemorySettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    return create_service_app(
        settings,
        title="CognitionOS memory-service",
        description="Semantic memory in Postgres + pgvector, scoped per user, session and agent.",
        routers=[router],
    )
