"""Runs end to end on real services, with the LLM's answers scripted per agent role."""

import json
import uuid

import httpx
import pytest

from services.agent_orchestrator.execution import TaskError, TaskExecutor
from shared.clients import ServiceClient
from shared.contracts.ai import ChatMessage, CompleteRequest, CompleteResponse
from shared.errors import TooManyRequestsError
from tests.support import assert_error, eventually, sql_scalar
from tests.support.platform import (
    Platform,
    RoleScript,
    RunsClient,
    code_runs_in_flight,
    script_fibonacci_run,
    task,
    tasks_in_worker,
)
from tests.support.users import Caller, identity_headers, make_user, signed_client


@pytest.mark.needs_sandbox
def test_goal_is_planned_run_and_remembered(runs: RunsClient, script: RoleScript) -> None:
    script_fibonacci_run(script)
    run = runs.start(goal="Write and test a Fibonacci function", budget_usd="1.0")
    assert run["status"] == "running" and [t["task_key"] for t in run["tasks"]] == ["plan"]

    done = runs.wait(run["id"])
    assert done["status"] == "succeeded", done
    tasks = {t["task_key"]: t for t in done["tasks"]}
    assert set(tasks) == {"plan", "write", "test", "summary"} and all(
        t["status"] == "succeeded" for t in tasks.values()
    )
    assert tasks["test"]["output"]["result"].strip() == "[0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55]"
    assert done["result"]["summary"].startswith("fib(0..10)") and done["result"]["outputs"]["test"]["exit_code"] == 0
    assert done["spent_usd"] > 0 and done["plan_id"]
    # outputs flow to dependents: the tester saw the writer's result, the summarizer saw the sandbox's output
    assert "def fib(n): ..." in script.prompts["executor"][1]
    assert "[0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55]" in script.prompts["summarizer"][0]
    memory = sql_scalar(
        runs.platform.database_url, "SELECT content FROM memories WHERE id = :id", id=done["result"]["memory_id"]
    )
    assert "fib(10) = 55" not in str(memory) and "0 1 1 2 3 5 8 13 21 34 55" in str(memory)
    owner = sql_scalar(
        runs.platform.database_url, "SELECT user_id::text FROM memories WHERE id = :id", id=done["result"]["memory_id"]
    )
    assert owner == runs.user_id

    events = runs.events(run["id"])
    kinds = [e["event_type"] for e in events[:-1]]
    assert kinds[0] == "run_created" and kinds[-1] == "run_succeeded" and events[-1]["sse_event"] == "end"
    assert {"task_started", "llm_call", "plan_created", "tool_call", "task_succeeded"} <= set(kinds)
    assert sum(e["cost_usd"] or 0 for e in events[:-1]) > 0
    ids = [int(e["sse_id"]) for e in events[:-1]]
    assert ids == sorted(ids)
    resumed = runs.events(run["id"], last_event_id=ids[4])
    assert [int(e["sse_id"]) for e in resumed[:-1]] == ids[5:]
    # Each LLM call says what it was asked and what it answered, so a step that went wrong can be read.
    summarized = next(e for e in events if e["event_type"] == "llm_call" and "summarizer" in e["message"])
    assert "[0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55]" in summarized["data"]["prompt"]
    assert "fib(0..10)" in summarized["data"]["completion"] and summarized["data"]["prompt_version"]


def test_llm_text_is_capped_and_kept_only_where_the_setting_allows(platform: Platform) -> None:
    executor = TaskExecutor(
        settings=platform.orchestrator_settings(llm_text_max_chars=100),
        ai=None,  # type: ignore[arg-type]
        tools=None,  # type: ignore[arg-type]
        planner=None,  # type: ignore[arg-type]
        record_event=None,  # type: ignore[arg-type]
    )
    asked = CompleteRequest(prompt="x" * 250, context=[ChatMessage(role="system", content="Be terse.")])
    answered = CompleteResponse(
        content="done",
        model_used="m",
        provider="p",
        tokens_used=2,
        prompt_tokens=1,
        completion_tokens=1,
        cost_usd=0,
        latency_ms=1,
        finish_reason="stop",
        cached=False,
        prompt_version="executor/v1",
    )
    kept = executor._llm_text(body=asked, completion=answered)
    assert kept["prompt"] == "x" * 100 + "… [150 more characters not kept]" and kept["completion"] == "done"
    assert kept["agent_system_prompt"] == "Be terse." and kept["prompt_version"] == "executor/v1"
    executor.settings = executor.settings.model_copy(update={"store_llm_text": False})
    assert executor._llm_text(body=asked, completion=answered) == {}


