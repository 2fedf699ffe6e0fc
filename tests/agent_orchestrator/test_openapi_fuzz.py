"""schemathesis over the agent-orchestrator's OpenAPI, as a signed-in user."""

from tests.ai_runtime.conftest import identity_headers
from tests.memory_service.conftest import make_user
from tests.running_services import Platform
from tests.support import fuzz_every_operation


def test_no_generated_request_is_a_server_error(platform: Platform) -> None:
    user_id = make_user(platform.database_url)
    fuzz_every_operation(platform.orchestrator.url, lambda: identity_headers(user_id))
