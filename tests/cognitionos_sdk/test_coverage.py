"""The SDK covers the public API: every operation the gateway publishes has an SDK method, and every operation the
SDK claims exists. The OpenAI- and Anthropic-compatible /v1 is left to those vendors' official SDKs."""

import httpx

from cognitionos_sdk.calls import OPERATIONS
from tests.support import ThreadedServer

LEFT_TO_OTHERS = ("/v1/",)  # the official openai and anthropic SDKs
PROBES = {("GET", "/ready")}  # for orchestrators' health checks, not for programs


def test_every_public_operation_has_an_sdk_method_and_no_other(platform_gateway: ThreadedServer) -> None:
    paths = httpx.get(f"{platform_gateway.url}/openapi.json").json()["paths"]
    published = {
        (method.upper(), path)
        for path, operations in paths.items()
        if not path.startswith(LEFT_TO_OTHERS)
        for method in operations
    } - PROBES
    assert sorted(published - OPERATIONS) == []  # a public operation the SDK cannot call
    assert sorted(OPERATIONS - published) == []  # an SDK method for an operation that does not exist
