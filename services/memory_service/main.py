"""memory-service: semantic memory in Postgres + pgvector (HNSW), scoped per user, session and agent."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from services.memory_service import repository
from services.memory_service.api import router
from services.memory_service.background import AccessRecorder, expiry_purge
from services.memory_service.config import MemorySettings, get_settings
from services.memory_service.crypto import build_cipher
from services.memory_service.deps import MemoryState
from services.memory_service.imports.api import router as imports_router
from services.memory_service.imports.runner import ImportLoader
from shared.app import CoreState, core_state, create_service_app
from shared.clients import service_client


async def _health_details(app: FastAPI) -> dict[str, Any]:
    try:
        async with core_state(app).sessionmaker() as session:
            return {"database": "ok", "memories": await repository.count(session)}
    except Exception as exc:
        return {"database": f"unavailable: {type(exc).__name__}", "memories": None}


def create_app(settings: MemorySettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def memory_state(core: CoreState) -> AsyncIterator[MemoryState]:
        async with (
            service_client(settings, "ai-runtime", timeout=60) as ai,
            AccessRecorder(core.sessionmaker, settings.access_flush_seconds) as access,
            expiry_purge(core.sessionmaker, settings.purge_interval_seconds),
            ImportLoader(engine=core.engine, sessionmaker=core.sessionmaker, settings=settings) as imports,
        ):
            cipher = build_cipher(settings.encryption_key, settings.internal_secret)
            yield MemoryState(settings=settings, ai=ai, cipher=cipher, access=access, imports=imports)

    return create_service_app(
        settings,
        title="CognitionOS memory-service",
        description=(
            "Semantic memory on pgvector HNSW: scopes, hybrid search (vector + full text, RRF), dedup, encrypted "
            "sensitive memories."
        ),
        routers=[imports_router, router],
        service_lifespan=memory_state,
        health_details=_health_details,
    )
