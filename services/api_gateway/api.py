"""Gateway routes: aggregated health and the authenticated proxy to every service."""

import time
from importlib.resources import files
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.convertors import PathConvertor, StringConvertor
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from services.api_gateway.admission import client_ip
from services.api_gateway.authentication import authorize
from services.api_gateway.deps import GatewayState, Proxy, gateway_state
from services.api_gateway.idempotency import HEADER as IDEMPOTENCY_HEADER
from services.api_gateway.idempotency import Claim
from services.api_gateway.openapi import public_openapi
from services.api_gateway.proxy import UpstreamUnreached, request_headers
from services.api_gateway.ratelimit import HeldKeyChanged
from services.api_gateway.schemas import AggregatedHealthResponse
from services.api_gateway.upstreams import ROUTES, UpstreamRoute
from shared import metrics
from shared.app import VERSION, core_state
from shared.db import database_is_ready
from shared.disconnect import ClientClosedRequest
from shared.errors import (
    AppError,
    BadRequestError,
    NotFoundError,
    PayloadTooLargeError,
    UnauthorizedError,
    handled_error,
)
from shared.identity import Identity
from shared.redis import redis_is_ready

router = APIRouter()

PROXY_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
PROXY_METHOD_SET = frozenset({*PROXY_METHODS, "HEAD"})  # a route that takes GET takes HEAD
# Each service's own operations data: scraped from inside the network, never served to clients.
PRIVATE_UPSTREAM_PATHS = frozenset({"/metrics"})
ANONYMOUS_REFUSALS = frozenset({401, 429})


@router.get(
    "/health",
    response_model=AggregatedHealthResponse,
    tags=["probes"],
    summary="Health of the gateway and every service",
)
async def aggregated_health(request: Request, proxy: Proxy) -> AggregatedHealthResponse:
    core = core_state(request.app)
    own = {"database": await database_is_ready(core.engine), "redis": await redis_is_ready(core.redis)}
    return await proxy.aggregated_health(VERSION, own_checks=own)


@router.get("/openapi.json", include_in_schema=False)
async def openapi_document(request: Request, proxy: Proxy) -> JSONResponse:
    own = get_openapi(
        title=request.app.title,
        version=request.app.version,
        description=request.app.description,
        routes=request.app.routes,
    )
    return JSONResponse(public_openapi(own, await proxy.upstream_openapi()))


@router.get("/docs", include_in_schema=False)
async def api_docs(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title=f"{request.app.title}: API",
        swagger_js_url="/docs/swagger-ui-bundle.js",
        swagger_css_url="/docs/swagger-ui.css",
        swagger_favicon_url="/docs/favicon.png",
    )


# Swagger UI's files, from the PyPI package fastapi-offline: the docs page loads nothing from a CDN.
SWAGGER_UI = files("fastapi_offline") / "static"
SWAGGER_UI_TYPES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}


@router.get("/docs/{name}", include_in_schema=False)
async def api_docs_asset(name: Annotated[str, Path(max_length=64)]) -> Response:
    if name not in SWAGGER_UI_TYPES:
        raise NotFoundError("No such docs file")
    return Response(
        (SWAGGER_UI / name).read_bytes(),
        media_type=SWAGGER_UI_TYPES[name],
        headers={"Cache-Control": "public, max-age=86400"},
    )


