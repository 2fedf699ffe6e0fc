"""Organisations and teams through the gateway, on every real service: members share a team's runs, templates,
agents, memories and files by role; other teams' resources are 404; private rows stay private; a key bound to a
team reaches that team only, and nothing once its user has left."""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support import ThreadedServer, assert_error, eventually, serving
from tests.support.mcp_server import create_mcp_test_app
from tests.support.platform import task
from tests.support.users import RegisteredUser, register_and_login


@pytest.fixture
def http(platform_gateway: ThreadedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=platform_gateway.url, timeout=60) as client:
        yield client


@dataclass
class Team:
    id: str
    owner: RegisteredUser
    member: RegisteredUser
    viewer: RegisteredUser


def ok(answer: httpx.Response, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json() if answer.content else None


def join(http: httpx.Client, team_id: str, owner: RegisteredUser, user: RegisteredUser, role: str) -> None:
    invited = ok(
        http.post(
            f"/api/v1/teams/{team_id}/invitations",
            headers=owner.headers,
            json={"username": user.username, "role": role},
        ),
        201,
    )
    mine = ok(http.get("/api/v1/teams/invitations", headers=user.headers))
    assert [i["id"] for i in mine] == [invited["id"]] and mine[0]["role"] == role
    ok(http.post(f"/api/v1/teams/invitations/{invited['id']}/accept", headers=user.headers), 204)


def make_team(http: httpx.Client, name: str) -> Team:
    owner, member, viewer = (register_and_login(http, f"{role}_{name}") for role in ("own", "mem", "view"))
    team = ok(http.post("/api/v1/teams", headers=owner.headers, json={"name": f"team {name}"}), 201)
    assert team["role"] == "owner"
    join(http, team["id"], owner, member, "member")
    join(http, team["id"], owner, viewer, "viewer")
    return Team(team["id"], owner, member, viewer)


@pytest.fixture
def team(http: httpx.Client, unique: str) -> Team:
    return make_team(http, unique)


def waiting_template(http: httpx.Client, headers: dict[str, str], *, team_id: str | None, name: str) -> dict[str, Any]:
    """A template whose run waits for a person (it stays open while the test looks at it)."""
    asking = task("ask", tool="ask_user", inputs={"question": "Which city?"})
    body = {"name": name, "goal": "Ask about a city", "plan": [asking], "summarize": False, "team_id": team_id}
    return ok(http.post("/api/v1/templates", headers=headers, json=body), 201)


def test_a_personal_organisation_is_made_on_first_use(http: httpx.Client, unique: str) -> None:
    user = register_and_login(http, f"org_{unique}")
    first = ok(http.get("/api/v1/organizations", headers=user.headers))
    again = ok(http.get("/api/v1/organizations", headers=user.headers))
    assert len(first) == 1 and first[0]["personal"] and first[0]["owner_id"] == user.id and again == first
    team = ok(http.post("/api/v1/teams", headers=user.headers, json={"name": "solo"}), 201)
    assert team["organization_id"] == first[0]["id"]


def test_members_join_by_invitation_with_their_role(http: httpx.Client, team: Team) -> None:
    members = ok(http.get(f"/api/v1/teams/{team.id}/members", headers=team.viewer.headers))
    assert {m["username"]: m["role"] for m in members} == {
        team.owner.username: "owner",
        team.member.username: "member",
        team.viewer.username: "viewer",
    }
    for user in (team.member, team.viewer):
        assert [t["id"] for t in ok(http.get("/api/v1/teams", headers=user.headers))] == [team.id]
    # Only owners invite, change roles or remove others.
    for user in (team.member, team.viewer):
        refused = http.post(
            f"/api/v1/teams/{team.id}/invitations", headers=user.headers, json={"username": team.owner.username}
        )
        assert_error(refused, 403, "team_owner_required")
        assert_error(
            http.delete(f"/api/v1/teams/{team.id}/members/{team.owner.id}", headers=user.headers),
            403,
            "team_owner_required",
        )
    promoted = http.patch(
        f"/api/v1/teams/{team.id}/members/{team.viewer.id}", headers=team.owner.headers, json={"role": "member"}
    )
    assert ok(promoted)["role"] == "member"


def test_the_last_owner_cannot_leave_or_step_down(http: httpx.Client, team: Team) -> None:
    leave = http.delete(f"/api/v1/teams/{team.id}/members/{team.owner.id}", headers=team.owner.headers)
    assert_error(leave, 409, "last_owner")
    demote = http.patch(
        f"/api/v1/teams/{team.id}/members/{team.owner.id}", headers=team.owner.headers, json={"role": "viewer"}
    )
    assert_error(demote, 409, "last_owner")


def test_a_viewer_reads_team_runs_but_cannot_start_or_change_them(http: httpx.Client, team: Team) -> None:
    template = waiting_template(http, team.owner.headers, team_id=team.id, name="team-ask")
    assert template["team_id"] == team.id
    run = ok(http.post(f"/api/v1/templates/{template['id']}/runs", headers=team.member.headers, json={}), 202)
    assert run["team_id"] == team.id

    viewer = team.viewer.headers
    assert ok(http.get(f"/api/v1/runs/{run['id']}", headers=viewer))["id"] == run["id"]
    assert run["id"] in [r["id"] for r in ok(http.get("/api/v1/runs", headers=viewer))["items"]]
    assert template["id"] in [t["id"] for t in ok(http.get("/api/v1/templates", headers=viewer))["items"]]
    for refused in (
        http.post(f"/api/v1/templates/{template['id']}/runs", headers=viewer, json={}),
        http.post("/api/v1/runs", headers=viewer, json={"goal": "Start a team run", "team_id": team.id}),
        http.post(f"/api/v1/runs/{run['id']}/cancel", headers=viewer),
        http.post(f"/api/v1/runs/{run['id']}/retry", headers=viewer, json={}),
        http.post(f"/api/v1/runs/{run['id']}/inputs", headers=viewer, json={"answer": "Paris"}),
        http.put(f"/api/v1/templates/{template['id']}", headers=viewer, json={"goal": "Changed by a viewer"}),
        http.delete(f"/api/v1/templates/{template['id']}", headers=viewer),
        http.post(
            "/api/v1/schedules",
            headers=viewer,
            json={"name": "nightly", "template_id": template["id"], "cron": "0 3 * * *"},
        ),
        http.post(
            "/api/v1/agents",
            headers=viewer,
            json={"name": f"v-{uuid.uuid4().hex[:8]}", "role": "executor", "team_id": team.id},
        ),
    ):
        assert_error(refused, 403, "team_viewer")
    # The run's question: the viewer sees it but does not answer it; a member does, and the run goes on.
    question = eventually(lambda: ok(http.get(f"/api/v1/runs/{run['id']}/approvals", headers=viewer))["items"])[0]
    assert ok(http.get(f"/api/v1/approvals/{question['id']}", headers=viewer))["id"] == question["id"]
    decision = {"decision": "approve", "parameters": {"question": "Which city?", "answer": "Pau"}}
    path = f"/api/v1/approvals/{question['id']}/decision"
    assert_error(http.post(path, headers=viewer, json=decision), 403, "team_viewer")
    assert ok(http.post(path, headers=team.member.headers, json=decision))["status"] == "approved"
    finished = eventually(lambda: (r := ok(http.get(f"/api/v1/runs/{run['id']}", headers=viewer)))["finished_at"] and r)
    assert finished["status"] == "succeeded"


def test_a_member_of_one_team_gets_404_on_another_teams_resources(http: httpx.Client, unique: str) -> None:
    a, b = make_team(http, f"a{unique}"), make_team(http, f"b{unique}")
    owner_b = b.owner.headers
    template = waiting_template(http, owner_b, team_id=b.id, name="b-ask")
    run = ok(http.post(f"/api/v1/templates/{template['id']}/runs", headers=owner_b, json={}), 202)
    agent = ok(
        http.post(
            "/api/v1/agents",
            headers=owner_b,
            json={"name": f"b-{unique}", "role": "executor", "team_id": b.id},
        ),
        201,
    )
    memory = ok(
        http.post("/api/v1/memories", headers=owner_b, json={"content": "Team B ships on Fridays", "team_id": b.id}),
        201,
    )
    uploaded = ok(
        http.post(
            "/api/v1/files", headers=owner_b, params={"team_id": b.id}, files={"file": ("b.txt", b"team b data")}
        ),
        201,
    )
    assert uploaded["team_id"] == b.id and agent["team_id"] == b.id and memory["team_id"] == b.id
    schedule = ok(
        http.post(
            "/api/v1/schedules", headers=owner_b, json={"name": "b", "template_id": template["id"], "cron": "0 3 * * *"}
        ),
        201,
    )
    assert schedule["team_id"] == b.id
    assert ok(http.get(f"/api/v1/agents/{agent['name']}", headers=b.viewer.headers))["id"] == agent["id"]

    outsider = a.member.headers
    for path in (
        f"/api/v1/teams/{b.id}",
        f"/api/v1/teams/{b.id}/members",
        f"/api/v1/runs/{run['id']}",
        f"/api/v1/templates/{template['id']}",
        f"/api/v1/schedules/{schedule['id']}",
        f"/api/v1/agents/{agent['name']}",
        f"/api/v1/memories/{memory['id']}",
        f"/api/v1/files/{uploaded['id']}",
        f"/api/v1/ai/spend?team_id={b.id}",
        f"/api/v1/ai/budget?team_id={b.id}",
    ):
        assert http.get(path, headers=outsider).status_code == 404, path
    assert_error(http.post(f"/api/v1/runs/{run['id']}/cancel", headers=outsider), 404, "not_found")
    for listed in ("/api/v1/runs", "/api/v1/templates", "/api/v1/schedules", "/api/v1/files", "/api/v1/memories"):
        ids = {item["id"] for item in ok(http.get(listed, headers=outsider))["items"]}
        assert not ids & {run["id"], template["id"], schedule["id"], uploaded["id"], memory["id"]}, listed
    # Naming team B for something new is refused as if it did not exist.
    for refused in (
        http.post("/api/v1/runs", headers=outsider, json={"goal": "Into team B", "team_id": b.id}),
        http.post("/api/v1/memories", headers=outsider, json={"content": "Into team B", "team_id": b.id}),
        http.post("/api/v1/auth/api-keys", headers=outsider, json={"name": "b", "team_id": b.id}),
        http.post(f"/api/v1/teams/{b.id}/invitations", headers=outsider, json={"username": a.member.username}),
    ):
        assert_error(refused, 404, refused.json()["error"]["code"])
        assert refused.json()["error"]["code"] in ("team_not_found", "not_found")


def test_private_memories_stay_invisible_to_the_team(http: httpx.Client, team: Team) -> None:
    owner = team.owner.headers
    private = ok(http.post("/api/v1/memories", headers=owner, json={"content": "My salary is a private matter"}), 201)
    shared = ok(
        http.post(
            "/api/v1/memories", headers=owner, json={"content": "The team's standup is at nine", "team_id": team.id}
        ),
        201,
    )
    assert private["team_id"] is None and shared["team_id"] == team.id
    for user in (team.member, team.viewer):
        found = ok(
            http.post("/api/v1/memories/retrieve", headers=user.headers, json={"query": "salary standup", "k": 20})
        )
        ids = {m["id"] for m in found}
        assert shared["id"] in ids and private["id"] not in ids
        listed = {m["id"] for m in ok(http.get("/api/v1/memories", headers=user.headers))["items"]}
        assert shared["id"] in listed and private["id"] not in listed
        assert http.get(f"/api/v1/memories/{private['id']}", headers=user.headers).status_code == 404
    # A viewer reads the team's memory but does not change it; a member does.
    changed = {"content": "The team's standup is at ten"}
    assert_error(http.put(f"/api/v1/memories/{shared['id']}", headers=team.viewer.headers, json=changed), 403)
    assert ok(http.put(f"/api/v1/memories/{shared['id']}", headers=team.member.headers, json=changed))


def test_a_team_key_reaches_only_its_team_and_nothing_once_its_user_leaves(http: httpx.Client, team: Team) -> None:
    member = team.member.headers
    own_run = ok(
        http.post(
            f"/api/v1/templates/{waiting_template(http, member, team_id=None, name='mine')['id']}/runs",
            headers=member,
            json={},
        ),
        202,
    )
    team_template = waiting_template(http, team.owner.headers, team_id=team.id, name="for-the-key")
    made = ok(http.post("/api/v1/auth/api-keys", headers=member, json={"name": "team", "team_id": team.id}), 201)
    assert made["team_id"] == team.id
    key = {"X-API-Key": made["key"]}

    team_run = ok(http.post(f"/api/v1/templates/{team_template['id']}/runs", headers=key, json={}), 202)
    listed = {r["id"] for r in ok(http.get("/api/v1/runs", headers=key))["items"]}
    assert team_run["id"] in listed and own_run["id"] not in listed
    assert http.get(f"/api/v1/runs/{own_run['id']}", headers=key).status_code == 404
    stored = ok(http.post("/api/v1/memories", headers=key, json={"content": "Stored with the team's key"}), 201)
    assert stored["team_id"] == team.id  # a team key's new rows are the team's

    ok(http.delete(f"/api/v1/teams/{team.id}/members/{team.member.id}", headers=member), 204)
    assert http.get(f"/api/v1/runs/{team_run['id']}", headers=key).status_code == 404
    assert ok(http.get("/api/v1/runs", headers=key))["items"] == []
    assert http.get(f"/api/v1/memories/{stored['id']}", headers=key).status_code == 404
    assert_error(http.post("/api/v1/memories", headers=key, json={"content": "After leaving"}), 404, "team_not_found")
    # The others still see what the team owns.
    assert ok(http.get(f"/api/v1/runs/{team_run['id']}", headers=team.viewer.headers))["id"] == team_run["id"]


def test_a_team_key_is_charged_to_the_team_and_stopped_by_its_budget(
    http: httpx.Client, team: Team, admin_headers: dict[str, str]
) -> None:
    key = ok(
        http.post("/api/v1/auth/api-keys", headers=team.member.headers, json={"name": "t", "team_id": team.id}), 201
    )
    team_key = {"X-API-Key": key["key"]}
    call = {"model": "gpt-4o-mini", "prompt": "Say hi", "max_tokens": 8}
    ok(http.post("/api/v1/ai/complete", headers=team_key, json=call))
    ok(http.post("/api/v1/ai/complete", headers=team.member.headers, json=call))  # the member's own: not the team's
    spend = ok(http.get("/api/v1/ai/spend", headers=team.viewer.headers, params={"team_id": team.id}))
    assert [(row["key"], row["calls"]) for row in spend["rows"]] == [("gpt-4o-mini", 1)]
    by_team = ok(http.get("/api/v1/ai/admin/spend", headers=admin_headers, params={"group_by": "team"}))
    assert any(row["key"] == team.id and row["calls"] == 1 for row in by_team["rows"])

    ok(http.put(f"/api/v1/ai/admin/budgets/team/{team.id}", headers=admin_headers, json={"total_tokens": 1}))
    budget = ok(http.get("/api/v1/ai/budget", headers=team.viewer.headers, params={"team_id": team.id}))
    assert budget["scope"] == "team" and budget["scope_id"] == team.id and budget["total_tokens"] == 1
    stopped = http.post("/api/v1/ai/complete", headers=team_key, json=call)
    assert assert_error(stopped, 402)["details"]["scope"] == "team"
    ok(http.post("/api/v1/ai/complete", headers=team.member.headers, json=call))  # their own budget is not the team's


def test_bad_team_input_is_a_4xx_with_the_error_envelope(http: httpx.Client, team: Team, unique: str) -> None:
    stranger = register_and_login(http, f"stranger_{unique}")
    other_org = ok(http.get("/api/v1/organizations", headers=stranger.headers))[0]["id"]
    owner = team.owner.headers
    assert_error(
        http.post("/api/v1/teams", headers=owner, json={"name": "x", "organization_id": other_org}),
        404,
        "organization_not_found",
    )
    assert_error(http.post("/api/v1/teams", headers=owner, json={"name": ""}), 422)
    assert_error(http.post("/api/v1/teams", headers=owner, json={"name": f"team {unique}"}), 409)
    assert_error(http.get("/api/v1/teams/not-a-uuid", headers=owner), 422)
    assert_error(
        http.post(f"/api/v1/teams/{team.id}/invitations", headers=owner, json={"username": "nobody_here_at_all"}),
        404,
        "user_not_found",
    )
    assert_error(
        http.post(f"/api/v1/teams/{team.id}/invitations", headers=owner, json={"username": team.member.username}),
        409,
    )
    assert_error(
        http.post(
            f"/api/v1/teams/{team.id}/invitations",
            headers=owner,
            json={"username": stranger.username, "role": "admin"},
        ),
        422,
    )
    assert_error(http.post(f"/api/v1/teams/invitations/{uuid.uuid4()}/accept", headers=owner), 404)
    # A team that still owns something is not deleted.
    waiting_template(http, owner, team_id=team.id, name="keeps-the-team")
    assert_error(http.delete(f"/api/v1/teams/{team.id}", headers=owner), 409, "team_not_empty")
    assert_error(http.delete(f"/api/v1/teams/{team.id}", headers=team.member.headers), 403, "team_owner_required")


def test_team_changes_are_audited_once_each(http: httpx.Client, team: Team, admin_headers: dict[str, str]) -> None:
    ok(
        http.patch(
            f"/api/v1/teams/{team.id}/members/{team.viewer.id}", headers=team.owner.headers, json={"role": "member"}
        )
    )
    ok(http.delete(f"/api/v1/teams/{team.id}/members/{team.viewer.id}", headers=team.owner.headers), 204)
    events = ok(
        http.get("/api/v1/auth/audit/events", headers=admin_headers, params={"target_id": team.id, "limit": 50})
    )["items"]
    actions = sorted(e["action"] for e in events)
    assert actions == sorted(
        [
            "team.created",
            "team.member_invited",
            "team.member_invited",
            "team.member_added",
            "team.member_added",
            "team.member_role_changed",
            "team.member_removed",
        ]
    )
    by_action = {e["action"]: e for e in events}
    assert by_action["team.created"]["actor_user_id"] == team.owner.id
    assert by_action["team.member_removed"]["details"]["user_id"] == team.viewer.id
    assert by_action["team.member_role_changed"]["details"]["after"] == {"role": "member"}
    assert all(e["request_id"] for e in events)


def test_a_teams_mcp_server_lends_its_tools_to_members_only(http: httpx.Client, team: Team, unique: str) -> None:
    outsider = register_and_login(http, f"mcpout_{unique}")
    name = f"t{unique[:8]}"
    with serving(create_mcp_test_app()) as mcp:
        body = {"name": name, "url": f"{mcp.url}/mcp", "team_id": team.id}
        server = ok(http.post("/api/v1/tools/mcp-servers", headers=team.owner.headers, json=body), 201)
        assert server["team_id"] == team.id and not server["shared"]
        tool = f"mcp__{name}__add"
        for user in (team.member, team.viewer):
            assert tool in {t["name"] for t in ok(http.get("/api/v1/tools", headers=user.headers))}
        ran = ok(
            http.post(
                "/api/v1/tools/execute",
                headers=team.member.headers,
                json={"tool_name": tool, "parameters": {"a": 2, "b": 3}},
            )
        )
        assert ran["status"] == "succeeded" and ran["result"]["text"] == "5"
        assert tool not in {t["name"] for t in ok(http.get("/api/v1/tools", headers=outsider.headers))}
        refused = http.post(
            "/api/v1/tools/execute", headers=outsider.headers, json={"tool_name": tool, "parameters": {"a": 1, "b": 1}}
        )
        assert_error(refused, 404, "unknown_tool")
        assert http.get(f"/api/v1/tools/mcp-servers/{server['id']}", headers=outsider.headers).status_code == 404
        deleting = http.delete(f"/api/v1/tools/mcp-servers/{server['id']}", headers=team.viewer.headers)
        assert_error(deleting, 403, "team_viewer")
        ok(http.delete(f"/api/v1/tools/mcp-servers/{server['id']}", headers=team.member.headers), 204)


def test_teams_are_reached_at_their_own_prefix_only(http: httpx.Client, team: Team) -> None:
    """Not also through /api/v1/auth/teams, where a key's `keys` scope would stand in for `teams`."""
    for path in (f"/api/v1/auth/teams/{team.id}", "/api/v1/auth/teams", "/api/v1/auth/organizations"):
        assert_error(http.get(path, headers=team.owner.headers), 404)
    reader = ok(
        http.post("/api/v1/auth/api-keys", headers=team.owner.headers, json={"name": "r", "scopes": ["keys:*"]}), 201
    )
    refused = http.post("/api/v1/teams", headers={"X-API-Key": reader["key"]}, json={"name": "by a keys key"})
    assert assert_error(refused, 403, "insufficient_scope")["details"]["required"] == "teams:write"
    paths = ok(http.get("/openapi.json"))["paths"]
    assert "/api/v1/teams/{team_id}/members" in paths and not any(p.startswith("/api/v1/auth/teams") for p in paths)
