"""Schedules fire a template at each slot, exactly once across orchestrator processes. Time is injected: each test
asks the firer what is due at a given instant (tests/support/automation.fire), never waits for a real minute."""

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from database.models import Schedule
from services.agent_orchestrator.automation.schedules import Fired, slots_after
from services.agent_orchestrator.main import create_app
from tests.support import assert_error, eventually, serving, sql_scalar
from tests.support.automation import Automation, fire
from tests.support.platform import Platform, RunsClient, task
from tests.support.users import make_user, signed_client

SECOND = timedelta(seconds=1)
PARIS = ZoneInfo("Europe/Paris")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def mine(fired: list[Fired], schedule: dict[str, Any]) -> list[Fired]:
    return [f for f in fired if str(f.schedule_id) == schedule["id"]]


def runs_of(platform: Platform, schedule: dict[str, Any]) -> int:
    return int(
        str(sql_scalar(platform.database_url, "SELECT count(*) FROM runs WHERE schedule_id = :id", id=schedule["id"]))
    )


def move_next_slot(platform: Platform, schedule: dict[str, Any], slot: datetime) -> None:
    """As if the schedule had been waiting for `slot` (a date the test's clock then reaches)."""
    sql_scalar(
        platform.database_url,
        "UPDATE schedules SET next_slot_at = :slot, next_fire_at = :slot WHERE id = :id",
        slot=slot,
        id=schedule["id"],
    )


def test_every_minute_fires_one_run_per_slot_with_two_orchestrators(automation: Automation, platform: Platform) -> None:
    template = automation.template()
    schedule = automation.schedule(template["id"], cron="*/1 * * * *", overlap="allow_all")
    first = at(schedule["next_slot_at"])
    assert first.second == 0 and first > datetime.now(UTC) - SECOND
    with serving(create_app(platform.orchestrator_settings())) as second, ThreadPoolExecutor(2) as pool:
        for minute in range(3):
            now = first + timedelta(minutes=minute) + SECOND
            both = [pool.submit(fire, server, now) for server in (platform.orchestrator, second)]
            fired = [f for future in both for f in mine(future.result(), schedule)]
            assert [f.kind for f in fired] == ["fired"], fired
    slots = [at(e["slot_at"]) for e in automation.events(schedule["id"])]
    assert slots == [first + timedelta(minutes=m) for m in range(3)]
    assert runs_of(platform, schedule) == 3
    assert at(automation.get(f"/schedules/{schedule['id']}")["next_slot_at"]) == first + timedelta(minutes=3)


def test_skip_records_a_skipped_slot_while_the_previous_run_runs_and_buffer_one_waits(
    automation: Automation, runs: RunsClient, platform: Platform
) -> None:
    asking = task("ask", tool="ask_user", inputs={"question": "Which city?"})
    template = automation.template(plan=[asking])  # its run waits for a person: it is still running
    schedule = automation.schedule(template["id"])
    first = at(schedule["next_slot_at"])
    [started] = mine(fire(platform.orchestrator, first + SECOND), schedule)
    assert started.kind == "fired" and started.run_id is not None
    runs.wait(str(started.run_id), until=lambda r: r["status"] == "waiting")

    assert [f.kind for f in mine(fire(platform.orchestrator, first + timedelta(minutes=1, seconds=1)), schedule)] == [
        "skipped"
    ]
    assert runs_of(platform, schedule) == 1
    skipped = automation.events(schedule["id"])[-1]
    assert skipped["kind"] == "skipped" and "still running" in skipped["message"] and skipped["run_id"] is None

    assert automation.http.patch(runs.url(f"/schedules/{schedule['id']}"), json={"overlap": "buffer_one"}).is_success
    third = first + timedelta(minutes=2)
    assert [f.kind for f in mine(fire(platform.orchestrator, third + SECOND), schedule)] == ["buffered"]
    assert runs.http.post(runs.url(f"/runs/{started.run_id}/cancel")).is_success
    [buffered] = mine(fire(platform.orchestrator, third + 2 * SECOND), schedule)
    assert buffered.kind == "fired" and buffered.slot_at == third and runs_of(platform, schedule) == 2
    assert runs.http.post(runs.url(f"/runs/{buffered.run_id}/cancel")).is_success


