"""The audit log through the gateway: each administrative action writes exactly one event (actor, request id,
target), a refused change writes none, no secret reaches the details, and only an admin reads or verifies it."""

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import ThreadedServer, assert_error, eventually
from tests.support.platform import task
from tests.support.users import RegisteredUser, register_and_login


class Audited:
    """Calls made with a fresh X-Request-ID each, and the audit events each one wrote."""

    def __init__(self, url: str, admin: dict[str, str]) -> None:
        self.http = httpx.Client(base_url=url, timeout=60)
        self.admin = admin

    def call(self, method: str, path: str, headers: dict[str, str], **kwargs: Any) -> tuple[httpx.Response, str]:
        request_id = f"audit-{uuid.uuid4().hex}"
        answer = self.http.request(method, path, headers={**headers, "X-Request-ID": request_id}, **kwargs)
        return answer, request_id

    def events_of(self, request_id: str) -> list[dict[str, Any]]:
        found = [e for e in self.all_events() if e["request_id"] == request_id]
        return found

    def all_events(self) -> list[dict[str, Any]]:
        answer = self.http.get("/api/v1/auth/audit/events", params={"limit": 500}, headers=self.admin)
        assert answer.status_code == 200, answer.text
        events: list[dict[str, Any]] = answer.json()["items"]
        return events

    def one(self, request_id: str, action: str, *, actor: str, target_id: str) -> dict[str, Any]:
        [event] = self.events_of(request_id)
        assert event["action"] == action and event["actor_user_id"] == actor and event["target_id"] == target_id, event
        return event


@pytest.fixture
def audited(platform_gateway: ThreadedServer, admin_headers: dict[str, str]) -> Iterator[Audited]:
    client = Audited(platform_gateway.url, admin_headers)
    yield client
    client.http.close()


@pytest.fixture
def member(platform_gateway: ThreadedServer, unique: str) -> RegisteredUser:
    with httpx.Client(base_url=platform_gateway.url, timeout=30) as client:
        return register_and_login(client, f"audit_{unique}")


def admin_id(audited: Audited) -> str:
    me: str = audited.http.get("/api/v1/auth/me", headers=audited.admin).json()["id"]
    return me


def test_each_administrative_action_writes_one_event_with_its_actor_request_and_target(
    audited: Audited, member: RegisteredUser
) -> None:
    user, admin = member.headers, audited.admin
    root = admin_id(audited)

    made, rid = audited.call("POST", "/api/v1/auth/api-keys", user, json={"name": "script", "rpm_limit": 5})
    key = made.json()
    created = audited.one(rid, "api_key.created", actor=member.id, target_id=key["id"])
    assert created["target_type"] == "api_key" and created["details"]["rpm_limit"] == 5
    assert key["key"] not in json.dumps(created)
    _, rid = audited.call("DELETE", f"/api/v1/auth/api-keys/{key['id']}", user)
    audited.one(rid, "api_key.revoked", actor=member.id, target_id=key["id"])

    _, rid = audited.call("PATCH", f"/api/v1/auth/users/{member.id}/role", admin, json={"role": "agent"})
    changed = audited.one(rid, "user.role_changed", actor=root, target_id=member.id)
    assert changed["details"] == {"before": "user", "after": "agent"} and changed["actor_role"] == "admin"
    _, rid = audited.call("PATCH", f"/api/v1/auth/users/{member.id}/role", admin, json={"role": "user"})
    audited.one(rid, "user.role_changed", actor=root, target_id=member.id)

    _, rid = audited.call("PUT", f"/api/v1/ai/admin/budgets/user/{member.id}", admin, json={"daily_usd": "2"})
    budget = audited.one(rid, "budget.set", actor=root, target_id=member.id)
    assert budget["details"]["before"] is None and budget["details"]["after"]["daily_usd"] == "2"


