"""A run whose plan uses a tool of the user's MCP server: the call waits for approval (MCP tools are gated by
default), then runs through the tool-runner and its result flows on like any task's."""

import json

from tests.support import serving
from tests.support.mcp_server import create_mcp_test_app
from tests.support.platform import RoleScript, RunsClient, task


def test_a_run_uses_the_users_mcp_tool_once_approved(runs: RunsClient, script: RoleScript) -> None:
    with serving(create_mcp_test_app()) as mcp_server:
        registered = runs.http.post(
            f"{runs.platform.tools.url}/tools/mcp-servers", json={"name": "test", "url": f"{mcp_server.url}/mcp"}
        )
        assert registered.status_code == 201, registered.text
        tasks = [
            task("sum", tool="mcp__test__add", inputs={"a": 20, "b": 22}),
            task("show", tool="noop", depends_on=("sum",)),
        ]
        started = runs.start(plan_id=runs.plan(tasks, script), summarize=False)
        waiting = runs.wait(started["id"], until=lambda r: r["status"] == "waiting")
        (approval,) = runs.http.get(runs.url(f"/runs/{waiting['id']}/approvals")).json()["items"]
        assert approval["tool"] == "mcp__test__add" and approval["parameters"] == {"a": 20, "b": 22}
        decided = runs.http.post(runs.url(f"/approvals/{approval['id']}/decision"), json={"decision": "approve"})
        assert decided.status_code == 200, decided.text
        done = runs.wait(started["id"])
    assert done["status"] == "succeeded", done
    summed = {t["task_key"]: t for t in done["tasks"]}["sum"]
    assert summed["output"] == {"result": "42", "structured": {"result": 42}}


def test_the_planner_offers_the_users_mcp_tools(runs: RunsClient, script: RoleScript) -> None:
    with serving(create_mcp_test_app()) as mcp_server:
        registered = runs.http.post(
            f"{runs.platform.tools.url}/tools/mcp-servers", json={"name": "calc", "url": f"{mcp_server.url}/mcp"}
        )
        assert registered.status_code == 201, registered.text
        runs.plan([task("sum", tool="mcp__calc__add", inputs={"a": 1, "b": 2})], script)
    asked = script.requests["planner"][-1]
    offered = asked["response_format"]["json_schema"]["schema"]["properties"]["tasks"]["items"]["properties"]["tool"]
    assert {"mcp__calc__add", "mcp__calc__slow", "execute_python", None} <= set(offered["enum"])
    assert "mcp__calc__add: Add two integers." in script.prompts["planner"][-1]


def test_without_mcp_tools_the_planner_asks_as_before(runs: RunsClient, script: RoleScript) -> None:
    runs.plan([task("only", tool="noop")], script)
    asked = script.requests["planner"][-1]
    assert "mcp__" not in json.dumps(asked)
