"""The web console, served by the gateway at `/`: three static files, no build step, nothing from a CDN.

The console signs in like any API client (tokens or an API key in request headers, never cookies) and calls the
same /api/v1 routes, so it adds no endpoint that could be driven from another site.
"""

from importlib.resources import files
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter
from fastapi import Path as PathParameter
from fastapi.responses import Response

from shared.errors import NotFoundError

router = APIRouter(include_in_schema=False)

_FOLDER = files("services.api_gateway") / "console"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# The page, its stylesheet and icon, and its ES modules (app.js routes; the others are imported from it).
ASSETS = {item.name: item.read_bytes() for item in _FOLDER.iterdir() if Path(item.name).suffix in _TYPES}
SECURITY_HEADERS = {
    # Only this origin's script, style and API; no framing (clickjacking), no inline script. Images also from blob:
    # URLs: a run's image files, fetched with the session's credentials, are previewed from them.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _asset(name: str) -> Response:
    media_type = _TYPES[name[name.rindex(".") :]]
    return Response(ASSETS[name], media_type=media_type, headers=SECURITY_HEADERS)


@router.get("/")
async def console_page() -> Response:
    return _asset("index.html")


@router.get("/favicon.ico")
async def favicon() -> Response:
    """Browsers ask for it whatever the page says; the SVG serves (every current browser takes one)."""
    return _asset("favicon.svg")


@router.get("/console/{name}")
async def console_asset(name: Annotated[str, PathParameter(max_length=64)]) -> Response:
    if name not in ASSETS or name == "index.html":
        raise NotFoundError("No such console file")
    return _asset(name)
