"""A person in control: gated tool calls wait for a decision without holding a lease or a worker slot, run once
when approved (with the approver's edits), never when rejected or expired; runs are retried and forked into new
runs that copy what already succeeded."""

from typing import Any

import pytest

from tests.support import assert_error, sql_scalar
from tests.support.platform import RoleScript, RunsClient, task
from tests.support.users import make_user, signed_client

pytestmark = pytest.mark.needs_sandbox

SIX_TIMES_SEVEN = "print(6 * 7)"


def tool_runs(runs: RunsClient) -> int:
    """The user's rows in tool_executions: one per call the tool-runner ran."""
    count = sql_scalar(
        runs.platform.database_url, "SELECT count(*) FROM tool_executions WHERE user_id = :u", u=runs.user_id
    )
    return int(str(count))


def waiting_run(runs: RunsClient, script: RoleScript, **fields: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A run whose one code task waits for approval: (the run as shown, its pending approval)."""
    tasks = [task("code", tool="execute_python", inputs={"code": SIX_TIMES_SEVEN}, **fields)]
    started = runs.start(plan_id=runs.plan(tasks, script), summarize=False, require_approval=["execute_python"])
    run = runs.wait(started["id"], until=lambda r: r["status"] == "waiting")
    (approval,) = approvals_of(runs, run["id"])
    return run, approval


def approvals_of(runs: RunsClient, run_id: str) -> list[dict[str, Any]]:
    response = runs.http.get(runs.url(f"/runs/{run_id}/approvals"))
    assert response.status_code == 200, response.text
    return response.json()["items"]


def decide(runs: RunsClient, approval_id: str, **body: Any) -> dict[str, Any]:
    response = runs.http.post(runs.url(f"/approvals/{approval_id}/decision"), json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_gated_call_waits_with_no_lease_and_runs_once_with_the_approved_edit(
    runs: RunsClient, script: RoleScript
) -> None:
    run, approval = waiting_run(runs, script)
    (waiting,) = run["tasks"]
    assert waiting["status"] == "awaiting_approval" and waiting["attempts"] == 0
    assert approval["status"] == "pending" and approval["tool"] == "execute_python"
    assert approval["parameters"] == {"code": SIX_TIMES_SEVEN}
    assert tool_runs(runs) == 0  # nothing ran before the decision
    lease = sql_scalar(runs.platform.database_url, "SELECT lease_owner FROM tasks WHERE id = :t", t=waiting["id"])
    assert lease is None  # no worker holds the task while it waits
    inbox = runs.http.get(runs.url("/approvals")).json()["items"]
    assert [a["id"] for a in inbox] == [approval["id"]]

    decided = decide(runs, approval["id"], decision="approve", parameters={"code": "print(6 * 7 + 1)"}, note="+1")
    assert decided["status"] == "approved" and decided["edited_parameters"] == {"code": "print(6 * 7 + 1)"}
    done = runs.wait(run["id"])
    assert done["status"] == "succeeded", done
    assert done["tasks"][0]["output"]["result"] == "43\n" and done["tasks"][0]["attempts"] == 1
    assert tool_runs(runs) == 1
    again = runs.http.post(runs.url(f"/approvals/{approval['id']}/decision"), json={"decision": "reject"})
    assert_error(again, 409, "approval_already_decided")
    kinds = [e["event_type"] for e in runs.events(run["id"])]
    assert kinds.index("approval_requested") < kinds.index("approval_decided") < kinds.index("task_succeeded")
    assert runs.http.get(runs.url("/approvals")).json()["items"] == []


def test_a_rejected_call_never_runs_and_the_tasks_fallback_applies(runs: RunsClient, script: RoleScript) -> None:
    run, approval = waiting_run(runs, script, fallback_strategy="skip")
    decide(runs, approval["id"], decision="reject", note="not on my machine")
    done = runs.wait(run["id"])
    assert done["status"] == "succeeded" and done["tasks"][0]["status"] == "skipped"
    assert "rejected: not on my machine" in done["tasks"][0]["error"]
    assert tool_runs(runs) == 0


def test_an_expired_approval_counts_as_a_rejection(runs: RunsClient, script: RoleScript) -> None:
    run, approval = waiting_run(runs, script, fallback_strategy="fail")
    sql_scalar(
        runs.platform.database_url,
        "UPDATE approvals SET expires_at = now() - interval '1 second' WHERE id = :a RETURNING 1",
        a=approval["id"],
    )
    done = runs.wait(run["id"])
    assert done["status"] == "failed" and "expired" in done["error"]
    assert approvals_of(runs, run["id"])[0]["status"] == "expired"
    assert tool_runs(runs) == 0
    late = runs.http.post(runs.url(f"/approvals/{approval['id']}/decision"), json={"decision": "approve"})
    assert_error(late, 409, "approval_already_decided")


def test_cancelling_a_waiting_run_cancels_its_approvals(runs: RunsClient, script: RoleScript) -> None:
    run, approval = waiting_run(runs, script)
    assert runs.http.post(runs.url(f"/runs/{run['id']}/cancel")).json()["status"] == "cancelled"
    assert approvals_of(runs, run["id"])[0]["status"] == "cancelled"
    assert_error(
        runs.http.post(runs.url(f"/approvals/{approval['id']}/decision"), json={"decision": "approve"}),
        409,
        "approval_already_decided",
    )
    assert tool_runs(runs) == 0


def test_only_the_runs_owner_decides_and_an_agent_identity_never(runs: RunsClient, script: RoleScript) -> None:
    run, approval = waiting_run(runs, script)
    with signed_client(make_user(runs.platform.database_url), base_url=runs.platform.orchestrator.url) as other:
        assert_error(other.get(f"/runs/{run['id']}/approvals"), 404)
        assert_error(other.get(f"/approvals/{approval['id']}"), 404)
        assert_error(other.post(f"/approvals/{approval['id']}/decision", json={"decision": "approve"}), 404)
    with signed_client(runs.user_id, role="agent", base_url=runs.platform.orchestrator.url) as agent:
        assert_error(agent.post(f"/approvals/{approval['id']}/decision", json={"decision": "approve"}), 403)
    assert approvals_of(runs, run["id"])[0]["status"] == "pending"
    runs.http.post(runs.url(f"/runs/{run['id']}/cancel"))


def test_bad_decisions_are_refused_with_the_error_envelope(runs: RunsClient, script: RoleScript) -> None:
    run, approval = waiting_run(runs, script)
    decision = runs.url(f"/approvals/{approval['id']}/decision")
    assert_error(runs.http.post(runs.url(f"/approvals/{run['id']}/decision"), json={"decision": "approve"}), 404)
    assert_error(runs.http.post(decision, json={"decision": "maybe"}), 422)
    assert_error(runs.http.post(decision, json={"decision": "approve", "parameters": "print(1)"}), 422)
    assert_error(runs.http.post(decision, json={"decision": "reject", "parameters": {"code": "print(1)"}}), 422)
    changed_tool = {"decision": "approve", "tool": "http_request", "parameters": {"url": "https://example.com"}}
    assert_error(runs.http.post(decision, json=changed_tool), 422, "tool_mismatch")
    no_code = {"decision": "approve", "parameters": {"source": "print(1)"}}
    assert_error(runs.http.post(decision, json=no_code), 422, "invalid_parameters")
    assert approvals_of(runs, run["id"])[0]["status"] == "pending"
    runs.http.post(runs.url(f"/runs/{run['id']}/cancel"))


def test_an_agents_approval_tools_gate_its_calls(runs: RunsClient, script: RoleScript) -> None:
    """An agent registered with approval_tools: its code waits for approval in a run that asked for none."""
    name = f"careful-{runs.user_id[:8]}"
    agent = {
        "name": name,
        "role": "executor",
        "capabilities": ["careful"],
        "allowed_tools": ["execute_python"],
        "approval_tools": ["execute_*"],
    }
    assert runs.http.post(runs.url("/agents"), json=agent).status_code == 201
    tasks = [task("code", tool="execute_python", inputs={"code": SIX_TIMES_SEVEN}, name="A careful step")]
    started = runs.start(plan_id=runs.plan(tasks, script), summarize=False)
    run = runs.wait(started["id"], until=lambda r: r["status"] == "waiting")
    (approval,) = approvals_of(runs, run["id"])
    decide(runs, approval["id"], decision="approve")
    assert runs.wait(run["id"])["tasks"][0]["output"]["result"] == "42\n"


def test_code_the_model_wrote_is_approved_as_written_and_not_asked_for_again(
    runs: RunsClient, script: RoleScript
) -> None:
    """The executor's LLM writes the code before the wait; the resumed attempt runs the approved code without a
    second LLM call (a rewrite would not be what was approved)."""
    script.add("executor", {"result": "computed", "code": "print(sum(range(10)))", "notes": "a sum"})
    tasks = [task("sum", tool="execute_python")]
    started = runs.start(plan_id=runs.plan(tasks, script), summarize=False, require_approval="all")
    run = runs.wait(started["id"], until=lambda r: r["status"] == "waiting")
    (approval,) = approvals_of(runs, run["id"])
    assert approval["parameters"] == {"code": "print(sum(range(10)))"}
    asked = len(script.prompts["executor"])
    decide(runs, approval["id"], decision="approve")
    done = runs.wait(run["id"])
    assert done["tasks"][0]["output"]["result"] == "45\n" and len(script.prompts["executor"]) == asked


def test_a_retry_copies_what_succeeded_and_runs_the_rest(runs: RunsClient, script: RoleScript) -> None:
    tasks = [
        task("a"),
        task("b", tool="execute_python", inputs={"code": "raise SystemExit(3)"}, depends_on=("a",)),
        task("c", tool="noop", depends_on=("b",)),
    ]
    script.add("executor", {"result": "a's answer"})
    failed = runs.wait(runs.start(plan_id=runs.plan(tasks, script), summarize=False)["id"])
    assert failed["status"] == "failed"
    calls = len(script.prompts["executor"])

    busy, _ = waiting_run(runs, script)
    assert_error(runs.http.post(runs.url(f"/runs/{busy['id']}/retry"), json={}), 409, "run_not_finished")
    forked = runs.http.post(runs.url(f"/runs/{busy['id']}/fork"), json={})
    assert forked.status_code == 202 and forked.json()["origin"] == "fork"
    for waiting in (busy, forked.json()):
        runs.http.post(runs.url(f"/runs/{waiting['id']}/cancel"))

    patched = {"inputs_patch": {"b": {"code": "print('fixed')"}}}
    retried = runs.http.post(runs.url(f"/runs/{failed['id']}/retry"), json=patched)
    assert retried.status_code == 202, retried.text
    child = runs.wait(retried.json()["id"])
    assert child["status"] == "succeeded" and child["parent_run_id"] == failed["id"] and child["origin"] == "retry"
    by_key = {t["task_key"]: t for t in child["tasks"]}
    assert by_key["a"]["output"] == {"result": "a's answer"} and by_key["b"]["output"]["result"] == "fixed\n"
    assert len(script.prompts["executor"]) == calls  # a was copied: no LLM call
    spent = sql_scalar(runs.platform.database_url, "SELECT count(*) FROM llm_usage WHERE run_id = :r", r=child["id"])
    assert int(str(spent)) == 0
    copied = [e["data"]["task"] for e in runs.events(child["id"]) if e["event_type"] == "task_copied"]
    assert copied == ["a"]

    script.add("executor", {"result": "a again"})
    again = runs.http.post(runs.url(f"/runs/{child['id']}/retry"), json={"from_task": "a"}).json()
    grandchild = {t["task_key"]: t for t in runs.wait(again["id"])["tasks"]}
    assert grandchild["a"]["output"] == {"result": "a again"} and grandchild["c"]["attempts"] == 1
    lineage = runs.http.get(runs.url(f"/runs/{child['id']}/lineage")).json()
    assert [r["id"] for r in lineage["ancestors"]] == [failed["id"]]
    assert [r["id"] for r in lineage["children"]] == [again["id"]]


def test_retry_refuses_what_it_cannot_do(runs: RunsClient, script: RoleScript) -> None:
    done = runs.wait(runs.start(plan_id=runs.plan([task("n", tool="noop")], script), summarize=False)["id"])
    assert_error(runs.http.post(runs.url(f"/runs/{done['id']}/retry"), json={"from_task": "zz"}), 422, "unknown_task")
    assert_error(runs.http.post(runs.url(f"/runs/{done['id']}/retry"), json={"inputs_patch": {"n": 3}}), 422)
    with signed_client(make_user(runs.platform.database_url), base_url=runs.platform.orchestrator.url) as other:
        assert_error(other.post(f"/runs/{done['id']}/retry", json={}), 404)
        assert_error(other.get(f"/runs/{done['id']}/lineage"), 404)


def test_a_question_waits_for_the_owners_answer_which_reaches_the_next_step(
    runs: RunsClient, script: RoleScript
) -> None:
    tasks = [
        task("city", tool="ask_user", inputs={"question": "Which city should the report cover?"}),
        task("report", depends_on=("city",)),
    ]
    started = runs.start(plan_id=runs.plan(tasks, script), summarize=False)
    run = runs.wait(started["id"], until=lambda r: r["status"] == "waiting")
    assert {t["task_key"]: t["status"] for t in run["tasks"]}["city"] == "awaiting_input"
    with signed_client(runs.user_id, role="agent", base_url=runs.platform.orchestrator.url) as agent:
        assert_error(agent.post(f"/runs/{run['id']}/inputs", json={"answer": "Paris"}), 403)
    assert_error(runs.http.post(runs.url(f"/runs/{run['id']}/inputs"), json={"answer": ""}), 422)

    answered = runs.http.post(runs.url(f"/runs/{run['id']}/inputs"), json={"answer": "Lisbon"})
    assert answered.status_code == 200 and answered.json()["status"] == "approved", answered.text
    done = runs.wait(run["id"])
    assert done["status"] == "succeeded"
    assert {t["task_key"]: t for t in done["tasks"]}["city"]["output"]["result"] == "Lisbon"
    assert "Lisbon" in script.prompts["executor"][-1]  # the answer is in the next step's prompt
    events = {e["event_type"]: e for e in runs.events(run["id"])}
    assert events["input_requested"]["data"]["question"] == "Which city should the report cover?"
    assert events["input_received"]["data"]["answer"] == "Lisbon"
    again = runs.http.post(runs.url(f"/runs/{run['id']}/inputs"), json={"answer": "Porto"})
    assert_error(again, 409, "no_question_pending")
