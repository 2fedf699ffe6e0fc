"""Budgets: reserve before, settle after; concurrent calls never overspend; 402 or downgrade when out."""

import asyncio
import uuid
from decimal import Decimal

import httpx

from tests.support import ThreadedServer, assert_error, sql_scalar
from tests.support.ledger import usage_rows
from tests.support.providers import Providers
from tests.support.users import identity_headers, make_user, signed_client

# gpt-4o-mini: 0.15 $/Mtok in, 0.60 $/Mtok out. max_tokens=1000 reserves ~0.0006 $ per call; a real call costs
# 0.00000585 $.


def _set_budget(admin_ai: httpx.Client, scope: str, scope_id: str, **limits: object) -> dict:
    response = admin_ai.put(f"/admin/budgets/{scope}/{scope_id}", json=limits)
    assert response.status_code == 200, response.text
    return response.json()


def test_over_budget_is_402_with_a_clear_body(
    ai: httpx.Client, admin_ai: httpx.Client, user_id: str, providers: Providers
) -> None:
    _set_budget(admin_ai, "user", user_id, daily_usd="0.0001")
    error = assert_error(
        ai.post("/complete", json={"model": "gpt-4o-mini", "prompt": "x", "max_tokens": 1000}), 402, "budget_exceeded"
    )
    assert (
        error["details"]["scope"] == "user"
        and error["details"]["period"] == "day"
        and error["details"]["limit"] == "0.0001"
    )
    assert providers.openai_app.state.requests == []
    # A call whose worst case fits still goes through.
    assert ai.post("/complete", json={"model": "gpt-4o-mini", "prompt": "x", "max_tokens": 50}).status_code == 200


def test_streaming_is_budgeted_too(ai: httpx.Client, admin_ai: httpx.Client, user_id: str) -> None:
    _set_budget(admin_ai, "user", user_id, daily_tokens=100)
    assert_error(
        ai.post("/complete", json={"model": "gpt-4o-mini", "prompt": "x", "max_tokens": 500, "stream": True}), 402
    )
    assert_error(ai.post("/embed", json={"texts": ["word " * 200]}), 402)


def test_concurrent_calls_cannot_overspend(
    runtime_server: ThreadedServer, admin_ai: httpx.Client, user_id: str, database_url: str, providers: Providers
) -> None:
    limit = Decimal("0.003")  # room for 4 worst-case reservations of ~0.0006 $, not 5
    # A lifetime budget: a daily one would start afresh if the test ran across midnight (it once did).
    _set_budget(admin_ai, "user", user_id, total_usd=str(limit))
    providers.openai_app.state.script.always = ("slow", 1.0)  # all twelve calls are in flight together

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=runtime_server.url, timeout=60) as client:
            calls = [
                client.post(
                    "/complete",
                    headers=identity_headers(user_id),
                    json={"model": "gpt-4o-mini", "prompt": "x", "max_tokens": 1000},
                )
                for _ in range(12)
            ]
            return [r.status_code for r in await asyncio.gather(*calls)]

    statuses = asyncio.run(burst())
    assert statuses.count(200) == 4 and statuses.count(402) == 8
    worst_case_each = (Decimal("0.15") * 20 + Decimal("0.60") * 1000) / 1_000_000
    assert statuses.count(200) * worst_case_each <= limit
    rows = usage_rows(database_url, user_id, expected=statuses.count(200))
    assert sum(r.cost_usd for r in rows) <= limit
    # After settling, real costs (tiny) are what counts, and reservations are released.
    usage = admin_ai.get(f"/admin/budgets/user/{user_id}").json()["usage"][0]
    assert usage["reserved_usd"] == 0 and usage["reserved_tokens"] == 0
    assert 0 < usage["spent_usd"] <= float(limit) and usage["tokens"] == 4 * 18


def _owned_run(database_url: str) -> tuple[str, str]:
    """A user and a run of theirs, as rows: (user id, run id)."""
    owner = make_user(database_url)
    run_id = str(uuid.uuid4())
    insert = "INSERT INTO runs (id, user_id, goal) VALUES (:r, :u, 'a goal') RETURNING 1"
    sql_scalar(database_url, insert, r=run_id, u=owner)
    return owner, run_id


def test_run_budget(runtime_server: ThreadedServer, admin_ai: httpx.Client, database_url: str) -> None:
    owner, run_id = _owned_run(database_url)
    _set_budget(admin_ai, "run", run_id, total_usd="0.0001")
    with signed_client(owner, base_url=runtime_server.url) as ai:
        error = assert_error(
            ai.post("/complete", json={"model": "gpt-4o-mini", "prompt": "x", "max_tokens": 1000, "run_id": run_id}),
            402,
        )
    assert error["details"]["scope"] == "run" and error["details"]["period"] == "total"


def test_a_user_cannot_charge_calls_to_another_users_run(
    runtime_server: ThreadedServer, database_url: str, providers: Providers
) -> None:
    _, alices_run = _owned_run(database_url)
    bob = make_user(database_url)
    with signed_client(bob, base_url=runtime_server.url) as as_bob:
        for path, body in (
            ("/complete", {"model": "gpt-4o-mini", "prompt": "x", "max_tokens": 5, "run_id": alices_run}),
            (
                "/complete",
                {"model": "gpt-4o-mini", "prompt": "x", "max_tokens": 5, "run_id": alices_run, "stream": True},
            ),
            ("/embed", {"texts": ["spend alice's budget"], "run_id": alices_run}),
            ("/complete", {"model": "gpt-4o-mini", "prompt": "x", "max_tokens": 5, "run_id": str(uuid.uuid4())}),
        ):
            assert_error(as_bob.post(path, json=body), 404, "run_not_found")
    assert providers.openai_app.state.requests == []
    assert sql_scalar(database_url, "SELECT count(*) FROM llm_usage WHERE run_id = :r", r=alices_run) == 0


