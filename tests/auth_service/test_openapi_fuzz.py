"""schemathesis over the auth-service's OpenAPI, anonymous and as an admin."""

import httpx

from tests.support import fuzz_every_operation
from tests.support.stack import Stack


def test_no_generated_request_is_a_server_error(stack: Stack, admin_headers: dict[str, str]) -> None:
    fuzz_every_operation(stack.auth.url, dict)
    fuzz_every_operation(stack.auth.url, lambda: admin_headers)


def test_the_gateway_answers_generated_requests_without_server_errors(
    gateway: httpx.Client, admin_headers: dict[str, str]
) -> None:
    fuzz_every_operation(str(gateway.base_url).rstrip("/"), lambda: admin_headers)
