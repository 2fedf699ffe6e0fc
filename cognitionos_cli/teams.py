"""`cognitionos teams ...`: the teams you are in, their members and invitations. A team is named by its id or its
name. `cognitionos login --username U --team T` makes this machine's key act for one team."""

import json
from typing import Annotated, Any

import typer
from rich.console import Console

from cognitionos_cli.account import ApiKey, GatewayUrl
from cognitionos_cli.runs import EXIT_USAGE, AsJson, fail, signed_in
from cognitionos_sdk import CognitionOS

teams_app = typer.Typer(
    help="Teams: members share a team's runs, templates, schedules, agents, MCP servers, files and memories.",
    no_args_is_help=True,
)
TeamArg = Annotated[str, typer.Argument(help="The team's id or name")]
RoleOption = Annotated[str, typer.Option(help="owner (manages members), member (changes things) or viewer (reads)")]


def team_id(client: CognitionOS, given: str) -> str:
    """The id of the team the user named (its id or its name)."""
    for team in client.teams.list():
        if given in (team.id, team.name):
            return team.id
    fail(EXIT_USAGE, f"you are in no team named {given!r} (cognitionos teams list)")


def _print(rows: list[Any], *, as_json: bool, line: Any) -> None:
    console = Console(highlight=False)
    if as_json:
        console.out(json.dumps([row.model_dump(mode="json") for row in rows]))
        return
    for row in rows:
        console.out(line(row))


@teams_app.command("list")
def list_teams(url: GatewayUrl = None, api_key: ApiKey = None, as_json: AsJson = False) -> None:
    """The teams you are in, and your role in each."""
    with signed_in(url, api_key) as gateway:
        found = gateway.sdk.teams.list()
    _print(found, as_json=as_json, line=lambda t: f"{t.id}  {t.role:<7}  {t.name}")


@teams_app.command("create")
def create_team(
    name: Annotated[str, typer.Argument(help="Unique in its organisation")],
    organization: Annotated[
        str | None, typer.Option(help="An organisation you own (default: your personal one)")
    ] = None,
    url: GatewayUrl = None,
    api_key: ApiKey = None,
) -> None:
    """A new team; you are its owner."""
    with signed_in(url, api_key) as gateway:
        team = gateway.sdk.teams.create(name, organization_id=organization)
    typer.echo(f"team {team.name} created: {team.id}")


@teams_app.command("members")
def members(team: TeamArg, url: GatewayUrl = None, api_key: ApiKey = None, as_json: AsJson = False) -> None:
    """Who is in the team, with their roles."""
    with signed_in(url, api_key) as gateway:
        found = gateway.sdk.teams.members(team_id(gateway.sdk, team))
    _print(found, as_json=as_json, line=lambda m: f"{m.user_id}  {m.role:<7}  {m.username}")


@teams_app.command("invite")
def invite(
    team: TeamArg,
    username: Annotated[str, typer.Argument(help="Who to invite")],
    role: RoleOption = "member",
    url: GatewayUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Invite a user (owners): they see it with `cognitionos teams invitations` and accept it."""
    with signed_in(url, api_key) as gateway:
        made = gateway.sdk.teams.invite(team_id(gateway.sdk, team), username, role=role)
    typer.echo(f"invited {made.username} to {made.team_name} as {made.role} (invitation {made.id})")


@teams_app.command("invitations")
def invitations(url: GatewayUrl = None, api_key: ApiKey = None, as_json: AsJson = False) -> None:
    """Your pending invitations."""
    with signed_in(url, api_key) as gateway:
        found = gateway.sdk.teams.invitations()
    _print(found, as_json=as_json, line=lambda i: f"{i.id}  {i.role:<7}  {i.team_name}")


@teams_app.command("accept")
def accept(
    invitation: Annotated[str, typer.Argument(help="The invitation's id")],
    url: GatewayUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Join the team with the invitation's role."""
    with signed_in(url, api_key) as gateway:
        gateway.sdk.teams.accept(invitation)
    typer.echo("joined")


@teams_app.command("decline")
def decline(
    invitation: Annotated[str, typer.Argument(help="The invitation's id")],
    url: GatewayUrl = None,
    api_key: ApiKey = None,
) -> None:
    with signed_in(url, api_key) as gateway:
        gateway.sdk.teams.decline(invitation)
    typer.echo("declined")


@teams_app.command("role")
def set_role(
    team: TeamArg,
    username: Annotated[str, typer.Argument(help="A member")],
    role: Annotated[str, typer.Argument(help="owner, member or viewer")],
    url: GatewayUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Change a member's role (owners)."""
    with signed_in(url, api_key) as gateway:
        chosen = team_id(gateway.sdk, team)
        member = _member(gateway.sdk, chosen, username)
        gateway.sdk.teams.set_role(chosen, member, role)
    typer.echo(f"{username} is now {role}")


@teams_app.command("remove")
def remove(
    team: TeamArg,
    username: Annotated[str, typer.Argument(help="A member")],
    url: GatewayUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Remove a member (owners): their keys lose the team's resources at once."""
    with signed_in(url, api_key) as gateway:
        chosen = team_id(gateway.sdk, team)
        gateway.sdk.teams.remove(chosen, _member(gateway.sdk, chosen, username))
    typer.echo(f"{username} removed")


@teams_app.command("leave")
def leave(team: TeamArg, url: GatewayUrl = None, api_key: ApiKey = None) -> None:
    """Leave a team (a last owner names another owner first)."""
    with signed_in(url, api_key) as gateway:
        gateway.sdk.teams.remove(team_id(gateway.sdk, team), gateway.sdk.me().id)
    typer.echo("left")


def _member(client: CognitionOS, team: str, username: str) -> str:
    for member in client.teams.members(team):
        if member.username == username:
            return member.user_id
    fail(EXIT_USAGE, f"{username} is not a member of this team")
