"""Deciding a held tool call at the terminal: the call shown as the agent asked it, and the y/n/e prompt that
`cognitionos run` asks when it follows a run on a terminal."""

import json

import click
import typer
from rich.console import Console
from rich.syntax import Syntax

from cognitionos_sdk import CognitionOS
from cognitionos_sdk.types import Approval


def show_call(console: Console, approval: Approval) -> None:
    """The held call as the agent asked it: code highlighted, a request's method and URL first."""
    parameters = approval.parameters
    state = "waits for your approval" if approval.status == "pending" else f"was {approval.status}"
    console.out(f"{approval.tool} {state} (approval {approval.id})", highlight=False)
    if said := approval.context.get("notes") or approval.context.get("result"):
        console.out(f"the agent says: {str(said)[:500]}", highlight=False)
    if approval.tool == "execute_python" and isinstance(parameters.get("code"), str):
        console.print(Syntax(parameters["code"], "python", line_numbers=True, word_wrap=True))
        return
    if approval.tool == "http_request":
        console.out(f"{parameters.get('method', 'GET')} {parameters.get('url')}", highlight=False)
    console.print(Syntax(json.dumps(parameters, indent=2), "json", word_wrap=True))


def ask(sdk: CognitionOS, approval_id: str, console: Console) -> None:
    """y approves, n rejects, e opens the parameters in $EDITOR and approves what you save."""
    approval = sdk.approvals.get(approval_id)
    if approval.status != "pending":
        return
    if approval.tool == "ask_user" and approval.run_id is not None:
        console.out(f"The run asks you: {approval.parameters['question']}", highlight=False)
        sdk.runs.answer(approval.run_id, typer.prompt("Your answer"), approval_id=approval_id)
        return
    show_call(console, approval)
    while True:
        answer = typer.prompt("Approve? [y]es / [n]o / [e]dit", default="y").strip().lower()
        if answer in ("y", "yes"):
            sdk.approvals.approve(approval_id)
            return
        if answer in ("n", "no"):
            sdk.approvals.reject(approval_id, note=typer.prompt("Why (optional)", default="", show_default=False))
            return
        if answer in ("e", "edit"):
            edited = click.edit(json.dumps(approval.parameters, indent=2), extension=".json")
            if edited is None:
                continue  # nothing saved: ask again
            try:
                parameters = json.loads(edited)
            except ValueError as exc:
                console.print(f"not JSON ({exc}): ask again", highlight=False, markup=False)
                continue
            sdk.approvals.approve(approval_id, parameters=parameters)
            return