def test_orchestrator_actions_are_audited(audited: Audited, member: RegisteredUser) -> None:
    user = member.headers
    agent = {"name": f"auditor-{uuid.uuid4().hex[:6]}", "role": "executor", "system_prompt": "You check things."}
    answer, rid = audited.call("POST", "/api/v1/agents", user, json=agent)
    assert answer.status_code == 201, answer.text
    audited.one(rid, "agent.created", actor=member.id, target_id=answer.json()["id"])

    asking = task("ask", tool="ask_user", inputs={"question": "Which city?"})
    body = {"name": "audited", "goal": "Ask about a city", "plan": [asking], "summarize": False}
    template, rid = audited.call("POST", "/api/v1/templates", user, json=body)
    audited.one(rid, "template.created", actor=member.id, target_id=template.json()["id"])
    schedule_body = {"name": "audited", "template_id": template.json()["id"], "cron": "0 9 * * *"}
    schedule, rid = audited.call("POST", "/api/v1/schedules", user, json=schedule_body)
    audited.one(rid, "schedule.created", actor=member.id, target_id=schedule.json()["id"])
    path = f"/api/v1/schedules/{schedule.json()['id']}"
    _, rid = audited.call("PATCH", path, user, json={"paused": True})
    updated = audited.one(rid, "schedule.updated", actor=member.id, target_id=schedule.json()["id"])
    assert updated["details"] == {"before": {"paused": False}, "after": {"paused": True}}
    run, rid = audited.call("POST", f"{path}/trigger", user)
    audited.one(rid, "schedule.triggered", actor=member.id, target_id=schedule.json()["id"])

    run_id = run.json()["id"]
    waiting = eventually(lambda: audited.http.get(f"/api/v1/runs/{run_id}/approvals", headers=user).json()["items"])
    decision = {"decision": "reject", "note": "not now"}
    _, rid = audited.call("POST", f"/api/v1/approvals/{waiting[0]['id']}/decision", user, json=decision)
    decided = audited.one(rid, "approval.decided", actor=member.id, target_id=waiting[0]["id"])
    assert decided["details"]["decision"] == "reject" and decided["details"]["run_id"] == run_id

    hook, rid = audited.call(
        "POST", "/api/v1/webhooks", user, json={"url": "http://127.0.0.1:9/h", "event_types": ["run.failed"]}
    )
    made = audited.one(rid, "webhook.created", actor=member.id, target_id=hook.json()["id"])
    assert hook.json()["secret"] not in json.dumps(made)
    _, rid = audited.call("DELETE", f"/api/v1/webhooks/{hook.json()['id']}", user)
    audited.one(rid, "webhook.deleted", actor=member.id, target_id=hook.json()["id"])
    _, rid = audited.call("DELETE", path, user)
    audited.one(rid, "schedule.deleted", actor=member.id, target_id=schedule.json()["id"])


def test_a_cancelled_run_and_a_memory_deletion_by_filter_are_audited(audited: Audited, member: RegisteredUser) -> None:
    user = member.headers
    asking = task("ask", tool="ask_user", inputs={"question": "Which city?"})
    body = {"name": "to cancel", "goal": "Ask about a city", "plan": [asking], "summarize": False}
    template = audited.http.post("/api/v1/templates", headers=user, json=body).json()
    run = audited.http.post(f"/api/v1/templates/{template['id']}/runs", headers=user, json={}).json()
    _, rid = audited.call("POST", f"/api/v1/runs/{run['id']}/cancel", user)
    audited.one(rid, "run.cancelled", actor=member.id, target_id=run["id"])

    stored = audited.http.post(
        "/api/v1/memories", headers=user, json={"content": "The audit test likes tea", "memory_type": "preference"}
    )
    assert stored.status_code == 201, stored.text
    _, rid = audited.call("DELETE", "/api/v1/memories", user, params={"memory_type": "preference"})
    deleted = audited.one(rid, "memory.deleted_by_filter", actor=member.id, target_id=member.id)
    assert deleted["details"]["deleted"] == 1 and "likes tea" not in json.dumps(deleted)


def test_a_refused_change_writes_no_event(audited: Audited, member: RegisteredUser) -> None:
    root = admin_id(audited)
    answer, rid = audited.call("PATCH", f"/api/v1/auth/users/{root}/role", audited.admin, json={"role": "user"})
    assert_error(answer, 403, "self_demotion")
    answer, rid_hook = audited.call(
        "POST", "/api/v1/webhooks", member.headers, json={"url": "http://10.0.0.1/h", "event_types": ["run.failed"]}
    )
    assert_error(answer, 422, "url_not_allowed")
    answer, rid_schedule = audited.call(
        "POST", "/api/v1/schedules", member.headers, json={"name": "x", "template_id": str(uuid.uuid4()), "cron": "bad"}
    )
    assert answer.status_code in (404, 422)
    assert not audited.events_of(rid) and not audited.events_of(rid_hook) and not audited.events_of(rid_schedule)


def test_only_an_admin_reads_exports_and_verifies_the_log(audited: Audited, member: RegisteredUser) -> None:
    for path, method in (
        ("/api/v1/auth/audit/events", "GET"),
        ("/api/v1/auth/audit/events/export", "GET"),
        ("/api/v1/auth/audit/verify", "POST"),
    ):
        assert_error(audited.http.request(method, path, headers=member.headers), 403)
    verified = audited.http.post("/api/v1/auth/audit/verify", headers=audited.admin).json()
    assert verified["ok"] is True and verified["first_broken_id"] is None and verified["checked"] >= 1
    exported = audited.http.get(
        "/api/v1/auth/audit/events/export", headers=audited.admin, params={"action": "api_key.*"}
    )
    lines = [json.loads(line) for line in exported.text.splitlines()]
    assert lines and all(e["action"].startswith("api_key.") for e in lines)
    assert [e["id"] for e in lines] == sorted(e["id"] for e in lines)
    first = audited.http.get("/api/v1/auth/audit/events", headers=audited.admin, params={"limit": 1}).json()
    second = audited.http.get(
        "/api/v1/auth/audit/events", headers=audited.admin, params={"limit": 1, "cursor": first["next_cursor"]}
    ).json()
    assert second["items"][0]["id"] < first["items"][0]["id"]
    for params in ({"cursor": "1; DROP TABLE audit_events"}, {"cursor": "9" * 40}):
        assert_error(audited.http.get("/api/v1/auth/audit/events", headers=audited.admin, params=params), 400)
    assert_error(
        audited.http.get("/api/v1/auth/audit/events", headers=audited.admin, params={"actor_user_id": "me"}), 422
    )