def test_a_paused_schedule_does_not_fire_and_trigger_fires_now(
    automation: Automation, runs: RunsClient, platform: Platform
) -> None:
    template = automation.template()
    schedule = automation.schedule(template["id"], parameters={"city": "Rennes"})
    url = runs.url(f"/schedules/{schedule['id']}")
    paused = automation.http.patch(url, json={"paused": True}).json()
    assert paused["paused"] is True and automation.get(f"/schedules/{schedule['id']}/next")["times"] == []
    assert mine(fire(platform.orchestrator, at(schedule["next_slot_at"]) + timedelta(minutes=5)), schedule) == []

    triggered = automation.http.post(f"{url}/trigger")
    assert triggered.status_code == 202, triggered.text
    run = triggered.json()
    assert run["schedule_id"] == schedule["id"] and run["template_id"] == template["id"]
    assert runs.wait(run["id"])["status"] == "succeeded" and run["goal"] == "Check on Rennes"
    [event] = automation.events(schedule["id"])
    assert event["kind"] == "triggered" and event["run_id"] == run["id"] and event["run_status"] == "succeeded"

    resumed = automation.http.patch(url, json={"paused": False}).json()
    assert resumed["paused"] is False and at(resumed["next_slot_at"]) > datetime.now(UTC) - SECOND


@pytest.mark.needs_sandbox
def test_failed_runs_in_a_row_pause_the_schedule_and_say_so(
    automation: Automation, runs: RunsClient, platform: Platform
) -> None:
    failing = task("boom", tool="execute_python", inputs={"code": "raise SystemExit('boom')"}, fallback_strategy="fail")
    template = automation.template(plan=[failing])
    hook = automation.post("/webhooks", {"url": "http://127.0.0.1:9/hook", "event_types": ["schedule.paused"]})
    schedule = automation.schedule(template["id"], overlap="allow_all", pause_after_failures=2)
    first = at(schedule["next_slot_at"])
    for minute in range(2):
        [fired] = mine(fire(platform.orchestrator, first + timedelta(minutes=minute, seconds=1)), schedule)
        assert runs.wait(str(fired.run_id))["status"] == "failed"
    shown = automation.get(f"/schedules/{schedule['id']}")
    assert shown["paused"] is True and shown["pause_reason"] == "2 runs in a row failed"
    assert automation.events(schedule["id"])[-1]["kind"] == "paused"
    assert mine(fire(platform.orchestrator, first + timedelta(minutes=5)), schedule) == []
    [told] = automation.get(f"/webhooks/{hook['id']}/deliveries")["items"]
    assert told["event_type"] == "schedule.paused" and told["payload"]["schedule_id"] == schedule["id"]


def test_a_dst_change_in_paris_fires_at_the_right_wall_time(automation: Automation, platform: Platform) -> None:
    template = automation.template()
    weekly = automation.schedule(template["id"], cron="0 9 * * 0", timezone="Europe/Paris")
    times = [at(t) for t in automation.get(f"/schedules/{weekly['id']}/next?count=30")["times"]]
    assert {(t.astimezone(PARIS).hour, t.astimezone(PARIS).minute) for t in times} == {(9, 0)}
    assert {t.astimezone(UTC).hour for t in times} == {7, 8}  # 08:00 UTC in winter (CET), 07:00 in summer (CEST)

    daily = automation.schedule(template["id"], cron="0 9 * * *", timezone="Europe/Paris", overlap="allow_all")
    move_next_slot(platform, daily, at("2027-03-27T08:00:00+00:00"))  # Saturday 09:00 CET; Sunday is CEST
    assert [f.kind for f in mine(fire(platform.orchestrator, at("2027-03-27T08:00:01+00:00")), daily)] == ["fired"]
    assert at(automation.get(f"/schedules/{daily['id']}")["next_slot_at"]) == at("2027-03-28T07:00:00+00:00")
    assert mine(fire(platform.orchestrator, at("2027-03-28T06:59:59+00:00")), daily) == []
    [sunday] = mine(fire(platform.orchestrator, at("2027-03-28T07:00:01+00:00")), daily)
    assert sunday.kind == "fired" and sunday.slot_at == at("2027-03-28T07:00:00+00:00")


def test_a_wall_time_that_does_not_exist_or_occurs_twice_fires_once() -> None:
    schedule = Schedule(cron="30 2 * * *", timezone="Europe/Paris")
    spring = slots_after(schedule, at("2027-03-27T12:00:00+01:00"))
    assert next(spring) == at("2027-03-28T03:00:00+02:00")  # 02:30 is skipped by the clock: fired as it resumes
    autumn = slots_after(schedule, at("2027-10-30T12:00:00+02:00"))
    assert [next(autumn), next(autumn)] == [at("2027-10-31T02:30:00+02:00"), at("2027-11-01T02:30:00+01:00")]


