"""api-gateway: the only public door. Auth, RBAC, rate limits, routing and streaming proxy, health."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware import Middleware

from database.models import ApiUsage
from services.api_gateway.admission import Admission
from services.api_gateway.api import ProxyRoutesFirst, router
from services.api_gateway.authentication import Authenticator
from services.api_gateway.config import GatewaySettings, get_settings
from services.api_gateway.console import router as console_router
from services.api_gateway.deps import GatewayState
from services.api_gateway.idempotency import IdempotencyKeys
from services.api_gateway.proxy import UpstreamProxy
from services.api_gateway.ratelimit import RateLimiter
from shared.app import CoreState, create_service_app
from shared.batching import BatchedInserter


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def gateway_state(core: CoreState) -> AsyncIterator[GatewayState]:
        api_usage = BatchedInserter(
            "api-usage",
            ApiUsage,
            sessionmaker=core.sessionmaker,
            flush_seconds=settings.api_usage_flush_seconds,
            batch_size=1000,
        )
        proxy = UpstreamProxy(settings)
        async with proxy, api_usage:
            yield GatewayState(
                proxy=proxy,
                authenticator=Authenticator(settings, core.redis, core.sessionmaker),
                admission=Admission(settings, RateLimiter(core.redis)),
                api_usage=api_usage,
                idempotency=IdempotencyKeys(core.redis),
            )

    return create_service_app(
        settings,
        title="CognitionOS api-gateway",
        description=(
            "The public entry point: verifies JWTs and API keys, enforces roles and rate limits, and streams requests "
            "to the services."
        ),
        routers=[router, console_router],
        service_lifespan=gateway_state,
        liveness_route=False,
        openapi_url=None,  # the gateway serves one document for the whole API instead (api.py)
        access_log=True,
        cors=True,
        middleware=[Middleware(ProxyRoutesFirst)],
    )