def test_executor_sees_what_the_user_remembers(runs: RunsClient, script: RoleScript, platform: Platform) -> None:
    remembered = Caller(platform.memory.url, runs.user_id)
    remembered.remember("The deployment region for all our services is eu-west-3 (Paris)")
    remembered.remember("The cat prefers salmon on Fridays")
    remembered.client.close()
    plan_id = runs.plan(
        [task("region", name="Pick the deployment region", description="Say which region the services deploy to")],
        script,
    )
    done = runs.wait(runs.start(plan_id=plan_id)["id"])
    assert done["status"] == "succeeded"
    prompt = script.prompts["executor"][0]
    assert "eu-west-3 (Paris)" in prompt and "salmon" not in prompt
    stranger = RunsClient(platform, make_user(platform.database_url))
    stranger.wait(
        stranger.start(plan_id=stranger.plan([task("region2", name="Pick the deployment region")], script))["id"]
    )
    assert "eu-west-3" not in script.prompts["executor"][1]  # another user's memories stay theirs
    stranger.http.close()


@pytest.mark.needs_sandbox
def test_failing_task_is_retried_with_backoff_then_skipped(runs: RunsClient, script: RoleScript) -> None:
    plan_id = runs.plan(
        [
            task("flaky", tool="execute_python", inputs={"code": "raise SystemExit(3)"}, fallback_strategy="skip"),
            task("after", tool="noop", depends_on=("flaky",)),
        ],
        script,
    )
    done = runs.wait(runs.start(plan_id=plan_id)["id"])
    tasks = {t["task_key"]: t for t in done["tasks"]}
    assert done["status"] == "succeeded" and done["result"]["skipped"] == ["flaky"]
    assert (
        tasks["flaky"]["status"] == "skipped"
        and tasks["flaky"]["attempts"] == 3
        and "exit" in tasks["flaky"]["error"].lower()
    )
    assert tasks["after"]["status"] == "succeeded"
    retries = [e for e in runs.events(done["id"]) if e["event_type"] == "task_retry_scheduled"]
    assert [e["data"]["attempt"] for e in retries] == [1, 2] and retries[1]["data"]["retry_in_seconds"] > retries[0][
        "data"
    ]["retry_in_seconds"]


@pytest.mark.needs_sandbox
def test_task_that_must_not_fail_fails_the_run_and_cancels_the_rest(runs: RunsClient, script: RoleScript) -> None:
    plan_id = runs.plan(
        [
            task("broken", tool="execute_python", inputs={"code": "1/0"}, fallback_strategy="fail"),
            task("never", tool="noop", depends_on=("broken",)),
        ],
        script,
    )
    done = runs.wait(runs.start(plan_id=plan_id)["id"])
    tasks = {t["task_key"]: t for t in done["tasks"]}
    assert done["status"] == "failed" and "ZeroDivisionError" in done["error"]
    assert tasks["broken"]["status"] == "failed" and tasks["broken"]["attempts"] == 3
    assert tasks["never"]["status"] == "cancelled" and tasks["summary"]["status"] == "cancelled"


