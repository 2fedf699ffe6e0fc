"""api-gateway: the only public door. Auth, RBAC, rate limits, routing and streaming proxy, health."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from database.models import ApiUsage
from services.api_gateway.api import router
from services.api_gateway.config import GatewaySettings, get_settings
from services.api_gateway.proxy import UpstreamProxy
from services.api_gateway.ratelimit import RateLimiter
from services.api_gateway.service import Admission, Authenticator
from shared.app import create_service_app
from shared.batching import BatchedInserter


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def gateway_state(app: FastAPI) -> AsyncIterator[None]:
        app.state.proxy = UpstreamProxy(settings)
        app.state.authenticator = Authenticator(settings, app.state.redis, app.state.sessionmaker)
        app.state.admission = Admission(settings, RateLimiter(app.state.redis))
        app.state.api_usage = BatchedInserter(
            "api-usage",
            ApiUsage,
            sessionmaker=app.state.sessionmaker,
            flush_seconds=settings.api_usage_flush_seconds,
            batch_size=1000,
        )
        app.state.api_usage.start()
        try:
            yield
        finally:
            await app.state.api_usage.stop()
            await app.state.proxy.aclose()

    return create_service_app(
        settings,
        title="CognitionOS api-gateway",
        description=(
            "The public entry point: verifies JWTs and API keys, enforces roles and rate limits, and streams requests "
            "to the services."
        ),
        routers=[router],
        extra_lifespan=gateway_state,
        liveness_route=False,
        access_log=True,
    )
