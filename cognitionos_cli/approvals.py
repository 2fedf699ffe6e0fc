"""`cognitionos approvals ...`: the tool calls waiting for your decision: list, show, approve, reject."""

import json
from typing import Annotated, Any

import typer
from rich.console import Console

from cognitionos_cli.account import ApiKey, GatewayUrl
from cognitionos_cli.deciding import show_call
from cognitionos_cli.runs import EXIT_USAGE, AsJson, NewestFirst, fail, signed_in
from cognitionos_sdk import CognitionOS, ConflictError
from cognitionos_sdk.types import Approval

ApprovalId = Annotated[str, typer.Argument(help="The approval's id (cognitionos approvals list shows them)")]
Note = Annotated[str | None, typer.Option(help="Why: kept with the decision and shown in the run's events")]

approvals_app = typer.Typer(
    help="Tool calls waiting for your decision: list, show, approve (as asked or edited), reject.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


def _line(approval: dict[str, Any]) -> str:
    created = approval["created_at"][:16].replace("T", " ")
    return f"{approval['id']:<36}  {approval['status']:<9}  {created:<16}  {approval['tool']:<16}  {approval['run_id']}"


@approvals_app.command("list")
def list_approvals(
    url: GatewayUrl = None,
    api_key: ApiKey = None,
    every: Annotated[bool, typer.Option("--all", help="Decided ones too, not only those waiting")] = False,
    limit: NewestFirst = 20,
    as_json: AsJson = False,
) -> None:
    """The calls waiting for you across your runs (newest first)."""
    console = Console(highlight=False)
    with signed_in(url, api_key) as gateway:
        page = gateway.sdk.approvals.list(status="any" if every else "pending", limit=limit)
        found = [a.model_dump(mode="json") for a in page.items]
    if as_json:
        console.out(json.dumps(found))
        return
    console.out(f"{'id':<36}  {'status':<9}  {'created':<16}  {'tool':<16}  run")
    for approval in found:
        console.out(_line(approval))


@approvals_app.command("show")
def show_approval(
    approval_id: ApprovalId, url: GatewayUrl = None, api_key: ApiKey = None, as_json: AsJson = False
) -> None:
    """One approval: the call exactly as the agent asked it, and its decision."""
    console = Console(highlight=False)
    with signed_in(url, api_key) as gateway:
        approval = gateway.sdk.approvals.get(approval_id)
    if as_json:
        console.out(approval.model_dump_json())
        return
    show_call(console, approval)
    console.out(f"status: {approval.status}" + (f" ({approval.note})" if approval.note else ""))


@approvals_app.command("approve")
def approve(
    approval_id: ApprovalId,
    url: GatewayUrl = None,
    api_key: ApiKey = None,
    parameters: Annotated[
        str | None, typer.Option(help="Run these parameters (a JSON object) instead of the agent's")
    ] = None,
    note: Note = None,
    as_json: AsJson = False,
) -> None:
    """Let the call run once (with --parameters, as you edited it); the run goes on."""
    edited = _parameters(parameters)
    console = Console(highlight=False)
    with signed_in(url, api_key) as gateway:
        decided = gateway.sdk.approvals.approve(approval_id, parameters=edited, note=note)
        reply = continue_chat(gateway.sdk, decided)
    console.out(decided.model_dump_json() if as_json else f"approval {approval_id} {decided.status}")
    if reply and not as_json:
        console.out(f"assistant: {reply}")


@approvals_app.command("reject")
def reject(
    approval_id: ApprovalId, url: GatewayUrl = None, api_key: ApiKey = None, note: Note = None, as_json: AsJson = False
) -> None:
    """The call never runs: its task fails, and the task's fallback (skip, replan, fail) applies."""
    console = Console(highlight=False)
    with signed_in(url, api_key) as gateway:
        decided = gateway.sdk.approvals.reject(approval_id, note=note)
        reply = continue_chat(gateway.sdk, decided)
    console.out(decided.model_dump_json() if as_json else f"approval {approval_id} {decided.status}")
    if reply and not as_json:
        console.out(f"assistant: {reply}")


def continue_chat(sdk: CognitionOS, decided: Approval) -> str | None:
    """A conversation's call decided: its turn goes on once nothing else of it waits; the reply's text, if it did."""
    if decided.conversation_id is None:
        return None
    try:
        return sdk.conversations.resume(decided.conversation_id).text
    except ConflictError:  # another call of that turn still waits for a decision
        return None


def _parameters(given: str | None) -> dict[str, Any] | None:
    if given is None:
        return None
    try:
        parsed = json.loads(given)
    except ValueError as exc:
        fail(EXIT_USAGE, f"--parameters is not JSON: {exc}")
    if not isinstance(parsed, dict):
        fail(EXIT_USAGE, "--parameters must be a JSON object")
    return parsed
