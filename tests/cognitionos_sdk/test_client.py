"""The Python SDK against the real services through the gateway: sync and async clients, typed answers, event
streams on httpx-sse, cursor pages, Idempotency-Key, and errors as exceptions with the envelope's fields."""

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from redis import Redis

from cognitionos_sdk import (
    AsyncCognitionOS,
    AuthenticationError,
    BadRequestError,
    CognitionOS,
    ConflictError,
    ModelProgress,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    Run,
    calls,
)
from shared.redis import run_model_progress_key
from tests.support import ThreadedServer, serving
from tests.support.platform import RoleScript, script_silent_run, task

PASSWORD = "sdk-password-123"
IMPORTED = [
    "The quarterly report is due on the 5th",
    "The team prefers async standups",
    "The offsite is in Porto this year",
    "The staging database is reset every Sunday",
    "The design review moved to Thursdays",
]


@pytest.fixture
def client(platform_gateway: ThreadedServer, unique: str) -> Iterator[CognitionOS]:
    with CognitionOS(platform_gateway.url) as sdk:
        sdk.register(f"sdk_{unique}", f"sdk_{unique}@example.com", PASSWORD)
        me = sdk.sign_in(f"sdk_{unique}", PASSWORD)
        assert me.username == f"sdk_{unique}" and me.role == "user"
        yield sdk


def test_a_run_from_goal_to_result_with_live_events(client: CognitionOS, script: RoleScript) -> None:
    script.add("planner", {"tasks": [task("only", tool="noop")], "risks": []})
    script.add("summarizer", {"summary": "Done by the SDK test.", "key_facts": []})
    key = f"run-{uuid.uuid4()}"
    run = client.runs.create("Do one small thing", idempotency_key=key)
    assert isinstance(run, Run) and client.runs.create("Do one small thing", idempotency_key=key).id == run.id
    events = list(client.runs.events(run.id))
    assert events[0].event_type == "run_created" and events[-1].event_type == "run_succeeded"
    finished = client.runs.wait(run.id)
    assert (
        finished.finished
        and finished.status == "succeeded"
        and (finished.result or {}).get("summary") == "Done by the SDK test."
    )
    page = client.runs.list(limit=1)
    assert [r.id for r in page.items] == [run.id] and page.next_cursor is None
    with pytest.raises(ConflictError) as reused:
        client.runs.create("Another goal entirely", idempotency_key=key)
    assert reused.value.code == "idempotency_key_reused" and reused.value.status == 409


def test_memories_conversations_and_errors(client: CognitionOS, script: RoleScript) -> None:
    memory = client.memories.create("The SDK user likes short answers", memory_type="preference")
    (found,) = [m for m in client.memories.search("how long should answers be", k=3) if m.id == memory.id]
    assert found.relevance_score and found.relevance_score > 0.3
    assert [h["event"] for h in client.memories.history(memory.id)] == ["ADD"]
    client.memories.delete(memory.id)
    with pytest.raises(NotFoundError) as missing:
        client.memories.get(memory.id)
    assert missing.value.status == 404 and missing.value.code == "not_found" and missing.value.request_id

    script.add("assistant", "Short answer.", "Streamed answer, word by word.")
    conversation = client.conversations.create(title="SDK")
    reply = client.conversations.send(conversation.id, "Hello", tools=[])
    assert reply.text == "Short answer." and reply.usage["cost_usd"] > 0
    streamed = list(client.conversations.stream(conversation.id, "Again", tools=[]))
    assert "".join(d["content"] for e, d in streamed if e == "delta") == "Streamed answer, word by word."
    assert [m.role for m in client.conversations.messages(conversation.id).items] == ["user", "assistant"] * 2


