"""`cognitionos audit ...` (admin): the audit log's events, its export as JSON lines, and the check of its hash
chain. `verify` exits 1 when the chain is broken, naming the first row that does not hold."""

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from cognitionos_cli.account import ApiKey, GatewayUrl
from cognitionos_cli.runs import EXIT_RUN_FAILED, AsJson, signed_in

audit_app = typer.Typer(
    help="The audit log (admin): who did what administrative action, and whether the log is intact.",
    no_args_is_help=True,
)
Action = Annotated[str | None, typer.Option(help="An action (api_key.created), or a prefix ending in * (user.*)")]


@audit_app.command("list")
def list_events(
    url: GatewayUrl = None,
    api_key: ApiKey = None,
    action: Action = None,
    actor: Annotated[str | None, typer.Option(help="Only this user's actions (their id)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many, newest first")] = 50,
    as_json: AsJson = False,
) -> None:
    """The newest events: when, who, what, to what."""
    filters = {k: v for k, v in {"action": action, "actor_user_id": actor}.items() if v is not None}
    with signed_in(url, api_key) as gateway:
        found = gateway.sdk.audit.events(limit=limit, **filters).items
    console = Console(highlight=False)
    if as_json:
        console.out(json.dumps([e.model_dump(mode="json") for e in found]))
        return
    for e in found:
        who = e.actor_username or "system"
        console.out(
            f"{e.id:>7}  {e.created_at:%Y-%m-%d %H:%M:%S}  {who:<16}  {e.action:<24}  {e.target_type} {e.target_id}"
        )


@audit_app.command("export")
def export_events(
    output: Annotated[Path, typer.Argument(help="Where to write the JSON lines (- for standard output)")],
    url: GatewayUrl = None,
    api_key: ApiKey = None,
    action: Action = None,
) -> None:
    """Every event, oldest first, one JSON object per line (hashes included: the export can be checked offline)."""
    filters = {"action": action} if action else {}
    with signed_in(url, api_key) as gateway:
        lines = (json.dumps(e.model_dump(mode="json")) + "\n" for e in gateway.sdk.audit.export(**filters))
        if str(output) == "-":
            for line in lines:
                typer.echo(line, nl=False)
            return
        with output.open("w") as out:
            count = sum(out.write(line) > 0 for line in lines)
    typer.echo(f"{count} events written to {output}")


@audit_app.command("verify")
def verify_chain(url: GatewayUrl = None, api_key: ApiKey = None, as_json: AsJson = False) -> None:
    """Check the hash chain from its start: exit 0 when intact, 1 naming the first broken row."""
    with signed_in(url, api_key) as gateway:
        result = gateway.sdk.audit.verify()
    if as_json:
        typer.echo(result.model_dump_json())
    elif result.ok:
        typer.echo(f"audit log intact: {result.checked} events checked")
    else:
        typer.echo(
            f"audit log BROKEN at event {result.first_broken_id}: {result.reason} ({result.checked} intact before)"
        )
    if not result.ok:
        raise typer.Exit(EXIT_RUN_FAILED)
