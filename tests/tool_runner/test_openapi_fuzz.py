"""schemathesis over the tool-runner's OpenAPI, as a signed-in user."""

import pytest

from tests.support import ThreadedServer, fuzz_every_operation
from tests.support.users import identity_headers, make_user


@pytest.mark.needs_sandbox
def test_no_generated_request_is_a_server_error(tool_server: ThreadedServer, database_url: str) -> None:
    user_id = make_user(database_url)
    fuzz_every_operation(tool_server.url, lambda: identity_headers(user_id))