@pytest.mark.needs_sandbox
def test_failure_with_replan_fallback_continues_on_a_new_plan(runs: RunsClient, script: RoleScript) -> None:
    plan_id = runs.plan(
        [
            task("first", tool="noop"),
            task(
                "shaky",
                tool="execute_python",
                depends_on=("first",),
                inputs={"code": "import sys; sys.exit(1)"},
                fallback_strategy="replan",
            ),
        ],
        script,
    )
    script.add(
        "planner",
        {
            "tasks": [task("other_way", tool="execute_python", depends_on=("first",), inputs={"code": "print('ok')"})],
            "risks": [],
        },
    )
    done = runs.wait(runs.start(plan_id=plan_id)["id"])
    assert done["status"] == "succeeded", done
    tasks = {t["task_key"]: t for t in done["tasks"]}
    assert tasks["other_way"]["output"]["result"] == "ok\n" and tasks["first"]["status"] == "succeeded"
    assert done["plan_id"] != plan_id
    assert any(t["status"] == "failed" and t["task_key"].startswith("shaky~") for t in done["tasks"])
    assert "first" in script.prompts["planner"][-1] and "shaky failed" in script.prompts["planner"][-1]
    replanned = [e for e in runs.events(done["id"]) if e["event_type"] == "run_replanned"]
    assert replanned[0]["data"]["failed_task"] == "shaky" and replanned[0]["data"]["tasks"] == ["first", "other_way"]


@pytest.mark.needs_sandbox
def test_cancel_stops_running_tasks(runs: RunsClient, script: RoleScript) -> None:
    plan_id = runs.plan(
        [task("slow", tool="execute_python", inputs={"code": "import time\ntime.sleep(15)\nprint('finished')"})], script
    )
    run = runs.start(plan_id=plan_id)
    runs.wait(run["id"], until=lambda r: any(t["status"] == "running" for t in r["tasks"]))
    eventually(lambda: code_runs_in_flight(runs.platform.redis_url, runs.user_id) == 1)  # the code is running
    response = runs.http.post(runs.url(f"/runs/{run['id']}/cancel"))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    # The worker lets go of the task and its sandbox; only then can nothing rewrite it any more.
    eventually(lambda: tasks_in_worker(runs.platform.orchestrator) == 0)
    eventually(lambda: code_runs_in_flight(runs.platform.redis_url, runs.user_id) == 0)
    after = runs.get(run["id"])
    assert after["status"] == "cancelled" and {t["status"] for t in after["tasks"]} == {"cancelled"}
    assert after["tasks"][0]["output"] is None
    assert runs.events(run["id"])[-2]["event_type"] == "run_cancelled"


def test_budget_exhaustion_stops_the_run_cleanly(runs: RunsClient, script: RoleScript, platform: Platform) -> None:
    plan_id = runs.plan(
        [task("free", tool="noop"), task("think", depends_on=("free",)), task("more", depends_on=("think",))], script
    )
    done = runs.wait(runs.start(plan_id=plan_id, budget_usd="0.00001")["id"])
    tasks = {t["task_key"]: t for t in done["tasks"]}
    assert done["status"] == "failed" and "Budget exhausted" in done["error"]
    assert (
        tasks["free"]["status"] == "succeeded"
        and tasks["think"]["status"] == "failed"
        and tasks["think"]["attempts"] == 1
    )
    assert tasks["more"]["status"] == "cancelled"
    assert "executor" not in script.prompts  # the ai-runtime refused before calling the provider
    admin = identity_headers(make_user(platform.database_url), role="admin")
    budget = httpx.get(f"{platform.runtime.url}/admin/budgets/run/{done['id']}", headers=admin).json()
    assert float(budget["total_usd"]) == 0.00001


def test_planning_spends_the_run_budget_too(runs: RunsClient, script: RoleScript) -> None:
    done = runs.wait(runs.start(goal="Plan something expensive", budget_usd="0.00001")["id"])
    assert done["status"] == "failed" and "Budget exhausted" in done["error"]
    assert [(t["task_key"], t["status"]) for t in done["tasks"]] == [("plan", "failed")]
    assert "planner" not in script.prompts


