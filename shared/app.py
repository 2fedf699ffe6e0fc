"""create_service_app(): the wiring every service shares (logging, middleware, errors, DB, Redis, probes)."""

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from shared.config import BaseServiceSettings
from shared.db import create_engine, create_sessionmaker, database_is_ready
from shared.errors import install_error_handlers
from shared.logging import configure_logging
from shared.middleware import RequestContextMiddleware
from shared.redis import create_redis, redis_is_ready
from shared.schemas import ERROR_RESPONSES, HealthResponse, ReadinessResponse

VERSION = "0.1.0"
ReadyCheck = Callable[[FastAPI], Awaitable[bool]]
ExtraLifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]
HealthDetails = Callable[[FastAPI], dict[str, Any] | Awaitable[dict[str, Any]]]


async def _database_check(app: FastAPI) -> bool:
    return await database_is_ready(app.state.engine)


async def _redis_check(app: FastAPI) -> bool:
    return await redis_is_ready(app.state.redis)


def create_service_app(
    settings: BaseServiceSettings,
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter] = (),
    extra_lifespan: ExtraLifespan | None = None,
    ready_checks: dict[str, ReadyCheck] | None = None,
    access_log: bool = True,
    liveness_route: bool = True,
    health_details: HealthDetails | None = None,
) -> FastAPI:
    checks: dict[str, ReadyCheck] = {"database": _database_check, "redis": _redis_check, **(ready_checks or {})}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.service_name, settings.log_level)
        app.state.engine = create_engine(settings.database_url, settings.database_pool_size)
        app.state.sessionmaker = create_sessionmaker(app.state.engine)
        app.state.redis = create_redis(settings.redis_url)
        try:
            if extra_lifespan is None:
                yield
            else:
                async with extra_lifespan(app):
                    yield
        finally:
            await app.state.redis.aclose()
            await app.state.engine.dispose()

    app = FastAPI(title=title, description=description, version=VERSION, lifespan=lifespan, responses=ERROR_RESPONSES)
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=[
            "X-Request-ID",
            "traceparent",
            "Retry-After",
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
        ],
    )
    app.add_middleware(RequestContextMiddleware, access_log=access_log)

    if liveness_route:

        @app.get("/health", response_model=HealthResponse, tags=["probes"], summary="Liveness")
        async def health() -> HealthResponse:
            details = health_details(app) if health_details else None
            if inspect.isawaitable(details):
                details = await details
            return HealthResponse(service=settings.service_name, version=VERSION, details=details)

    @app.get(
        "/ready",
        response_model=ReadinessResponse,
        tags=["probes"],
        summary="Readiness: database, Redis and service dependencies",
        responses={503: {"model": ReadinessResponse, "description": "A dependency is down"}},
    )
    async def ready() -> JSONResponse:
        results = {name: await check(app) for name, check in checks.items()}
        ok = all(results.values())
        body = ReadinessResponse(status="ready" if ok else "not_ready", service=settings.service_name, checks=results)
        return JSONResponse(body.model_dump(), status_code=200 if ok else 503)

    for router in routers:
        app.include_router(router)
    return app