def test_downgrade_policy_answers_with_the_cheaper_model(
    ai: httpx.Client, admin_ai: httpx.Client, user_id: str
) -> None:
    _set_budget(admin_ai, "user", user_id, daily_usd="0.0001", policy="downgrade")
    body = ai.post("/complete", json={"model": "gpt-4o-mini", "prompt": "Say OK", "max_tokens": 1000}).json()
    assert body["model_used"] == "smollm2-135m-instruct" and body["provider"] == "local" and body["cost_usd"] == 0


def test_budget_admin_is_admin_only_and_validated(ai: httpx.Client, admin_ai: httpx.Client, user_id: str) -> None:
    assert_error(ai.put(f"/admin/budgets/user/{user_id}", json={"daily_usd": "1"}), 403)
    assert_error(ai.get("/admin/spend"), 403)
    assert_error(admin_ai.put(f"/admin/budgets/galaxy/{user_id}", json={}), 422)
    assert_error(admin_ai.put(f"/admin/budgets/user/{user_id}", json={"daily_usd": "-1"}), 422)
    assert_error(admin_ai.get(f"/admin/budgets/user/{uuid.uuid4()}"), 404)


def test_spend_by_user_and_model(ai: httpx.Client, admin_ai: httpx.Client, user_id: str, database_url: str) -> None:
    ai.post("/complete", json={"model": "gpt-4o-mini", "prompt": "x"})
    ai.post("/complete", json={"model": "claude-3-5-haiku-latest", "prompt": "x"})
    usage_rows(database_url, user_id, expected=2)
    by_user = {row["key"]: row for row in admin_ai.get("/admin/spend", params={"group_by": "user"}).json()["rows"]}
    assert by_user[user_id]["calls"] == 2 and by_user[user_id]["cost_usd"] > 0
    by_model = {row["key"] for row in admin_ai.get("/admin/spend", params={"group_by": "model"}).json()["rows"]}
    assert {"gpt-4o-mini", "claude-3-5-haiku-latest"} <= by_model
    assert_error(admin_ai.get("/admin/spend", params={"group_by": "planet"}), 422)


def test_a_user_sees_only_their_own_spend_and_budget(
    ai: httpx.Client, admin_ai: httpx.Client, user_id: str, database_url: str
) -> None:
    assert ai.get("/budget").json() is None
    _set_budget(admin_ai, "user", user_id, daily_usd="2")
    ai.post("/complete", json={"model": "gpt-4o-mini", "prompt": "x"})
    usage_rows(database_url, user_id, expected=1)
    other = str(uuid.uuid4())
    by_model = ai.get("/spend", params={"group_by": "model"}).json()["rows"]
    assert [(row["key"], row["calls"]) for row in by_model] == [("gpt-4o-mini", 1)] and by_model[0]["cost_usd"] > 0
    (today,) = ai.get("/spend", params={"group_by": "day"}).json()["rows"]
    assert today["calls"] == 1
    assert_error(ai.get("/spend", params={"group_by": "user"}), 403)  # other users' spend is the admin's view
    assert_error(ai.get("/spend", params={"everyone": "true"}), 403)
    everyone = admin_ai.get("/spend", params={"everyone": "true", "group_by": "user"}).json()["rows"]
    assert user_id in {row["key"] for row in everyone}
    budget = ai.get("/budget").json()
    assert budget["scope_id"] == user_id and float(budget["daily_usd"]) == 2
    (daily,) = [u for u in budget["usage"] if u["period"] == "day"]
    assert daily["limit_usd"] == 2 and daily["spent_usd"] > 0
    assert other not in {row["key"] for row in by_model}


def test_parallel_calls_on_the_embedded_model_cannot_pass_a_token_cap(
    runtime_server: ThreadedServer, admin_ai: httpx.Client, user_id: str, database_url: str
) -> None:
    """The reservation counts the prompt through the model's own chat template (its default system prompt
    included); counting the text alone let 8 parallel calls use 430 tokens of a 400-token budget."""
    _set_budget(admin_ai, "user", user_id, daily_tokens=400)

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=runtime_server.url, timeout=120) as client:
            calls = [
                client.post(
                    "/complete",
                    headers=identity_headers(user_id),
                    json={"model": "local", "prompt": f"Count to ten, call {n}.", "max_tokens": 40, "temperature": 0},
                )
                for n in range(8)
            ]
            return [r.status_code for r in await asyncio.gather(*calls)]

    statuses = asyncio.run(burst())
    # 429: the embedded model's lane refused what would have waited too long (model_busy); 402: over the budget.
    assert set(statuses) <= {200, 402, 429} and statuses.count(200) >= 1
    used = sum(
        r.prompt_tokens + r.completion_tokens for r in usage_rows(database_url, user_id, expected=statuses.count(200))
    )
    assert used <= 400, (used, statuses)
