"""One OpenAPI document for the whole public API: the gateway's own operations and every service's under its
public path."""

import json
from collections.abc import Mapping
from typing import Any

from services.api_gateway.upstreams import ROUTES, UpstreamRoute
from shared.services import ServiceName

PROBE_PATHS = frozenset({"/health", "/ready", "/metrics"})
SECURITY_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "An access token"},
    "apiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "A CognitionOS API key"},
}


def public_openapi(own: dict[str, Any], upstream: Mapping[ServiceName, dict[str, Any]]) -> dict[str, Any]:
    """One OpenAPI document for the whole public API: the gateway's own operations, then every service's under its
    public prefix (`/memories/{id}` of the memory-service is `/api/v1/memories/{id}`), with their schemas named
    `<service>.<Schema>` so equal names from two services never collide, and the two ways to authenticate."""
    document = json.loads(json.dumps(own))
    document.setdefault("paths", {})
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    components["securitySchemes"] = SECURITY_SCHEMES
    document["security"] = [{"bearerAuth": []}, {"apiKeyAuth": []}]
    for route in ROUTES.values():
        spec = upstream.get(route.service)
        if spec is None:
            continue
        renamed = json.loads(
            json.dumps(spec).replace('"#/components/schemas/', f'"#/components/schemas/{route.service}.')
        )
        for name, schema in renamed.get("components", {}).get("schemas", {}).items():
            schemas[f"{route.service}.{name}"] = schema
        for path, operations in renamed.get("paths", {}).items():
            public_path = _public_path(route, path)
            if public_path is None:
                continue
            for method, operation in operations.items():
                operation["tags"] = [route.prefix]
                operation["operationId"] = f"{route.prefix}_{operation.get('operationId', method)}"
                if route.is_public(method.upper(), public_path.removeprefix(f"/api/v1/{route.prefix}/")):
                    operation["security"] = []
            document["paths"][public_path] = operations
    return document


def _public_path(route: UpstreamRoute, path: str) -> str | None:
    if path in PROBE_PATHS or not path.startswith(route.upstream_prefix) or route.is_elsewhere(path):
        return None
    if path.startswith(route.root_paths):
        return path  # served at the gateway's root as it is (/v1/chat/completions)
    rest = path[len(route.upstream_prefix) :]
    if route.upstream_prefix and rest and not rest.startswith("/"):
        return None  # /memoriesX is not under /memories
    return f"/api/v1/{route.prefix}{rest}"
