"""One API at the gateway: /openapi.json and /docs describe every service under its public prefix."""

import httpx
import schemathesis

from tests.support import ThreadedServer
from tests.support.stack import Stack


def test_the_gateway_publishes_every_services_operations_under_their_public_paths(stack: Stack) -> None:
    document = httpx.get(f"{stack.gateway.url}/openapi.json").json()
    paths = document["paths"]
    assert {"/api/v1/auth/login", "/api/v1/auth/me", "/api/v1/auth/api-keys", "/health"} <= set(paths)
    assert not any(path.startswith("/api/v1/{") for path in paths)  # the catch-all proxy route is not an API
    assert paths["/api/v1/auth/login"]["post"]["security"] == []  # public
    assert "security" not in paths["/api/v1/auth/me"]["get"]  # the document's default: a token or a key
    assert document["security"] == [{"bearerAuth": []}, {"apiKeyAuth": []}]
    assert set(document["components"]["securitySchemes"]) == {"bearerAuth", "apiKeyAuth"}
    schemas = document["components"]["schemas"]
    assert "auth-service.UserResponse" in schemas
    referenced = str(paths["/api/v1/auth/me"])
    assert "#/components/schemas/auth-service.UserResponse" in referenced
    schemathesis.openapi.from_dict(document)  # a document the OpenAPI tooling loads


def test_the_gateway_docs_page_reads_that_document(stack: Stack) -> None:
    page = httpx.get(f"{stack.gateway.url}/docs")
    assert page.status_code == 200 and "/openapi.json" in page.text


def test_the_docs_page_loads_nothing_from_a_cdn(stack: Stack) -> None:
    page = httpx.get(f"{stack.gateway.url}/docs").text
    assert "cdn.jsdelivr.net" not in page and "https://" not in page
    for asset, kind in (("swagger-ui-bundle.js", "javascript"), ("swagger-ui.css", "css"), ("favicon.png", "png")):
        assert f"/docs/{asset}" in page
        served = httpx.get(f"{stack.gateway.url}/docs/{asset}")
        assert served.status_code == 200 and kind in served.headers["content-type"] and len(served.content) > 1000
    assert httpx.get(f"{stack.gateway.url}/docs/..%2Fpyvenv.cfg").status_code == 404


def test_the_tools_and_the_compatible_apis_have_plain_public_paths(platform_gateway: ThreadedServer) -> None:
    """The tool list was published as /api/v1/tools/tools, the compatible APIs as /api/v1/ai/v1/..."""
    paths = httpx.get(f"{platform_gateway.url}/openapi.json").json()["paths"]
    assert {"/api/v1/tools", "/api/v1/tools/execute", "/v1/chat/completions", "/v1/messages"} <= set(paths)
    assert {"/api/v1/ai/complete", "/api/v1/ai/models"} <= set(paths)
    assert not any(path.startswith(("/api/v1/tools/tools", "/api/v1/ai/v1/")) for path in paths)