def test_critic_rejection_sends_the_work_back_with_feedback(runs: RunsClient, script: RoleScript) -> None:
    plan_id = runs.plan([task("draft"), task("review", role="critic", depends_on=("draft",))], script)
    script.add("executor", {"result": "first draft"}, {"result": "second draft"})
    script.add(
        "critic",
        {"score": 3, "approved": False, "feedback": "Add the edge case n = 0."},
        {"score": 9, "approved": True, "feedback": "Fine."},
    )
    done = runs.wait(runs.start(plan_id=plan_id)["id"])
    assert done["status"] == "succeeded", done
    tasks = {t["task_key"]: t for t in done["tasks"]}
    assert tasks["draft"]["output"]["result"] == "second draft" and tasks["review"]["output"]["approved"] is True
    assert "Add the edge case n = 0." in script.prompts["executor"][1]
    verdicts = [e["data"]["approved"] for e in runs.events(done["id"]) if e["event_type"] == "critic_verdict"]
    assert verdicts == [False, True]


def test_critic_rounds_are_bounded(runs: RunsClient, script: RoleScript) -> None:
    plan_id = runs.plan([task("draft"), task("review", role="critic", depends_on=("draft",))], script)
    script.add("critic", *[{"score": 2, "approved": False, "feedback": "No."}] * 5)
    done = runs.wait(runs.start(plan_id=plan_id)["id"])
    assert done["status"] == "succeeded"
    assert (
        len(script.prompts["critic"]) == 3 and len(script.prompts["executor"]) == 3
    )  # two revisions, then the verdict stands
    assert {t["task_key"]: t for t in done["tasks"]}["review"]["output"]["approved"] is False


def test_agent_definition_limits_its_tools(runs: RunsClient, script: RoleScript, unique: str) -> None:
    created = runs.http.post(
        runs.url("/agents"),
        json={"name": f"talker-{unique}", "role": "executor", "capabilities": [f"chat{unique}"], "allowed_tools": []},
    )
    assert created.status_code == 201, created.text
    plan_id = runs.plan(
        [task("sneaky", tool="execute_python", name=f"chat{unique} then run code", inputs={"code": "print(1)"})], script
    )
    done = runs.wait(runs.start(plan_id=plan_id)["id"])
    sneaky = {t["task_key"]: t for t in done["tasks"]}["sneaky"]
    assert done["status"] == "failed" and sneaky["attempts"] == 1 and "may not use execute_python" in sneaky["error"]


def test_bad_run_requests(runs: RunsClient, platform: Platform) -> None:
    assert_error(runs.http.post(runs.url("/runs"), json={}), 422)
    assert_error(
        runs.http.post(runs.url("/runs"), json={"goal": "x" * 10, "plan_id": "00000000-0000-0000-0000-000000000001"}),
        422,
    )
    assert_error(runs.http.post(runs.url("/runs"), json={"goal": "something", "max_parallel": 0}), 422)
    assert_error(runs.http.post(runs.url("/runs"), json={"goal": "something", "budget_usd": -1}), 422)
    assert_error(runs.http.post(runs.url("/runs"), json={"plan_id": "00000000-0000-0000-0000-000000000001"}), 404)
    assert_error(runs.http.get(runs.url("/runs/not-a-uuid")), 422)
    assert_error(runs.http.get(runs.url("/runs/00000000-0000-0000-0000-000000000001")), 404)
    assert_error(httpx.get(runs.url("/runs")), 401)


def test_runs_are_private_and_finished_ones_cannot_be_cancelled(
    runs: RunsClient, script: RoleScript, platform: Platform
) -> None:
    done = runs.wait(runs.start(plan_id=runs.plan([task("only", tool="noop")], script))["id"])
    stranger = identity_headers(make_user(platform.database_url))
    assert_error(httpx.get(runs.url(f"/runs/{done['id']}"), headers=stranger), 404)
    assert_error(httpx.get(runs.url(f"/runs/{done['id']}/events"), headers=stranger), 404)
    assert_error(httpx.post(runs.url(f"/runs/{done['id']}/cancel"), headers=stranger), 404)
    assert_error(runs.http.post(runs.url(f"/runs/{done['id']}/cancel")), 409, "run_finished")
    assert [r["id"] for r in runs.http.get(runs.url("/runs")).json()["items"]] == [done["id"]]


