"""Planning through the real ai-runtime: scripted provider answers for the paths, the local model for real."""

import json
from collections.abc import Iterator

import httpx
import pytest

from services.ai_runtime.main import create_app as create_runtime
from services.task_planner.config import TaskPlannerSettings
from services.task_planner.main import create_app as create_planner
from tests.support import assert_error, fuzz_every_operation, serving
from tests.support.providers import Providers
from tests.support.settings import common_settings, runtime_settings
from tests.support.users import identity_headers, make_user

GOOD = {
    "tasks": [
        {
            "id": "write",
            "name": "Write fib",
            "description": "Write fib(n)",
            "agent_role": "executor",
            "tool": None,
            "depends_on": [],
        },
        {
            "id": "test",
            "name": "Test fib",
            "description": "Run fib on 0..10",
            "agent_role": "executor",
            "tool": "execute_python",
            "depends_on": ["write"],
        },
        {
            "id": "remember",
            "name": "Store result",
            "description": "Store it",
            "agent_role": "executor",
            "tool": "memory_store",
            "depends_on": ["test"],
        },
    ],
    "risks": ["recursion depth"],
}
CYCLIC = {
    "tasks": [
        {"id": "a", "name": "A", "agent_role": "executor", "depends_on": ["b"]},
        {"id": "b", "name": "B", "agent_role": "executor", "depends_on": ["a"]},
    ]
}


@pytest.fixture(scope="module")
def planner(database_url: str, redis_url: str, providers: Providers) -> Iterator[str]:
    settings = runtime_settings(database_url, redis_url, providers, role_models={"planner": ["gpt-4o-mini"]})
    with serving(create_runtime(settings)) as runtime:
        planner_settings = TaskPlannerSettings.model_validate(
            {**common_settings(database_url, redis_url), "ai_runtime_url": runtime.url}
        )
        with serving(create_planner(planner_settings)) as server:
            yield server.url


@pytest.fixture
def client(planner: str, database_url: str) -> Iterator[httpx.Client]:
    user_id = make_user(database_url)
    with httpx.Client(base_url=planner, timeout=120, headers=identity_headers(user_id)) as c:
        yield c


def test_plan_is_validated_ordered_and_stored(client: httpx.Client, providers: Providers) -> None:
    providers.openai_app.state.replies = [json.dumps(GOOD)]
    response = client.post("/plans", json={"goal": "Fibonacci numbers, tested and remembered", "max_tasks": 5})
    assert response.status_code == 201, response.text
    plan = response.json()
    assert [t["id"] for t in plan["tasks"]] == ["write", "test", "remember"]
    assert plan["execution_order"] == [["write"], ["test"], ["remember"]]
    assert plan["prompt_version"] == "planner/v1" and plan["model_used"] == "gpt-4o-mini" and plan["attempts"] == 1
    assert plan["tasks"][1]["fallback_strategy"] == "retry" and plan["risks"] == ["recursion depth"]
    sent = providers.openai_app.state.requests[0]["body"]
    assert sent["response_format"]["type"] == "json_schema"  # schema-constrained output
    assert client.get(f"/plans/{plan['id']}").json()["tasks"] == plan["tasks"]


def test_invalid_plan_is_re_asked_once_with_the_errors(client: httpx.Client, providers: Providers) -> None:
    providers.openai_app.state.replies = [json.dumps(CYCLIC), json.dumps(GOOD)]
    plan = client.post("/plans", json={"goal": "Fibonacci numbers"}).json()
    assert plan["attempts"] == 2 and len(plan["tasks"]) == 3
    retry_prompt = providers.openai_app.state.requests[1]["body"]["messages"][-1]["content"]
    assert "dependency cycle" in retry_prompt


def test_never_accepts_an_invalid_plan_and_falls_back_to_a_minimal_one(
    client: httpx.Client, providers: Providers
) -> None:
    bad_tool = {"tasks": [{"id": "x", "name": "X", "agent_role": "executor", "tool": "format_disk", "depends_on": []}]}
    providers.openai_app.state.replies = [json.dumps(CYCLIC), json.dumps(bad_tool)]
    plan = client.post("/plans", json={"goal": "anything at all"}).json()
    assert [t["id"] for t in plan["tasks"]] == ["do"] and plan["tasks"][0]["description"] == "anything at all"
    assert any("format_disk" in reason for reason in plan["fallback_reasons"])
    providers.openai_app.state.replies = ["not json at all", "{}"]
    plan = client.post("/plans", json={"goal": "anything at all"}).json()
    assert [t["id"] for t in plan["tasks"]] == ["do"] and plan["fallback_reasons"] == ["the plan has no tasks"]


def _named(*names: str, tool: str | None = None) -> dict:
    tasks = [
        {"id": f"t{n}", "name": name, "description": f"Step {n}: {name}", "agent_role": "executor", "tool": tool}
        for n, name in enumerate(names)
    ]
    return {"tasks": tasks, "risks": []}


