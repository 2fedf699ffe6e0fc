"""auth-service: users, login, JWT access/refresh tokens, sessions, roles, API keys."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.auth_service.api import router
from services.auth_service.config import AuthSettings, get_settings
from services.auth_service.deps import AuthState
from services.auth_service.service import AuthService
from shared.app import CoreState, create_service_app


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def bootstrap(core: CoreState) -> AsyncIterator[AuthState]:
        async with core.sessionmaker() as session:
            await AuthService(session=session, redis=core.redis, settings=settings).ensure_bootstrap_admin()
        yield AuthState(settings=settings, redis=core.redis)

    return create_service_app(
        settings,
        title="CognitionOS auth-service",
        description="Users, login by username or email, JWT access/refresh tokens with rotation, roles and API keys.",
        routers=[router],
        service_lifespan=bootstrap,
    )
