"""Templates: named, versioned run configurations with typed parameters; a hand-written DAG runs without planning."""

import uuid
from typing import Any

import pytest

from tests.support import assert_error
from tests.support.platform import Platform, RoleScript, RunsClient, task
from tests.support.users import make_user, signed_client

DIGEST = {
    "name": "city digest",
    "goal": "Write a digest of the weather in {{city}} for the next {{days}} days",
    "parameters": [
        {"name": "city", "type": "string"},
        {"name": "days", "type": "integer", "default": 3},
    ],
}


def create(runs: RunsClient, body: dict[str, Any]) -> dict[str, Any]:
    made = runs.http.post(runs.url("/templates"), json=body)
    assert made.status_code == 201, made.text
    return made.json()


def start(runs: RunsClient, template_id: str, **body: Any) -> dict[str, Any]:
    started = runs.http.post(runs.url(f"/templates/{template_id}/runs"), json=body)
    assert started.status_code == 202, started.text
    return started.json()


def test_parameters_are_substituted_and_type_checked(runs: RunsClient, script: RoleScript) -> None:
    template = create(runs, DIGEST)
    assert template["version"] == 1 and template["spec"]["goal"] == DIGEST["goal"]
    script.add("planner", {"tasks": [task("write", tool="noop")], "risks": []})
    run = start(runs, template["id"], parameters={"city": "Lyon"})
    assert run["goal"] == "Write a digest of the weather in Lyon for the next 3 days"
    assert run["template_id"] == template["id"] and run["template_version"] == 1
    url = runs.url(f"/templates/{template['id']}/runs")
    assert_error(runs.http.post(url, json={"parameters": {}}), 422, "missing_parameter")
    assert_error(runs.http.post(url, json={"parameters": {"city": "Lyon", "days": "3"}}), 422, "invalid_parameter")
    assert_error(runs.http.post(url, json={"parameters": {"city": "Lyon", "days": True}}), 422, "invalid_parameter")
    assert_error(runs.http.post(url, json={"parameters": {"city": 7}}), 422, "invalid_parameter")
    assert_error(runs.http.post(url, json={"parameters": {"city": "Lyon", "mood": "x"}}), 422, "unknown_parameter")


def test_a_new_version_does_not_change_runs_already_made(runs: RunsClient, script: RoleScript) -> None:
    template = create(runs, {**DIGEST, "name": "versioned"})
    first = runs.wait(start(runs, template["id"], parameters={"city": "Nice"})["id"])
    changed = runs.http.put(
        runs.url(f"/templates/{template['id']}"),
        json={**{k: v for k, v in DIGEST.items() if k != "name"}, "goal": "Summarise {{city}} in {{days}} lines"},
    )
    assert changed.status_code == 200 and changed.json()["version"] == 2
    second = start(runs, template["id"], parameters={"city": "Nice", "days": 5})
    assert second["goal"] == "Summarise Nice in 5 lines" and second["template_version"] == 2
    again = runs.get(first["id"])
    assert again["goal"].startswith("Write a digest of the weather in Nice") and again["template_version"] == 1
    old = runs.http.get(runs.url(f"/templates/{template['id']}"), params={"version": 1}).json()
    assert old["version"] == 1 and old["latest_version"] == 2 and old["spec"]["goal"] == DIGEST["goal"]
    pinned = start(runs, template["id"], parameters={"city": "Nice"}, version=1)
    assert pinned["template_version"] == 1 and pinned["goal"].startswith("Write a digest")
    for started in (second, pinned):  # ended here: their planning calls must not land in the next test's count
        runs.wait(started["id"])


def test_a_hand_written_dag_runs_with_no_planning_call(runs: RunsClient, script: RoleScript) -> None:
    plan = [
        task("fetch", tool="noop", name="Fetch {{city}}", inputs={"city": "{{city}}"}),
        task("report", tool="noop", depends_on=("fetch",), name="Report on {{city}}"),
    ]
    template = create(
        runs,
        {
            "name": "fixed dag",
            "goal": "Report on {{city}}",
            "parameters": [{"name": "city"}],
            "plan": plan,
            "summarize": False,
        },
    )
    planned_before = len(script.prompts.get("planner", []))
    done = runs.wait(start(runs, template["id"], parameters={"city": "Brest"})["id"])
    assert done["status"] == "succeeded", done
    tasks = {t["task_key"]: t for t in done["tasks"]}
    assert set(tasks) == {"fetch", "report"} and tasks["fetch"]["inputs"] == {"city": "Brest"}
    assert tasks["report"]["name"] == "Report on Brest"
    assert len(script.prompts.get("planner", [])) == planned_before


def test_another_user_gets_404_everywhere(runs: RunsClient, platform: Platform) -> None:
    template = create(runs, {**DIGEST, "name": "private"})
    with signed_client(make_user(platform.database_url)) as stranger:
        base = runs.url(f"/templates/{template['id']}")
        assert_error(stranger.get(base), 404, "template_not_found")
        assert_error(stranger.put(base, json={"goal": "mine now"}), 404, "template_not_found")
        assert_error(stranger.delete(base), 404, "template_not_found")
        assert_error(stranger.post(f"{base}/runs", json={"parameters": {"city": "x"}}), 404, "template_not_found")
        assert stranger.get(runs.url("/templates")).json()["items"] == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"goal": "Hello {{name}}"}, "undeclared_parameter"),
        ({"goal": "Go on", "plan": [task("a", tool="noop", name="About {{topic}}")]}, "undeclared_parameter"),
        ({"goal": "Go there", "parameters": [{"name": "n", "type": "integer", "default": "x"}]}, "invalid_parameter"),
        ({"goal": "Go there", "parameters": [{"name": "n"}, {"name": "n"}]}, "duplicate_parameter"),
        (
            {"goal": "Go there", "plan": [task("a", tool="noop", depends_on=("b",)), task("b", depends_on=("a",))]},
            "invalid_plan",
        ),
    ],
)
def test_bad_templates_are_422(runs: RunsClient, body: dict[str, Any], code: str) -> None:
    assert_error(
        runs.http.post(runs.url("/templates"), json={"name": f"bad {uuid.uuid4().hex[:6]}", **body}), 422, code
    )


def test_a_name_is_taken_once_and_a_missing_version_is_404(runs: RunsClient) -> None:
    template = create(runs, {**DIGEST, "name": "once"})
    assert_error(runs.http.post(runs.url("/templates"), json={**DIGEST, "name": "once"}), 409, "template_exists")
    missing = runs.http.get(runs.url(f"/templates/{template['id']}"), params={"version": 9})
    assert_error(missing, 404, "version_not_found")
    assert runs.http.delete(runs.url(f"/templates/{template['id']}")).status_code == 204
    assert_error(runs.http.get(runs.url(f"/templates/{template['id']}")), 404)