def _api_key(database_url: str, user_id: str, *, allowed_models: list[str] | None) -> str:
    key_id = str(uuid.uuid4())
    sql_scalar(
        database_url,
        "INSERT INTO api_keys (id, user_id, name, prefix, key_hash, scopes, allowed_models) "
        "VALUES (:id, :u, 'run key', 'cos_test', :h, '[]', CAST(:models AS jsonb)) RETURNING 1",
        id=key_id,
        u=user_id,
        h=uuid.uuid4().hex * 2,
        models=json.dumps(allowed_models),
    )
    return key_id


def test_a_run_started_with_an_api_key_is_charged_to_it_calls_and_embeddings(
    runs: RunsClient, script: RoleScript, platform: Platform
) -> None:
    key_id = _api_key(platform.database_url, runs.user_id, allowed_models=None)
    plan_id = runs.plan([task("think")], script)
    with signed_client(runs.user_id, api_key_id=key_id) as as_key:
        started = as_key.post(runs.url("/runs"), json={"plan_id": plan_id})
    assert started.status_code == 202, started.text
    done = runs.wait(started.json()["id"])
    assert done["status"] == "succeeded", done
    charged = "SELECT string_agg(DISTINCT operation, ',' ORDER BY operation) FROM llm_usage WHERE api_key_id = :k"
    assert sql_scalar(platform.database_url, charged, k=key_id) == "complete,embed"
    unkeyed = "SELECT count(*) FROM llm_usage WHERE run_id = :r AND api_key_id IS NULL"
    assert sql_scalar(platform.database_url, unkeyed, r=done["id"]) == 0


def test_a_run_started_with_a_key_limited_to_another_model_makes_no_call_to_this_one(
    runs: RunsClient, script: RoleScript, platform: Platform
) -> None:
    key_id = _api_key(platform.database_url, runs.user_id, allowed_models=["claude-3-5-haiku-latest"])
    plan_id = runs.plan([task("think")], script)
    calls_before = len(script.prompts.get("executor", []))
    with signed_client(runs.user_id, api_key_id=key_id) as as_key:
        started = as_key.post(runs.url("/runs"), json={"plan_id": plan_id})
    done = runs.wait(started.json()["id"])
    think = {t["task_key"]: t for t in done["tasks"]}["think"]
    assert done["status"] == "failed" and "may not use gpt-4o-mini" in think["error"], done
    assert len(script.prompts.get("executor", [])) == calls_before


