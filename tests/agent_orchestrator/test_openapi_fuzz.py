"""schemathesis over the agent-orchestrator's OpenAPI, as a signed-in user."""

from tests.support import fuzz_every_operation
from tests.support.platform import Platform
from tests.support.users import identity_headers, make_user


def test_no_generated_request_is_a_server_error(platform: Platform) -> None:
    user_id = make_user(platform.database_url)
    fuzz_every_operation(platform.orchestrator.url, lambda: identity_headers(user_id))
