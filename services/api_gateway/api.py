"""Gateway routes: aggregated health and the authenticated proxy to every service."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from starlette.responses import StreamingResponse

from services.api_gateway.routes import ROUTES
from services.api_gateway.schemas import AggregatedHealthResponse
from services.api_gateway.proxy import UpstreamProxy
from services.api_gateway.service import Admission, Authenticator, authorize, client_ip
from shared.app import VERSION
from shared.errors import NotFoundError

router = APIRouter()

PROXY_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def get_proxy(request: Request) -> UpstreamProxy:
    return request.app.state.proxy


Proxy = Annotated[UpstreamProxy, Depends(get_proxy)]


@router.get("/health", response_model=AggregatedHealthResponse, tags=["probes"], summary="Health of the gateway and every service")
async def aggregated_health(proxy: Proxy) -> AggregatedHealthResponse:
    return await proxy.aggregated_health(VERSION)


async def proxy_to_service(
    request: Request,
    prefix: Annotated[str, Path(description="Service prefix", examples=["auth"])],
    proxy: Proxy,
    subpath: str = "",
) -> StreamingResponse:
    route = ROUTES.get(prefix)
    if route is None:
        raise NotFoundError(f"No service is routed at /api/v1/{prefix}", details={"known": sorted(ROUTES)})
    authenticator: Authenticator = request.app.state.authenticator
    admission: Admission = request.app.state.admission
    identity = None if route.is_public(request.method, subpath) else await authenticator.authenticate(request)
    authorize(route, request.method, subpath, identity)
    decision = await admission.admit(client_ip(request, proxy.settings), identity)
    extra_headers = decision.headers() if decision else {}
    return await proxy.forward(request, route.service, route.upstream_path(subpath), identity, extra_headers)


PROXY_DESCRIPTION = (
    "Routes `auth` to auth-service, `plans` to task-planner, `runs` and `agents` to agent-orchestrator, "
    "`memories` to memory-service, `ai` to ai-runtime and `tools` to tool-runner. Requires a bearer JWT or an "
    "API key except for auth register/login/refresh. Rate limited per user and per IP (429 + Retry-After); "
    "503 when a service is down or its circuit is open, 504 when it times out. Bodies stream both ways (SSE)."
)

for _method in PROXY_METHODS:
    router.add_api_route(
        "/api/v1/{prefix}/{subpath:path}",
        proxy_to_service,
        methods=[_method],
        tags=["proxy"],
        summary=f"{_method} through the authenticated proxy",
        description=PROXY_DESCRIPTION,
        response_class=StreamingResponse,
        operation_id=f"proxy_{_method.lower()}",
    )
    router.add_api_route("/api/v1/{prefix}", proxy_to_service, methods=[_method], include_in_schema=False)