def test_a_retried_run_request_with_the_same_idempotency_key_returns_the_first_run(
    runs: RunsClient, script: RoleScript, platform: Platform
) -> None:
    plan_id = runs.plan([task("only", tool="noop")], script)
    headers = {"Idempotency-Key": f"run-{uuid.uuid4()}"}
    first = runs.http.post(runs.url("/runs"), json={"plan_id": plan_id}, headers=headers)
    again = runs.http.post(runs.url("/runs"), json={"plan_id": plan_id}, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"] and again.headers["idempotent-replayed"] == "true"
    count = "SELECT count(*) FROM runs WHERE user_id = :u AND idempotency_key = :k"
    assert sql_scalar(platform.database_url, count, u=runs.user_id, k=headers["Idempotency-Key"]) == 1
    other = signed_client(make_user(platform.database_url))
    their_plan = runs.plan([task("theirs", tool="noop")], script)
    theirs = other.post(runs.url("/runs"), json={"plan_id": their_plan}, headers=headers)
    assert theirs.status_code == 404  # another user's plan: nothing started, and the key did not answer with a run
    assert_error(runs.http.post(runs.url("/runs"), json={"plan_id": plan_id}, headers={"Idempotency-Key": ""}), 422)


PROSE_WITH_CODE = (
    "Here is the function, with its test:\n```python\ndef fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n"
    "        a, b = b, a + b\n    return a\nassert fib(10) == 55\nprint('fib(10) =', fib(10))\n```"
)


@pytest.mark.needs_sandbox
def test_code_written_in_prose_without_calling_the_tool_is_run_and_the_run_is_tested(
    runs: RunsClient, script: RoleScript, platform: Platform
) -> None:
    plan_id = runs.plan([task("write", description="Write fib(n) and test it for n=10")], script)
    script.add("executor", {"result": PROSE_WITH_CODE})
    done = runs.wait(runs.start(plan_id=plan_id)["id"])
    write = {t["task_key"]: t for t in done["tasks"]}["write"]
    assert done["status"] == "succeeded" and done["verification"] == "tested", done
    assert write["output"]["stdout"].strip() == "fib(10) = 55" and write["output"]["checks_passed"] is True
    assert write["output"]["result"] == PROSE_WITH_CODE  # the model's own answer is kept beside what the code did
    ran = "SELECT count(*) FROM tool_executions WHERE task_id = :t AND tool_name = 'execute_python'"
    assert sql_scalar(platform.database_url, ran, t=write["id"]) == 1
    finished = [e for e in runs.events(done["id"]) if e["event_type"] == "run_succeeded"]
    assert finished[0]["data"]["verification"] == "tested"


@pytest.mark.needs_sandbox
def test_code_that_fails_its_checks_never_makes_a_tested_run(runs: RunsClient, script: RoleScript) -> None:
    failing = "```python\nassert 1 + 1 == 3, 'arithmetic is off'\n```"
    plan_id = runs.plan([task("write", fallback_strategy="skip")], script)
    script.add("executor", *[{"result": failing}] * 3)
    done = runs.wait(runs.start(plan_id=plan_id)["id"])
    write = {t["task_key"]: t for t in done["tasks"]}["write"]
    assert write["status"] == "skipped" and "arithmetic is off" in write["error"]
    assert done["verification"] != "tested"


def test_an_unchecked_result_says_so_everywhere(runs: RunsClient, script: RoleScript, platform: Platform) -> None:
    plan_id = runs.plan([task("think", description="Think about the goal")], script)
    script.add("executor", {"result": "I thought about it and it is surely fine."})
    script.add("summarizer", {"summary": "It is surely fine.", "key_facts": []})
    done = runs.wait(runs.start(plan_id=plan_id)["id"])
    assert done["status"] == "succeeded" and done["verification"] == "unverified"
    stored = str(
        sql_scalar(
            platform.database_url,
            "SELECT content || '|' || (metadata->>'verification') FROM memories WHERE id = :m",
            m=done["result"]["memory_id"],
        )
    )
    assert str(stored).startswith("Unverified (nothing checked this result): ") and stored.endswith("|unverified")
    assert [r["verification"] for r in runs.http.get(runs.url("/runs")).json()["items"] if r["id"] == done["id"]] == [
        "unverified"
    ]


def test_a_critic_approval_with_reasons_makes_a_reviewed_run(runs: RunsClient, script: RoleScript) -> None:
    plan_id = runs.plan([task("draft"), task("review", role="critic", depends_on=("draft",))], script)
    script.add("executor", {"result": "a careful draft"})
    script.add("critic", {"score": 9, "approved": True, "feedback": "Covers every case the goal names."})
    done = runs.wait(runs.start(plan_id=plan_id)["id"])
    assert done["status"] == "succeeded" and done["verification"] == "reviewed"


def test_a_critic_shown_no_results_does_not_make_a_run_reviewed(runs: RunsClient, script: RoleScript) -> None:
    """The embedded model planned a critic beside the work, not after it: its approval reviewed nothing."""
    plan_id = runs.plan([task("draft"), task("review", role="critic")], script)
    script.add("executor", {"result": "Paris"})
    script.add("critic", {"score": 10, "approved": True, "feedback": "The city of Paris is the hottest."})
    done = runs.wait(runs.start(plan_id=plan_id)["id"])
    review = next(t for t in done["tasks"] if t["task_key"] == "review")
    assert review["output"]["reviewed"] == [] and done["verification"] == "unverified"


def test_a_method_not_allowed_names_every_method_the_path_takes(runs: RunsClient) -> None:
    """GET and POST /runs are two routes: Starlette's 405 named the first one's only ("Allow: POST")."""
    refused = runs.http.delete(runs.url("/runs"))
    assert refused.status_code == 405 and refused.json()["error"]["code"] == "method_not_allowed"
    assert set(refused.headers["allow"].split(", ")) >= {"GET", "POST"}


async def test_a_busy_model_is_waited_out_not_counted_as_a_failed_attempt(platform: Platform) -> None:
    """Two runs at once on the embedded model make it answer 429 model_busy; that is slow, not wrong."""
    settings = platform.orchestrator_settings(model_busy_wait_seconds=60)
    executor = TaskExecutor(
        settings=settings,
        ai=None,  # type: ignore[arg-type]
        tools=None,  # type: ignore[arg-type]
        planner=None,  # type: ignore[arg-type]
        record_event=None,  # type: ignore[arg-type]
    )
    answers: list[Exception | str] = [busy(), busy(), "answered"]

    async def hop() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    service = ServiceClient.__new__(ServiceClient)
    service.service = "ai-runtime"
    assert await executor._typed(hop, service=service) == "answered" and answers == []

    impatient = TaskExecutor(
        settings=platform.orchestrator_settings(model_busy_wait_seconds=0),
        ai=None,  # type: ignore[arg-type]
        tools=None,  # type: ignore[arg-type]
        planner=None,  # type: ignore[arg-type]
        record_event=None,  # type: ignore[arg-type]
    )
    answers[:] = [busy()]
    with pytest.raises(TaskError) as failed:
        await impatient._typed(hop, service=service)
    assert failed.value.code == "model_busy" and failed.value.retryable


def busy() -> TooManyRequestsError:
    return TooManyRequestsError("The model is busy", code="model_busy", details={"retry_after_seconds": 0})


def test_a_run_pins_its_model_prompt_version_and_executor_agent(runs: RunsClient, script: RoleScript) -> None:
    name = f"warm-{uuid.uuid4().hex[:8]}"
    registered = runs.http.post(
        runs.url("/agents"),
        json={"name": name, "role": "executor", "temperature": 0.7, "allowed_tools": ["execute_python"]},
    )
    assert registered.status_code == 201, registered.text
    script.add("planner", {"tasks": [task("answer", description="Answer in a sentence")], "risks": []})
    run = runs.start(goal="Say something kind", model="gpt-4o", prompt_version="v1", agent=name, summarize=True)
    assert (run["model"], run["prompt_version"], run["agent"]) == ("gpt-4o", "v1", name)

    done = runs.wait(run["id"])
    assert done["status"] == "succeeded", done
    asked = [body for role in ("planner", "executor", "summarizer") for body in script.requests.get(role, [])]
    assert len(asked) >= 3 and {body["model"] for body in asked} == {"gpt-4o"}
    assert [body["temperature"] for body in script.requests["executor"]] == [0.7]  # the pinned agent's settings
    assert_error(
        runs.http.post(runs.url("/runs"), json={"goal": "Say something", "agent": "nobody-at-all"}),
        422,
        "unknown_agent",
    )


def test_a_new_runs_answer_shows_ready_exactly_the_tasks_that_depend_on_none(
    runs: RunsClient, script: RoleScript
) -> None:
    tasks = [task("a", tool="noop"), task("b", tool="noop"), task("c", tool="noop", depends_on=("a", "b"))]
    run = runs.start(plan_id=runs.plan(tasks, script), summarize=False)
    assert {t["task_key"]: t["status"] for t in run["tasks"]} == {"a": "ready", "b": "ready", "c": "pending"}
    assert runs.wait(run["id"])["status"] == "succeeded"