async def proxy_to_service(request: Request, prefix: str, subpath: str) -> Response:
    state = gateway_state(request)
    route = ROUTES.get(prefix)
    if route is None:
        raise NotFoundError(f"No service is routed at /api/v1/{prefix}", details={"known": sorted(ROUTES)})
    subpath = canonical_subpath(subpath)
    upstream_path = route.upstream_path(subpath)
    if upstream_path in PRIVATE_UPSTREAM_PATHS or route.is_elsewhere(upstream_path):
        raise NotFoundError(f"No such path under /api/v1/{prefix}")
    scope_state = request.scope["state"]  # the dict itself: Starlette's State wrapper costs more than the lookups
    scope_state["metrics_route"] = f"/api/v1/{prefix}"
    started = time.perf_counter()
    identity = None
    status_code = 500
    ip = client_ip(request, state.proxy.settings)
    try:
        for fresh in (False, True):  # fresh: the API key was revoked or edited since this process read it
            identity = None
            if not route.is_public(request.method, subpath):
                identity = await authenticate_or_spend_ip_budget(state, request, ip=ip, fresh=fresh)
            if identity is None:  # anonymous: the IP's budget is spent before a refusal, so refusals are limited too
                decision = await state.admission.admit(ip, None)
                authorize(route, method=request.method, subpath=subpath, identity=None)
                break
            authorize(route, method=request.method, subpath=subpath, identity=identity)
            held = None if fresh else scope_state.get("held_api_key")
            try:
                decision = await state.admission.admit(ip, identity, held=held)
            except HeldKeyChanged:
                continue
            break
        else:  # unreachable: the fresh pass holds nothing in memory, so nothing of it can have changed
            raise RuntimeError("the caller was not admitted")
        extra_headers = decision.headers() if decision else {}
        claim = await claim_idempotency_key(state, request, route=route, subpath=subpath, identity=identity)
        if isinstance(claim, Response):  # the first request's answer, replayed
            status_code = claim.status_code
            return claim
        try:
            response = await state.proxy.forward(
                request,
                service=route.service,
                path=upstream_path,
                identity=identity,
                extra_headers=extra_headers,
            )
        except (UpstreamUnreached, PayloadTooLargeError, ClientClosedRequest):
            # The service never got the whole request, or stopped work whose caller left: a retry may act.
            if claim is not None:
                await state.idempotency.release(claim)
            raise
        if claim is not None:
            response = await state.idempotency.settle(claim, response)
        status_code = response.status_code
        return response
    except AppError as exc:
        status_code = exc.status_code
        raise
    finally:
        # Refused anonymous requests leave no row: a flood of them must not grow the database without bound.
        if identity is not None or status_code not in ANONYMOUS_REFUSALS:
            state.api_usage.record(usage_row(request, identity, status_code=status_code, started=started))


async def claim_idempotency_key(
    state: GatewayState, request: Request, *, route: UpstreamRoute, subpath: str, identity: Identity | None
) -> Claim | Response | None:
    """With an Idempotency-Key on a creating call: hold the key, or the first request's answer to replay."""
    key = request_headers(request.scope).get(IDEMPOTENCY_HEADER)
    if key is None or identity is None or not route.takes_idempotency_key(request.method, subpath):
        return None
    return await state.idempotency.claim(
        user_id=identity.user_id,
        key=key,
        method=request.method,
        path=route.upstream_path(subpath),
        body=await request.body(),
    )


def canonical_subpath(subpath: str) -> str:
    """The path the access rules judge is the path the upstream gets: dot segments (`runs/../agents`, which a server
    or client would resolve to another route than the one checked) are refused, and a trailing slash is dropped
    (the upstream would otherwise redirect with its own internal URL)."""
    if any(segment in (".", "..") for segment in subpath.split("/")):
        raise BadRequestError("Paths may not contain '.' or '..' segments", code="invalid_path")
    return subpath.rstrip("/")


async def authenticate_or_spend_ip_budget(
    state: GatewayState, request: Request, *, ip: str, fresh: bool
) -> Identity | None:
    """A failed authentication costs a token from the caller's IP bucket, so guessing keys or tokens is rate
    limited like any other anonymous traffic (and a flood of bad API keys cannot become a flood of queries)."""
    try:
        return await state.authenticator.authenticate(request, fresh=fresh)
    except UnauthorizedError as exc:
        metrics.AUTH_FAILURES.labels(exc.code).inc()
        await state.admission.admit(ip, None)
        raise


