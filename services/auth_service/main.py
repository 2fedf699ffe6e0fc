"""auth-service: users, login, JWT access/refresh tokens, sessions, roles, API keys."""

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI

from services.auth_service.api import router
from services.auth_service.audit import router as audit_router
from services.auth_service.config import AuthSettings, get_settings
from services.auth_service.deps import AuthState
from services.auth_service.service import AuthService
from services.auth_service.teams_api import router as teams_router
from shared import audit
from shared.app import CoreState, create_service_app
from shared.background import PeriodicTask

AUDIT_PURGE_SECONDS = 3600.0


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def bootstrap(core: CoreState) -> AsyncIterator[AuthState]:
        async with core.sessionmaker() as session:
            await AuthService(session=session, redis=core.redis, settings=settings).ensure_bootstrap_admin()
        async with AsyncExitStack() as stack:
            if (days := settings.audit_retention_days) is not None:

                async def purge() -> None:
                    async with core.sessionmaker.begin() as session:
                        await audit.purge_before(session, datetime.now(UTC) - timedelta(days=days))

                await stack.enter_async_context(PeriodicTask("audit-retention", AUDIT_PURGE_SECONDS, purge))
            yield AuthState(settings=settings, redis=core.redis)

    return create_service_app(
        settings,
        title="CognitionOS auth-service",
        description="Users, login by username or email, JWT access/refresh tokens with rotation, roles and API keys.",
        routers=[router, audit_router, teams_router],
        service_lifespan=bootstrap,
    )
