"""A contract test per cross-service hop: the producing service's published OpenAPI for the route names exactly the
fields of the contract model (shared/contracts) that the typed client sends and parses."""

from typing import Any

import pytest
from pydantic import BaseModel

from shared.contracts.ai import (
    BudgetRequest,
    BudgetResponse,
    CompleteRequest,
    CompleteResponse,
    EmbedRequest,
    EmbedResponse,
)
from shared.contracts.memory import MemoryCreate, MemoryResponse, MemoryUpdate, RetrievedMemory, RetrieveRequest
from shared.contracts.plans import PlanRequest, PlanResponse, ReplanRequest
from shared.contracts.tools import ExecuteRequest, ExecuteResponse, ToolDescription
from tests.support.settings import service_app

HOPS: list[tuple[str, str, str, type[BaseModel] | None, type[BaseModel]]] = [
    ("ai_runtime", "post", "/complete", CompleteRequest, CompleteResponse),
    ("ai_runtime", "post", "/embed", EmbedRequest, EmbedResponse),
    ("ai_runtime", "put", "/admin/budgets/{scope}/{scope_id}", BudgetRequest, BudgetResponse),
    ("memory_service", "post", "/memories", MemoryCreate, MemoryResponse),
    ("memory_service", "put", "/memories/{memory_id}", MemoryUpdate, MemoryResponse),
    ("memory_service", "post", "/memories/retrieve", RetrieveRequest, RetrievedMemory),
    ("tool_runner", "get", "/tools", None, ToolDescription),
    ("tool_runner", "post", "/tools/execute", ExecuteRequest, ExecuteResponse),
    ("task_planner", "post", "/plans", PlanRequest, PlanResponse),
    ("task_planner", "post", "/plans/replan", ReplanRequest, PlanResponse),
]


def _component(document: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    name = reference["$ref"].rsplit("/", 1)[1]
    return document["components"]["schemas"][name]


def _fields(model: type[BaseModel]) -> tuple[set[str], set[str]]:
    schema = model.model_json_schema()
    return set(schema["properties"]), set(schema.get("required", []))


@pytest.mark.parametrize(
    ("package", "method", "path", "request_model", "response_model"), HOPS, ids=[f"{h[1]} {h[2]}" for h in HOPS]
)
def test_the_route_publishes_the_contract(
    package: str,
    method: str,
    path: str,
    request_model: type[BaseModel] | None,
    response_model: type[BaseModel],
    database_url: str,
    redis_url: str,
) -> None:
    document = service_app(package, database_url, redis_url).openapi()
    operation = document["paths"][path][method]
    if request_model is not None:
        body = _component(document, operation["requestBody"]["content"]["application/json"]["schema"])
        assert (set(body["properties"]), set(body.get("required", []))) == _fields(request_model)
    answered = next(operation["responses"][code] for code in ("200", "201") if code in operation["responses"])
    schema = answered["content"]["application/json"]["schema"]
    answer = _component(document, schema.get("items", schema))  # a list answers with its items' schema
    assert set(answer["properties"]) == _fields(response_model)[0]