def usage_row(request: Request, identity: Identity | None, *, status_code: int, started: float) -> dict[str, object]:
    """One api_usage row; duration is time to the response head (streams may run on). Ids stay strings: COPY
    reads a uuid column from its text, and parsing each here cost more than the rest of the row."""
    scope = request.scope
    return {
        "user_id": identity.user_id if identity else None,
        "api_key_id": (identity.api_key_id or None) if identity else None,
        "method": scope["method"],
        "path": scope["path"][:512],  # not request.url.path: that builds a whole URL
        "status_code": status_code,
        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        "request_id": scope["state"]["request_id"],
    }


class ProxyEndpoint:
    """The proxy as a bare ASGI endpoint. FastAPI's request handling (dependency solving, body and response-model
    machinery, none of which a proxied request uses) cost about a fifth of the gateway's CPU per request. An error
    is answered by the app's own handlers, as FastAPI's exception middleware would, since ProxyRoutesFirst calls
    this endpoint from outside it.

    At /api/v1/{prefix}/..., the prefix names the route; at a root path (`prefix` given, `under` the part of the
    upstream path the route's pattern does not hold), the subpath is taken under it."""

    def __init__(self, *, prefix: str | None = None, under: str = "") -> None:
        self.prefix, self.under = prefix, under

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        params = scope["path_params"]
        request = Request(scope, receive)
        prefix = self.prefix or params["prefix"]
        try:
            response = await proxy_to_service(request, prefix, self.under + params.get("subpath", ""))
        except Exception as exc:
            response = await handled_error(request, exc)
        await response(scope, receive, send)


# Not in the gateway's own OpenAPI document: public_openapi() lists every service's operations under its prefix.
PROXY_ROUTES = [
    Route(path, ProxyEndpoint(), methods=PROXY_METHODS, include_in_schema=False)
    for path in ("/api/v1/{prefix}/{subpath:path}", "/api/v1/{prefix}")
]
# MCP hosts are given one URL, http://host:8000/mcp: the MCP server's (the orchestrator's /mcp), authenticated here.
PROXY_ROUTES.append(Route("/mcp", ProxyEndpoint(prefix="mcp"), methods=PROXY_METHODS, include_in_schema=False))
for _route in ROUTES.values():
    for _root in _route.root_paths:
        _endpoint = ProxyEndpoint(prefix=_route.prefix, under=_root.strip("/") + "/")
        PROXY_ROUTES.append(
            Route(f"{_root}{{subpath:path}}", _endpoint, methods=PROXY_METHODS, include_in_schema=False)
        )
# Also in the router: a method the proxy does not take is answered there (405 with Allow, or a CORS preflight).
router.routes.extend(PROXY_ROUTES)
if any(not isinstance(c, StringConvertor | PathConvertor) for r in PROXY_ROUTES for c in r.param_convertors.values()):
    raise TypeError("ProxyRoutesFirst passes path parameters on as the strings matched")


def proxy_endpoint(scope: Scope) -> ASGIApp | None:
    """The proxy's endpoint for an HTTP request it takes, with the path parameters put in the scope; None for any
    other. Served at the root, as the gateway is, a path is matched as Route.matches would (its parameters are plain
    strings); under a root_path, the router's own matching is left to do it."""
    if scope["method"] in PROXY_METHOD_SET and not scope.get("root_path"):
        path = scope["path"]
        for route in PROXY_ROUTES:
            if (match := route.path_regex.match(path)) is not None:
                scope["path_params"] = match.groupdict()
                return route.app
    return None


class ProxyRoutesFirst:
    """Sends proxied requests straight to their endpoint, ahead of FastAPI's router, exception middleware and exit
    stack, which a proxied request does not use: they cost about a tenth of the gateway's CPU per request (the
    router alone tried a dozen routes before these). Installed innermost, so that a proxied request still passes
    every shared middleware (request ids, body limit, metrics, CORS) and the server error middleware."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (endpoint := proxy_endpoint(scope)) is not None:
            await endpoint(scope, receive, send)
            return
        await self.app(scope, receive, send)
