"""create_service_app(): the wiring every service shares (logging, middleware, errors, DB, Redis, probes)."""

import gc
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar, cast

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.middleware import Middleware

from shared.config import BaseServiceSettings
from shared.db import create_engine, create_sessionmaker, database_is_ready
from shared.errors import install_error_handlers
from shared.logging import configure_logging
from shared.metrics import HttpMetrics, install_metrics
from shared.middleware import ServiceMiddleware
from shared.otel import configure_tracing
from shared.redis import create_redis, redis_is_ready
from shared.schemas import ERROR_RESPONSES, HealthResponse, ReadinessResponse

VERSION = "0.1.0"
StateT = TypeVar("StateT")


@dataclass(kw_only=True)
class CoreState:
    """What every service holds while it runs; a service's lifespan adds its own state object next to it."""

    settings: BaseServiceSettings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    redis: Redis


ReadyCheck = Callable[[CoreState], Awaitable[bool]]
ServiceLifespan = Callable[[CoreState], AbstractAsyncContextManager[object]]
HealthDetails = Callable[[FastAPI], dict[str, Any] | Awaitable[dict[str, Any]]]


def core_state(app: FastAPI) -> CoreState:
    return cast(CoreState, app.state.core)


def service_state(app: FastAPI, kind: type[StateT]) -> StateT:
    """The object the service's lifespan yielded, typed: `service_state(app, GatewayState).proxy`."""
    state = app.state.service
    if not isinstance(state, kind):
        raise TypeError(f"{app.title} holds {type(state).__name__}, not {kind.__name__}")
    return state


async def get_db_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with core_state(request.app).sessionmaker() as session:
        yield session


DbSession = Annotated[AsyncSession, Depends(get_db_session)]


async def _database_check(core: CoreState) -> bool:
    return await database_is_ready(core.engine)


async def _redis_check(core: CoreState) -> bool:
    return await redis_is_ready(core.redis)


def freeze_startup_objects() -> None:
    """Move what startup made (modules, models, clients: 135k-256k objects) out of the collector's reach.

    They live as long as the process, yet every collection of the oldest generation walked them all: 90-190 ms
    a time on the benchmark machine (docs/benchmarks.md has the request path's CPU before and after).
    """
    gc.collect()
    gc.freeze()


def create_service_app(
    settings: BaseServiceSettings,
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter] = (),
    service_lifespan: ServiceLifespan | None = None,
    ready_checks: dict[str, ReadyCheck] | None = None,
    access_log: bool = True,
    liveness_route: bool = True,
    health_details: HealthDetails | None = None,
    openapi_url: str | None = "/openapi.json",
    cors: bool = False,
    middleware: Sequence[Middleware] = (),
    app_class: type[FastAPI] = FastAPI,
) -> FastAPI:
    """`cors`: answer browsers from CORS_ORIGINS; only the gateway does, as browsers reach nothing else.
    `middleware`: the service's own, innermost (the shared middleware runs around it), the first given outermost.
    `app_class`: FastAPI or a subclass of it."""
    checks: dict[str, ReadyCheck] = {"database": _database_check, "redis": _redis_check, **(ready_checks or {})}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.service_name, settings.log_level)
        engine = create_engine(settings.database_url, settings.database_pool_size)
        core = CoreState(
            settings=settings,
            engine=engine,
            sessionmaker=create_sessionmaker(engine),
            redis=create_redis(settings.redis_url),
        )
        app.state.core = core
        try:
            async with AsyncExitStack() as stack:
                if service_lifespan is not None:
                    app.state.service = await stack.enter_async_context(service_lifespan(core))
                freeze_startup_objects()
                yield
        finally:
            gc.unfreeze()  # collectable again: several apps share one process in tests
            await core.redis.aclose()
            await engine.dispose()

    # No trailing-slash redirects: their Location would carry the service's internal URL through the gateway.
    app = app_class(
        title=title,
        description=description,
        version=VERSION,
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
        redirect_slashes=False,
        openapi_url=openapi_url,
        # Tracing is shared/otel.py's (the OpenTelemetry instrumentations, when an endpoint is set); FastAPI's own
        # would only ask, on every request, whether a provider is configured.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    install_error_handlers(app)
    for cls, args, kwargs in reversed(middleware):
        app.add_middleware(cls, *args, **kwargs)
    if cors:
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
    install_metrics(app, settings)
    configure_tracing(app, settings)
    app.add_middleware(
        ServiceMiddleware,
        metrics=HttpMetrics(settings.service_name),
        max_bytes=settings.max_request_body_bytes,
        uploads=settings.upload_body_limits(),
        access_log=access_log,
    )

    if liveness_route:

        @app.get("/health", response_model=HealthResponse, tags=["probes"], summary="Liveness")
        async def health() -> HealthResponse:
            details = health_details(app) if health_details else None
            if inspect.isawaitable(details):
                details = await details
            # A service says it is degraded by naming what is off under details["degraded"].
            return HealthResponse(
                status="degraded" if details and details.get("degraded") else "healthy",
                service=settings.service_name,
                version=VERSION,
                details=details,
                providers=details.get("providers") if details else None,
            )

    @app.get(
        "/ready",
        response_model=ReadinessResponse,
        tags=["probes"],
        summary="Readiness: database, Redis and service dependencies",
        responses={503: {"model": ReadinessResponse, "description": "A dependency is down"}},
    )
    async def ready() -> JSONResponse:
        results = {name: await check(core_state(app)) for name, check in checks.items()}
        ok = all(results.values())
        body = ReadinessResponse(status="ready" if ok else "not_ready", service=settings.service_name, checks=results)
        return JSONResponse(body.model_dump(), status_code=200 if ok else 503)

    for router in routers:
        app.include_router(router)
    return app