def test_after_two_hours_down_a_schedule_fires_once_not_120_times(automation: Automation, platform: Platform) -> None:
    template = automation.template()
    minutely = automation.schedule(template["id"], overlap="allow_all")
    first = at(minutely["next_slot_at"])
    fired = mine(fire(platform.orchestrator, first + timedelta(hours=2, seconds=1)), minutely)
    assert [(f.kind, f.slot_at) for f in fired] == [("fired", first + timedelta(hours=2))]
    assert runs_of(platform, minutely) == 1
    assert at(automation.get(f"/schedules/{minutely['id']}")["next_slot_at"]) == first + timedelta(hours=2, minutes=1)

    hourly = automation.schedule(template["id"], cron="0 * * * *", overlap="allow_all", catchup_window_seconds=600)
    late = at(hourly["next_slot_at"]) + timedelta(hours=2, minutes=30)  # the latest slot is 30 minutes old
    [missed] = mine(fire(platform.orchestrator, late), hourly)
    assert missed.kind == "skipped" and runs_of(platform, hourly) == 0
    assert Counter(e["kind"] for e in automation.events(hourly["id"])) == Counter({"skipped": 1})


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"cron": "61 * * * *"}, "invalid_cron"),
        ({"cron": "* * * *"}, "invalid_cron"),
        ({"cron": "*/5 * * * * *"}, "invalid_cron"),
        ({"cron": "0 9 * * *", "timezone": "Mars/Olympus_Mons"}, "unknown_timezone"),
        ({"cron": None, "interval_seconds": 10}, "interval_too_short"),
        ({"cron": "0 9 * * *", "interval_seconds": 3600}, "cron_or_interval"),
        ({"cron": None}, "cron_or_interval"),
        ({"parameters": {"country": "France"}}, "unknown_parameter"),
        ({"parameters": {"city": 12}}, "invalid_parameter"),
    ],
)
def test_bad_schedules_are_422(automation: Automation, fields: dict[str, Any], code: str) -> None:
    template = automation.template()
    body = {"name": "bad", "template_id": template["id"], "cron": "*/1 * * * *", **fields}
    assert_error(automation.http.post(automation.runs.url("/schedules"), json=body), 422, code)


def test_a_template_with_a_required_parameter_needs_it_in_the_schedule(automation: Automation) -> None:
    template = automation.template(parameters=[{"name": "city"}])
    body = {"name": "no city", "template_id": template["id"], "cron": "0 9 * * *"}
    assert_error(automation.http.post(automation.runs.url("/schedules"), json=body), 422, "missing_parameter")


def test_an_interval_fires_every_interval(automation: Automation, platform: Platform) -> None:
    template = automation.template()
    schedule = automation.schedule(template["id"], cron=None, interval_seconds=300, overlap="allow_all")
    first = at(schedule["next_slot_at"])
    times = [at(t) for t in automation.get(f"/schedules/{schedule['id']}/next?count=3")["times"]]
    assert times == [first, first + timedelta(minutes=5), first + timedelta(minutes=10)]
    assert [f.kind for f in mine(fire(platform.orchestrator, first + SECOND), schedule)] == ["fired"]
    assert at(automation.get(f"/schedules/{schedule['id']}")["next_slot_at"]) == first + timedelta(minutes=5)


def test_another_user_gets_404_on_every_schedule_route(automation: Automation, platform: Platform) -> None:
    schedule = automation.schedule(automation.template()["id"])
    with signed_client(make_user(platform.database_url)) as stranger:
        base = automation.runs.url(f"/schedules/{schedule['id']}")
        for answer in (
            stranger.get(base),
            stranger.patch(base, json={"paused": True}),
            stranger.delete(base),
            stranger.post(f"{base}/trigger"),
            stranger.get(f"{base}/next"),
            stranger.get(f"{base}/runs"),
        ):
            assert_error(answer, 404, "schedule_not_found")
        body = {"name": "theirs", "template_id": schedule["template_id"], "cron": "0 9 * * *"}
        assert_error(stranger.post(automation.runs.url("/schedules"), json=body), 404, "template_not_found")
        assert stranger.get(automation.runs.url("/schedules")).json()["items"] == []


def test_the_loop_fires_a_due_schedule_on_the_real_clock(automation: Automation, platform: Platform) -> None:
    schedule = automation.schedule(automation.template()["id"], cron="0 0 1 1 *", overlap="allow_all")
    with serving(create_app(platform.orchestrator_settings(schedules_enabled=True, schedule_poll_seconds=0.05))):
        move_next_slot(platform, schedule, datetime.now(UTC))
        eventually(lambda: runs_of(platform, schedule) == 1, failure=lambda: str(automation.events(schedule["id"])))
    [event] = automation.events(schedule["id"])
    assert event["kind"] == "fired" and at(automation.get(f"/schedules/{schedule['id']}")["next_slot_at"]).month == 1
