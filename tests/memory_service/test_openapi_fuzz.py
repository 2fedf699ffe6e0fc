"""schemathesis over the memory-service's OpenAPI, as a signed-in user: no input is a server error, and every
documented response matches its schema."""

from tests.support import ThreadedServer, fuzz_every_operation
from tests.support.users import identity_headers, make_user


def test_no_generated_request_is_a_server_error(memory_server: ThreadedServer, database_url: str) -> None:
    user_id = make_user(database_url)
    fuzz_every_operation(memory_server.url, lambda: identity_headers(user_id))
