"""schemathesis over the ai-runtime's OpenAPI (fake providers behind it, reset first: an earlier test's scripted
slowness would make every generated call wait), as a signed-in user and as an admin."""

import uuid

from tests.support import ThreadedServer, fuzz_every_operation
from tests.support.providers import Providers
from tests.support.users import identity_headers


def test_no_generated_request_is_a_server_error(runtime_server: ThreadedServer, providers: Providers) -> None:
    user_id = str(uuid.uuid4())
    fuzz_every_operation(runtime_server.url, lambda: identity_headers(user_id))


def test_no_generated_admin_request_is_a_server_error(runtime_server: ThreadedServer, providers: Providers) -> None:
    admin_id = str(uuid.uuid4())
    fuzz_every_operation(runtime_server.url, lambda: identity_headers(admin_id, "admin"))