def test_a_plan_of_six_tasks_all_named_alike_is_asked_again_then_replaced(
    client: httpx.Client, providers: Providers
) -> None:
    degenerate = _named(*["Fibonacci"] * 6)
    providers.openai_app.state.replies = [json.dumps(degenerate), json.dumps(degenerate)]
    goal = "Write a Python function that returns the n-th Fibonacci number and test it for n=10"
    plan = client.post("/plans", json={"goal": goal, "max_tasks": 6}).json()
    retry_prompt = providers.openai_app.state.requests[1]["body"]["messages"][-1]["content"]
    assert "distinct names" in retry_prompt and "no task runs it" in retry_prompt
    assert [(t["id"], t["tool"]) for t in plan["tasks"]] == [("write", None), ("run", "execute_python")]
    assert plan["execution_order"] == [["write"], ["run"]] and plan["attempts"] == 2


def test_a_coding_goal_gets_a_step_that_runs_the_code(client: httpx.Client, providers: Providers) -> None:
    talk_only = _named("Think about Fibonacci", "Describe the function")
    providers.openai_app.state.replies = [json.dumps(talk_only), json.dumps(GOOD)]
    plan = client.post("/plans", json={"goal": "Implement a Fibonacci function in Python"}).json()
    assert plan["attempts"] == 2 and plan["fallback_reasons"] is None
    assert any(t["tool"] == "execute_python" for t in plan["tasks"])
    providers.openai_app.state.replies = [json.dumps(talk_only)]
    plan = client.post("/plans", json={"goal": "Summarise what I know about Fibonacci"}).json()
    assert plan["attempts"] == 1  # not a coding goal: no code to run


def test_replan_keeps_what_succeeded(client: httpx.Client, providers: Providers) -> None:
    providers.openai_app.state.replies = [json.dumps(GOOD)]
    plan = client.post("/plans", json={"goal": "Fibonacci numbers"}).json()
    new_work = {
        "tasks": [
            {
                "id": "test_again",
                "name": "Test iteratively",
                "description": "Run fib iteratively on 0..10",
                "agent_role": "executor",
                "tool": "execute_python",
                "depends_on": ["write"],
            },
            {
                "id": "remember",
                "name": "Store result",
                "description": "Store what the test printed",
                "agent_role": "executor",
                "tool": "memory_store",
                "depends_on": ["test_again"],
            },
        ]
    }
    providers.openai_app.state.replies = [json.dumps(new_work)]
    replanned = client.post(
        "/plans/replan",
        json={
            "plan_id": plan["id"],
            "failed_task_id": "test",
            "error": "RecursionError",
            "succeeded_task_ids": ["write"],
        },
    ).json()
    assert replanned["parent_plan_id"] == plan["id"]
    assert [(t["id"], t["status"]) for t in replanned["tasks"]] == [
        ("write", "succeeded"),
        ("test_again", "pending"),
        ("remember", "pending"),
    ]
    assert replanned["execution_order"] == [["test_again"], ["remember"]]
    assert_error(
        client.post("/plans/replan", json={"plan_id": plan["id"], "failed_task_id": "nope", "error": "x"}),
        400,
        "unknown_task",
    )


def test_bad_input_and_isolation(client: httpx.Client, planner: str, database_url: str, providers: Providers) -> None:
    assert_error(client.post("/plans", json={"goal": ""}), 422)
    assert_error(client.post("/plans", json={"goal": "ok goal", "max_tasks": 0}), 422)
    assert_error(client.get("/plans/not-a-uuid"), 422)
    providers.openai_app.state.replies = [json.dumps(GOOD)]
    plan_id = client.post("/plans", json={"goal": "private plan"}).json()["id"]
    other = identity_headers(make_user(database_url))
    assert_error(httpx.get(f"{planner}/plans/{plan_id}", headers=other), 404)


def test_the_local_model_plans_under_the_schema(database_url: str, redis_url: str) -> None:
    settings = runtime_settings(database_url, redis_url, None, role_models={"planner": ["smollm2-135m-instruct"]})
    with serving(create_runtime(settings)) as runtime:
        planner_settings = TaskPlannerSettings.model_validate(
            {**common_settings(database_url, redis_url), "ai_runtime_url": runtime.url}
        )
        with serving(create_planner(planner_settings)) as server:
            response = httpx.post(
                f"{server.url}/plans",
                headers=identity_headers(make_user(database_url)),
                timeout=300,
                json={"goal": "Write a Python function for Fibonacci numbers and test it", "max_tasks": 2},
            )
    # A 135M model may or may not plan well, but it can only ever yield a validated plan or a clear 422.
    assert response.status_code in (201, 422), response.text
    if response.status_code == 201:
        plan = response.json()
        assert plan["model_used"] == "smollm2-135m-instruct" and 1 <= len(plan["tasks"]) <= 2


def test_no_generated_request_is_a_server_error(planner: str, database_url: str) -> None:
    """schemathesis over the task-planner's OpenAPI, as a signed-in user."""
    user_id = make_user(database_url)
    fuzz_every_operation(planner, lambda: identity_headers(user_id))
