"""`cognitionos teams ...` and `cognitionos login --team` through the gateway, as two users."""

from pathlib import Path

import httpx
from typer.testing import CliRunner

from cognitionos_cli.main import app
from tests.support import ThreadedServer
from tests.support.users import RegisteredUser, register_and_login


def cli_as(platform_gateway: ThreadedServer, user: RegisteredUser, state: Path):  # type: ignore[no-untyped-def]
    key = httpx.post(
        f"{platform_gateway.url}/api/v1/auth/api-keys", headers=user.headers, json={"name": "teams cli"}
    ).json()["key"]
    env = {"API_GATEWAY_URL": platform_gateway.url, "XDG_STATE_HOME": str(state), "COGNITIONOS_API_KEY": key}

    def cognitionos(*args: str, stdin: str | None = None) -> tuple[int, str]:
        signing_in = args[0] == "login"  # with a password: not with the key the other commands use
        used = {k: v for k, v in env.items() if not (signing_in and k == "COGNITIONOS_API_KEY")}
        result = CliRunner().invoke(app, list(args), env=used, input=stdin)
        return result.exit_code, result.output

    return cognitionos


def test_an_owner_makes_a_team_and_a_user_joins_it_from_the_cli(
    platform_gateway: ThreadedServer, tmp_path: Path, unique: str
) -> None:
    with httpx.Client(base_url=platform_gateway.url, timeout=30) as client:
        owner, joiner = register_and_login(client, f"clio_{unique}"), register_and_login(client, f"clij_{unique}")
    as_owner = cli_as(platform_gateway, owner, tmp_path / "owner")
    as_joiner = cli_as(platform_gateway, joiner, tmp_path / "joiner")

    code, out = as_owner("teams", "create", f"research-{unique}")
    assert code == 0 and "created" in out, out
    code, out = as_owner("teams", "invite", f"research-{unique}", joiner.username, "--role", "viewer")
    assert code == 0 and f"invited {joiner.username}" in out and "viewer" in out, out
    code, out = as_joiner("teams", "invitations")
    assert code == 0 and f"research-{unique}" in out, out
    code, out = as_joiner("teams", "accept", out.split()[0])
    assert code == 0 and "joined" in out, out
    code, out = as_owner("teams", "members", f"research-{unique}")
    assert code == 0 and f"viewer   {joiner.username}" in out and f"owner    {owner.username}" in out, out
    code, out = as_owner("teams", "role", f"research-{unique}", joiner.username, "member")
    assert code == 0 and "now member" in out, out

    # The joiner's machine acts for the team from now on: its new key is bound to it.
    code, out = as_joiner(
        "login", "--username", joiner.username, "--team", f"research-{unique}", stdin=f"{joiner.password}\n"
    )
    assert code == 0 and f"signed in as {joiner.username}" in out, out
    keys = httpx.get(f"{platform_gateway.url}/api/v1/auth/api-keys", headers=joiner.headers).json()["items"]
    team_id = httpx.get(f"{platform_gateway.url}/api/v1/teams", headers=owner.headers).json()[0]["id"]
    assert any(k["team_id"] == team_id for k in keys)

    code, out = as_joiner("teams", "leave", f"research-{unique}")
    assert code == 0 and "left" in out, out
    code, out = as_owner("teams", "invite", f"research-{unique}", joiner.username)
    assert code == 0, out
    code, out = as_joiner("teams", "accept", out.rsplit("invitation ", 1)[1].rstrip(")\n"))
    assert code == 0 and "joined" in out, out
    code, out = as_owner("teams", "remove", f"research-{unique}", joiner.username)
    assert code == 0 and f"{joiner.username} removed" in out, out
    code, out = as_owner("teams", "members", f"research-{unique}")
    assert code == 0 and joiner.username not in out, out
    code, out = as_owner("teams", "leave", f"research-{unique}")
    assert code != 0 and "owner" in out, out
    code, out = as_owner("teams", "members", "no-such-team")
    assert code == 2 and "no team named" in out, out