def test_a_bulk_import_in_several_uploads(client: CognitionOS, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(calls, "IMPORT_CHUNK_ROWS", 2)  # five rows: three uploads
    lines = [json.dumps({"content": text}) for text in IMPORTED]
    job = client.memories.import_lines([*lines, "", lines[0]])
    assert (job.status, job.rows_staged, job.imported, job.deduplicated) == ("done", 6, 5, 1)
    assert client.memories.search("Which city hosts the offsite?", k=1)[0].content == IMPORTED[2]
    with pytest.raises(BadRequestError) as refused:  # the error names the line of the whole input, not of its upload
        client.memories.import_lines([*lines, "", '{"content": ""}'])
    assert refused.value.message.startswith("Line 7 is not a valid memory")


def test_api_keys_sign_a_client_in_until_revoked(client: CognitionOS, platform_gateway: ThreadedServer) -> None:
    created = client.api_keys.create("sdk")
    assert created.key and created.key.startswith("cos_")
    with CognitionOS(platform_gateway.url, api_key=created.key) as by_key:
        assert by_key.me().username == client.me().username
        client.api_keys.revoke(created.id)
        with pytest.raises(AuthenticationError) as refused:
            by_key.me()
    assert refused.value.status == 401
    assert [k.revoked_at is not None for k in client.api_keys.list().items] == [True]


def test_the_async_client(platform_gateway: ThreadedServer, script: RoleScript, unique: str) -> None:
    script.add("planner", {"tasks": [task("only", tool="noop")], "risks": []})
    script.add("assistant", "Async hello.")

    async def scenario() -> None:
        with CognitionOS(platform_gateway.url) as setup:
            setup.register(f"async_{unique}", f"async_{unique}@example.com", PASSWORD)
        async with AsyncCognitionOS(platform_gateway.url) as sdk:
            await sdk.sign_in(f"async_{unique}", PASSWORD)
            run = await sdk.runs.create("Do one small thing asynchronously")
            kinds = [event.event_type async for event in sdk.runs.events(run.id)]
            assert kinds[-1] == "run_succeeded" and (await sdk.runs.get(run.id)).status == "succeeded"
            conversation = await sdk.conversations.create(title="async")
            assert (await sdk.conversations.send(conversation.id, "Hi", tools=[])).text == "Async hello."
            assert [m.role for m in (await sdk.conversations.messages(conversation.id)).items] == ["user", "assistant"]
            memory = await sdk.memories.create("The async user writes coroutines")
            assert (await sdk.memories.get(memory.id)).content == "The async user writes coroutines"
            await sdk.memories.delete(memory.id)
            with pytest.raises(NotFoundError):
                await sdk.memories.get(memory.id)
            key = await sdk.api_keys.create("async")
            assert [k.id for k in (await sdk.api_keys.list()).items] == [key.id]
            assert (await sdk.api_keys.revoke(key.id)).revoked_at is not None

    asyncio.run(scenario())


@pytest.mark.needs_sandbox
def test_a_step_silent_longer_than_the_keepalive_breaks_neither_client(
    client: CognitionOS, platform_gateway: ThreadedServer, script: RoleScript, unique: str
) -> None:
    script_silent_run(script)
    run = client.runs.create("Take a nap, then say so")
    events = list(client.runs.events(run.id))
    assert events[-1].event_type == "run_succeeded" and client.runs.wait(run.id).status == "succeeded"

    async def scenario() -> None:
        script_silent_run(script)
        async with AsyncCognitionOS(platform_gateway.url) as sdk:
            await sdk.sign_in(f"sdk_{unique}", PASSWORD)
            started = await sdk.runs.create("Take a nap asynchronously")
            assert (await sdk.runs.wait(started.id)).status == "succeeded"

    asyncio.run(scenario())


@pytest.mark.needs_sandbox
def test_how_the_models_call_stands_reaches_the_client_between_events(
    client: CognitionOS, script: RoleScript, redis_url: str
) -> None:
    script_silent_run(script)
    run = client.runs.create("Take a nap, and say how it goes")
    # What the ai-runtime says while the run's call waits in the embedded model's lane (tests/ai_runtime shows it).
    said = {"state": "waiting", "ahead": 2, "tokens": 0, "role": "executor", "task_id": None}
    with Redis.from_url(redis_url) as redis:
        redis.set(run_model_progress_key(run.id), json.dumps(said), ex=60)
    heard: list[ModelProgress] = []
    events = list(client.runs.events(run.id, on_progress=heard.append))
    assert heard[0] == ModelProgress(run_id=run.id, **said)
    assert events[-1].event_type == "run_succeeded"  # progress is never handed on as one of the run's events


@pytest.mark.needs_sandbox
def test_waiting_with_a_timeout_raises_and_the_run_goes_on(client: CognitionOS, script: RoleScript) -> None:
    script_silent_run(script)
    run = client.runs.create("Take a nap, however long it takes")
    with pytest.raises(TimeoutError, match="did not end within"):
        client.runs.wait(run.id, timeout=0.3)
    assert client.runs.wait(run.id).status == "succeeded"


def test_a_list_iterates_across_its_pages(client: CognitionOS) -> None:
    facts = [
        "Lisbon has trams",
        "Penguins cannot fly",
        "Rust has a borrow checker",
        "Tea is brewed",
        "Go has goroutines",
    ]
    created = [client.memories.create(fact).id for fact in facts]
    assert len(set(created)) == 5
    first = client.memories.list(limit=2)
    assert len(first.items) == 2 and first.next_cursor is not None
    assert sorted(m.id for m in first) == sorted(created)

    async def scenario() -> list[str]:
        async with AsyncCognitionOS(client._http.base_url.__str__(), token=_token(client)) as sdk:
            return [m.id async for m in await sdk.memories.list(limit=2)]

    assert sorted(asyncio.run(scenario())) == sorted(created)


def _token(client: CognitionOS) -> str:
    return str(client._http.headers["Authorization"]).removeprefix("Bearer ")


def test_the_base_url_and_api_key_come_from_the_environment(
    client: CognitionOS, platform_gateway: ThreadedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = client.api_keys.create("from the environment")
    monkeypatch.setenv("COGNITIONOS_BASE_URL", platform_gateway.url)
    assert key.key is not None
    monkeypatch.setenv("COGNITIONOS_API_KEY", key.key)
    with CognitionOS() as from_environment:
        assert from_environment.me().id == client.me().id


def test_busy_answers_are_retried_after_their_retry_after(unique: str) -> None:
    answers = iter([(429, {"Retry-After": "0"}), (503, {"Retry-After": "0"}), (200, {})])
    seen: list[int] = []
    app = FastAPI()

    @app.get("/api/v1/runs/{run_id}")
    async def busy_then_fine(run_id: str) -> JSONResponse:
        status, headers = next(answers)
        seen.append(status)
        if status != 200:
            body = {"error": {"code": "model_busy", "message": "busy", "details": {}}}
            return JSONResponse(body, status_code=status, headers=headers)
        return JSONResponse(_run_body(run_id))

    with serving(app) as server, CognitionOS(server.url, max_retries=2) as sdk:
        assert sdk.runs.get(f"r{unique}").id == f"r{unique}"
    assert seen == [429, 503, 200]
    with serving(app) as server, CognitionOS(server.url, max_retries=0) as sdk:
        answers = iter([(429, {"Retry-After": "0"})])
        with pytest.raises(RateLimitError):
            sdk.runs.get("x")


def _run_body(run_id: str) -> dict:
    return {
        "id": run_id,
        "goal": "g",
        "plan_id": None,
        "status": "running",
        "budget_usd": None,
        "spent_usd": 0.0,
        "max_parallel": 4,
        "summarize": True,
        "result": None,
        "error": None,
        "created_at": "2026-12-06T00:00:00Z",
        "started_at": None,
        "finished_at": None,
        "tasks": [],
    }


def test_costs_read_as_money_never_as_six_zeros() -> None:
    from cognitionos_sdk.formatting import usd

    assert [usd(v) for v in (0, 0.0012345, 0.5, 5, 1234.5, 0.00001, None)] == [
        "$0",
        "$0.0012",
        "$0.50",
        "$5.00",
        "$1,234.50",
        "< $0.0001",
        "—",
    ]


def test_agents_plans_tools_spend_and_the_account_through_the_sdk(client: CognitionOS, script: RoleScript) -> None:
    assert any(agent["name"] for agent in client.agents.list())
    assert "execute_python" in {tool["name"] for tool in client.tools.list()}
    stored = client.tools.execute(
        "memory_store", {"content": "The SDK user likes plain tea", "memory_type": "preference"}
    )
    assert stored["status"] == "succeeded"
    memory_id = stored["result"]["id"]
    assert client.memories.update(memory_id, content="The SDK user likes green tea").content.endswith("green tea")

    script.add("planner", {"tasks": [task("only", tool="noop")], "risks": []})
    plan = client.plans.create("Do one small thing for the SDK")
    assert client.plans.get(plan["id"])["tasks"][0]["id"] == "only"

    assert {m["name"] for m in client.ai.models()["models"]} >= {"smollm2-135m-instruct"}
    assert client.ai.spend(group_by="model")["group_by"] == "model" and client.ai.budget() is None
    conversation = client.conversations.create()
    assert client.conversations.update(conversation.id, title="Renamed").title == "Renamed"
    assert client.memories.delete_matching(memory_type="preference") == 1
    with pytest.raises(PermissionDeniedError):  # admins only
        client.account.users()


@pytest.mark.needs_sandbox
def test_files_in_and_artifacts_out_through_the_sdk(client: CognitionOS, script: RoleScript, tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_bytes(b"city,temperature\nParis,21\nLyon,24\n")
    uploaded = client.files.upload(data)
    assert uploaded.name == "data.csv" and uploaded.media_type == "text/csv" and uploaded.kind == "input"
    code = (
        "rows = open('/work/inputs/data.csv').read().splitlines()[1:]\n"
        "open('/work/outputs/count.txt', 'w').write(str(len(rows)))"
    )
    script.add("planner", {"tasks": [task("count", tool="execute_python", inputs={"code": code})], "risks": []})
    run = client.runs.create("Count the cities", files=[uploaded.id])
    assert [f.name for f in run.input_files] == ["data.csv"]
    assert client.runs.wait(run.id, timeout=120).status == "succeeded"
    [artifact] = client.runs.artifacts(run.id).items
    assert artifact.name == "count.txt" and client.files.download(artifact.id) == b"2"
    saved = client.files.download(artifact.id, tmp_path)
    assert saved == tmp_path / "count.txt" and saved.read_bytes() == b"2"
    assert [f.id for f in client.files.list(kind="output").items] == [artifact.id]
    assert client.files.describe([uploaded.id])[0]["head"].startswith("city,temperature")
    client.files.delete(uploaded.id)
    with pytest.raises(NotFoundError):
        client.files.get(uploaded.id)

    async def scenario() -> None:
        async with AsyncCognitionOS(str(client._http.base_url), token=_token(client)) as sdk:
            made = await sdk.files.upload(b"async bytes", name="a.txt")
            assert made.media_type == "text/plain" and await sdk.files.download(made.id) == b"async bytes"
            assert [f.id for f in (await sdk.files.list(kind="input")).items] == [made.id]
            await sdk.files.delete(made.id)

    asyncio.run(scenario())


NOOP_PLAN = [task("check", tool="noop", name="Check {{city}}")]


def test_templates_schedules_and_webhooks_through_the_sdk(client: CognitionOS) -> None:
    template = client.templates.create(
        "sdk digest", "Check on {{city}}", parameters=[{"name": "city"}], plan=NOOP_PLAN, summarize=False
    )
    run = client.templates.run(template.id, {"city": "Metz"})
    assert run.goal == "Check on Metz" and run.template_version == 1
    assert client.runs.wait(run.id).status == "succeeded"
    assert client.templates.update(template.id, "Look at {{city}}", parameters=[{"name": "city"}]).version == 2
    assert client.templates.get(template.id, version=1).spec["goal"] == "Check on {{city}}"
    with pytest.raises(BadRequestError) as missing:
        client.templates.run(template.id, {})
    assert missing.value.code == "missing_parameter"

    schedule = client.schedules.create(
        "sdk daily", template.id, cron="0 9 * * *", timezone="Europe/Paris", parameters={"city": "Nancy"}
    )
    times = client.schedules.next(schedule.id, 3)
    assert len(times) == 3 and all(t.astimezone(ZoneInfo("Europe/Paris")).hour == 9 for t in times)
    fired = client.schedules.trigger(schedule.id)
    assert fired.schedule_id == schedule.id and fired.template_version == 2
    assert [e.kind for e in client.schedules.runs(schedule.id).items] == ["triggered"]
    assert client.schedules.pause(schedule.id).paused and client.schedules.next(schedule.id) == []
    assert not client.schedules.resume(schedule.id).paused
    with pytest.raises(BadRequestError) as bad:
        client.schedules.create("sdk bad", template.id, cron="99 * * * *", parameters={"city": "x"})
    assert bad.value.code == "invalid_cron"
    client.schedules.delete(schedule.id)

    hook = client.webhooks.create("http://127.0.0.1:9/hook", ["run.succeeded", "schedule.paused"])
    assert hook.secret is not None and hook.secret.startswith("whsec_")
    assert client.webhooks.get(hook.id).secret is None
    ping = client.webhooks.ping(hook.id)
    assert [d.id for d in client.webhooks.deliveries(hook.id).items] == [ping.id]
    assert client.webhooks.redeliver(hook.id, ping.id).status == "pending"
    assert client.webhooks.update(hook.id, enabled=False).enabled is False
    client.webhooks.delete(hook.id)
    client.templates.delete(template.id)
    with pytest.raises(NotFoundError):
        client.templates.get(template.id)


def test_the_async_client_automates_too(platform_gateway: ThreadedServer, unique: str) -> None:
    async def scenario() -> None:
        with CognitionOS(platform_gateway.url) as setup:
            setup.register(f"auto_{unique}", f"auto_{unique}@example.com", PASSWORD)
        async with AsyncCognitionOS(platform_gateway.url) as sdk:
            await sdk.sign_in(f"auto_{unique}", PASSWORD)
            template = await sdk.templates.create(
                "async", "Check on {{city}}", parameters=[{"name": "city"}], plan=NOOP_PLAN
            )
            run = await sdk.templates.run(template.id, {"city": "Caen"})
            assert (await sdk.runs.wait(run.id)).status == "succeeded"
            schedule = await sdk.schedules.create(
                "async", template.id, interval_seconds=3600, parameters={"city": "Caen"}
            )
            assert len(await sdk.schedules.next(schedule.id, 2)) == 2
            hook = await sdk.webhooks.create("http://127.0.0.1:9/hook", ["run.failed"])
            assert [h.id for h in (await sdk.webhooks.list()).items] == [hook.id]
            await sdk.schedules.delete(schedule.id)
            await sdk.webhooks.delete(hook.id)
            await sdk.templates.delete(template.id)

    asyncio.run(scenario())


def test_teams_through_the_sync_and_async_clients(
    client: CognitionOS, platform_gateway: ThreadedServer, unique: str
) -> None:
    [personal] = client.teams.organizations()
    team = client.teams.create(f"sdk team {unique}")
    assert team.role == "owner" and team.organization_id == personal.id
    key = client.api_keys.create("team key", team_id=team.id)
    assert key.team_id == team.id
    assert client.ai.budget(team_id=team.id) is None and client.ai.spend(team_id=team.id)["rows"] == []

    async def joiner() -> None:
        with CognitionOS(platform_gateway.url) as setup:
            setup.register(f"tjoin_{unique}", f"tjoin_{unique}@example.com", PASSWORD)
        client.teams.invite(team.id, f"tjoin_{unique}", role="viewer")
        async with AsyncCognitionOS(platform_gateway.url) as sdk:
            await sdk.sign_in(f"tjoin_{unique}", PASSWORD)
            [invitation] = await sdk.teams.invitations()
            await sdk.teams.accept(invitation.id)
            assert [(t.id, t.role) for t in await sdk.teams.list()] == [(team.id, "viewer")]
            me = await sdk.me()
            await sdk.teams.remove(team.id, me.id)
            assert await sdk.teams.list() == []

    asyncio.run(joiner())
    assert [m.role for m in client.teams.members(team.id)] == ["owner"]
    client.api_keys.revoke(key.id)
    client.teams.delete(team.id)
    assert client.teams.list() == []
