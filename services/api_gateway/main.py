"""api-gateway: the only public door. Auth, RBAC, rate limits, routing and streaming proxy, health."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from database.models import ApiUsage
from services.api_gateway.admission import Admission
from services.api_gateway.api import PROXY_ROUTES, ProxyRoutesFirst, proxy_endpoint, router
from services.api_gateway.authentication import Authenticator
from services.api_gateway.config import GatewaySettings, get_settings
from services.api_gateway.console import router as console_router
from services.api_gateway.deps import GatewayState
from services.api_gateway.idempotency import IdempotencyKeys
from services.api_gateway.proxy import UpstreamProxy
from services.api_gateway.ratelimit import RateLimiter
from shared.app import CoreState, create_service_app
from shared.batching import BatchedInserter
from shared.middleware import ServiceMiddleware

# The layers a request passes on the long way to ProxyRoutesFirst that leave a proxied request without an Origin
# header untouched: any other (OpenTelemetry's, when tracing is on) sends every request the long way.
PASSED_THROUGH = frozenset(
    {
        "starlette.middleware.errors.ServerErrorMiddleware",
        "fastapi.telemetry._asgi.ExceptionTelemetryMiddleware",
        "fastapi._body_limit.AppBodyLimitMiddleware",
        "starlette.middleware.cors.CORSMiddleware",
    }
)


class GatewayApp(FastAPI):
    """The gateway's app, with a short way for proxied requests sent without an Origin header (an SDK, the CLI,
    another server): the shared ServiceMiddleware (request ids and trace, body limit, metrics, access log) and then
    the proxy's endpoint, as ProxyRoutesFirst finds it. The long way passes FastAPI's and Starlette's entry points
    and four more layers, which such a request goes through untouched: CORS answers only requests with an Origin;
    the server error middleware only errors that reach it, and the endpoint answers its own; FastAPI's body limit
    (unset: the shared middleware holds bodies to their limit) and its exception telemetry (off) do nothing. A
    browser's request goes the long way, so CORS stays Starlette's."""

    _fronts: dict[ASGIApp, ServiceMiddleware] | None = None  # None until the stack is built (on the first call)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fronts = self._fronts
        if fronts is None and self.middleware_stack is not None:
            # Read from the stack as built: an instrumentation may wrap it after build_middleware_stack has run.
            fronts = self._fronts = _short_ways(self.middleware_stack) if not self.root_path else {}
        if (
            fronts
            and scope["type"] == "http"
            and not any(key == b"origin" for key, _ in scope["headers"])
            and (endpoint := proxy_endpoint(scope)) is not None
        ):
            scope["app"] = self
            await fronts[endpoint](scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _short_ways(stack: ASGIApp) -> dict[ASGIApp, ServiceMiddleware]:
    """Each proxy endpoint behind the stack's own ServiceMiddleware; none when the stack holds a layer that is not
    known to pass proxied requests through."""
    layer: object = stack
    shared = None
    while not isinstance(layer, ProxyRoutesFirst):
        if isinstance(layer, ServiceMiddleware):
            shared = layer
        elif f"{type(layer).__module__}.{type(layer).__qualname__}" not in PASSED_THROUGH:
            return {}
        layer = getattr(layer, "app", None)
    if shared is None:
        return {}
    return {route.app: shared.around(route.app) for route in PROXY_ROUTES}


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
        app_class=GatewayApp,
    )
