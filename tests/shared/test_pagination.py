"""One list style across the API: every list endpoint answers {items, next_cursor} and takes ?cursor= and ?limit=."""

import pytest

from tests.support.settings import service_app

LISTS = [
    ("auth_service", "/users"),
    ("auth_service", "/api-keys"),
    ("agent_orchestrator", "/runs"),
    ("agent_orchestrator", "/agents"),
    ("agent_orchestrator", "/conversations"),
    ("agent_orchestrator", "/conversations/{conversation_id}/messages"),
    ("memory_service", "/memories"),
]


def _resolve(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


@pytest.mark.parametrize(("package", "path"), LISTS, ids=[f"{p}:{path}" for p, path in LISTS])
def test_every_list_endpoint_has_the_same_cursor_envelope(
    package: str, path: str, database_url: str, redis_url: str
) -> None:
    document = service_app(package, database_url, redis_url).openapi()
    operation = document["paths"][path]["get"]
    schema = _resolve(document, operation["responses"]["200"]["content"]["application/json"]["schema"])
    assert set(schema["properties"]) == {"items", "next_cursor"} and schema["properties"]["items"]["type"] == "array"
    assert {"cursor", "limit"} <= {p["name"] for p in operation["parameters"]}
