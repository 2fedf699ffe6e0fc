"""memory-service: semantic memory in Postgres + pgvector (HNSW), scoped per user, session and agent."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from services.memory_service import repository
from services.memory_service.api import router
from services.memory_service.config import MemorySettings, get_settings
from services.memory_service.crypto import build_cipher
from services.memory_service.tasks import AccessRecorder, expiry_purge
from shared.app import create_service_app
from shared.clients import ServiceClient


async def _health_details(app: FastAPI) -> dict[str, Any]:
    try:
        async with app.state.sessionmaker() as session:
            return {"database": "ok", "memories": await repository.count(session)}
    except Exception as exc:
        return {"database": f"unavailable: {type(exc).__name__}", "memories": None}


def create_app(settings: MemorySettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def memory_state(app: FastAPI) -> AsyncIterator[None]:
        app.state.ai_client = ServiceClient(
            "ai-runtime", settings.ai_runtime_url, internal_secret=settings.internal_secret, timeout=60
        )
        app.state.cipher = build_cipher(settings.encryption_key, settings.internal_secret)
        app.state.access = AccessRecorder(app.state.sessionmaker, settings.access_flush_seconds)
        app.state.access.start()
        purge = expiry_purge(app.state.sessionmaker, settings.purge_interval_seconds)
        purge.start()
        try:
            yield
        finally:
            await purge.stop()
            await app.state.access.stop()
            await app.state.ai_client.aclose()

    return create_service_app(
        settings,
        title="CognitionOS memory-service",
        description=(
            "Semantic memory on pgvector HNSW: scopes, hybrid search (vector + full text, RRF), dedup, encrypted "
            "sensitive memories."
        ),
        routers=[router],
        extra_lifespan=memory_state,
        health_details=_health_details,
    )
