"""`cognitionos run` and `cognitionos runs ...`: start a goal, follow a run (again), list, show and cancel runs.

Exit codes, for scripts: 0 the run succeeded; 1 it failed, was cancelled, or does not exist; 2 a usage error (an
argument the CLI or the API refused); 3 the gateway could not be reached or refused the sign-in; 130 you stopped
following (the run goes on).
"""

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer
from rich.console import Console
from rich.table import Table

from cognitionos_cli.account import ApiKey, GatewayUrl, gateway_url, open_gateway
from cognitionos_cli.deciding import ask
from cognitionos_cli.progress import EventPrinter
from cognitionos_cli.workflow import Gateway, sandbox_outputs
from cognitionos_sdk import AuthenticationError, BadRequestError, CognitionOSError
from cognitionos_sdk.formatting import human_bytes, usd

EXIT_SUCCEEDED = 0
EXIT_RUN_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of text")]
NewestFirst = Annotated[int, typer.Option(min=1, max=200, help="How many, newest first")]
RunId = Annotated[str, typer.Argument(help="The run's id (cognitionos runs list shows them)")]

runs_app = typer.Typer(
    help="Your runs: list, show, follow again, cancel, retry, fork.", no_args_is_help=True, rich_markup_mode="markdown"
)
Decide = Callable[[str], None]


def fail(code: int, message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def signed_in(given_url: str | None, api_key: str | None) -> Iterator[Gateway]:
    """A gateway client acting as the user (account.py says who); the errors a user can act on become one line and
    an exit code."""
    url = gateway_url(given_url)
    try:
        gateway = open_gateway(url, api_key)
    except (AuthenticationError, httpx.HTTPError) as exc:
        fail(EXIT_UNREACHABLE, f"cannot reach or sign in to the gateway at {url} ({exc})")
    try:
        yield gateway
    except AuthenticationError as exc:
        fail(EXIT_UNREACHABLE, f"the gateway at {url} refused the credentials ({exc}): run `cognitionos login`")
    except httpx.HTTPError as exc:
        fail(EXIT_UNREACHABLE, f"lost the gateway at {url} ({type(exc).__name__}: {exc})")
    except BadRequestError as exc:  # what was asked is not valid: a usage error
        fail(EXIT_USAGE, str(exc))
    except CognitionOSError as exc:
        fail(EXIT_RUN_FAILED, str(exc))
    finally:
        gateway.close()


def follow(
    gateway: Gateway, run_id: str, console: Console, *, as_json: bool, decide: Decide | None = None
) -> dict[str, Any]:
    """Shows the run's events until it ends and returns it; Ctrl-C stops following, not the run. A tool call held
    for approval is put to `decide` (the terminal's prompt) or, without one, named with the commands that decide it."""
    try:
        with EventPrinter(console, as_json=as_json) as printer:
            for event in gateway.events(run_id, on_progress=printer.model_progress):
                printer(event)
                if event["event_type"] not in ("approval_requested", "input_requested"):
                    continue
                approval_id = event["data"]["approval_id"]
                if decide is not None:
                    with printer.paused():
                        decide(approval_id)
                elif event["event_type"] == "input_requested" and not as_json:
                    printer.note(f'waiting for your answer: cognitionos runs answer {run_id} "..."')
                elif not as_json:
                    printer.note(
                        f"waiting for you: cognitionos approvals show {approval_id}, then approve or reject it"
                    )
    except KeyboardInterrupt:
        typer.echo(f"\nstopped following run {run_id}; it goes on. Follow it again: cognitionos runs follow {run_id}")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    return gateway.run(run_id)


def show_finished(run: dict[str, Any], console: Console, *, as_json: bool) -> NoReturn:
    if as_json:
        console.out(json.dumps(run, default=str))
    else:
        result = run["result"] or {}
        checked = f" ({run['verification']})" if run.get("verification") else ""
        console.out(f"\nrun {run['id']} {run['status']}{checked}: {result.get('summary') or run['error'] or ''}")
        for task, stdout in sandbox_outputs(run):
            console.out(f"sandbox output of {task}:\n{stdout.rstrip()}")
        if run.get("artifacts"):
            console.out("files it made:")
            for line in artifact_lines(run["artifacts"]):
                console.out(line)
        console.out(f"cost: {usd(run['spent_usd'])}")
    raise typer.Exit(EXIT_SUCCEEDED if run["status"] == "succeeded" else EXIT_RUN_FAILED)


def artifact_lines(artifacts: list[dict[str, Any]]) -> list[str]:
    """A finished run's outputs, each with the command that downloads it."""
    return [f"  {a['name']} ({human_bytes(a['size'])}): cognitionos files download {a['id']}" for a in artifacts]


def run(
    goal: Annotated[str, typer.Argument(help="What you want done")],
    url: GatewayUrl = None,
    api_key: ApiKey = None,
    budget_usd: Annotated[float | None, typer.Option(help="LLM spend cap for the run")] = None,
    max_tasks: Annotated[int | None, typer.Option(min=1, max=50, help="Most tasks the planner may use")] = None,
    require_approval: Annotated[
        list[str] | None,
        typer.Option(help='A tool whose calls wait for your approval (repeat it; "all" for every tool)'),
    ] = None,
    json_lines: Annotated[
        bool, typer.Option("--json", help="Print the run's events as JSON lines, then the run")
    ] = False,
    file: Annotated[
        list[Path] | None,
        typer.Option(
            exists=True, dir_okay=False, readable=True, help="A file the run's code reads at /work/inputs (repeat it)"
        ),
    ] = None,
    file_id: Annotated[
        list[str] | None, typer.Option(help="A file you uploaded before (cognitionos files upload; repeat it)")
    ] = None,
) -> None:
    """Run a goal on the running system (`cognitionos up`) and follow it: a live table of its tasks, states and
    cost on a terminal (one line per event elsewhere), then the result. The run's id comes first; Ctrl-C stops
    following, and `cognitionos runs follow ID` picks it up again. With --require-approval, each held tool call is
    shown and asked about (y/n/e) on a terminal; elsewhere `cognitionos approvals` decides it. Each --file is
    uploaded first; the files the run's code writes to /work/outputs are listed at the end, with the command that
    downloads each."""
    console = Console(highlight=False)
    gated: list[str] | str | None = "all" if require_approval and "all" in require_approval else require_approval
    with signed_in(url, api_key) as gateway:
        files = [*(file_id or ()), *(gateway.sdk.files.upload(path).id for path in file or ())]
        created = gateway.sdk.runs.create(
            goal, budget_usd=budget_usd, max_tasks=max_tasks, require_approval=gated, files=files
        )
        run_id = created.id
        if json_lines:
            console.out(json.dumps({"run_id": run_id}))
        else:
            console.out(f"run {run_id} started (follow it again with: cognitionos runs follow {run_id})")
        prompt = _terminal_prompt(gateway, console, as_json=json_lines)
        finished = follow(gateway, run_id, console, as_json=json_lines, decide=prompt)
        finished["artifacts"] = gateway.artifacts(run_id)
    show_finished(finished, console, as_json=json_lines)


def _terminal_prompt(gateway: Gateway, console: Console, *, as_json: bool) -> Decide | None:
    """Asking needs a person at a terminal: none when the output is JSON or stdin is not a terminal."""
    if as_json or not (sys.stdin.isatty() and console.is_terminal):
        return None
    return lambda approval_id: ask(gateway.sdk, approval_id, console)


@runs_app.command("list")
def list_runs(
    url: GatewayUrl = None,
    api_key: ApiKey = None,
    limit: NewestFirst = 20,
    as_json: AsJson = False,
) -> None:
    """Your latest runs: id, status, when, cost and goal."""
    console = Console(highlight=False)
    with signed_in(url, api_key) as gateway:
        runs = [r.model_dump(mode="json") for r in gateway.sdk.runs.list(limit=limit).items]
    if as_json:
        console.out(json.dumps(runs))
        return
    # Plain aligned lines: whole ids (they are copied into `runs follow`), the goal cut to the width that is left.
    head = f"{'id':<36}  {'status':<9}  {'checked':<10}  {'created':<16}  {'cost':>9}  "
    room = max(8, console.width - len(head))
    console.out(f"{head}goal")
    for r in runs:
        created = r["created_at"][:16].replace("T", " ")
        goal = r["goal"] if len(r["goal"]) <= room else r["goal"][: room - 1] + "…"
        console.out(
            f"{r['id']:<36}  {r['status']:<9}  {r.get('verification') or '':<10}  {created:<16}  "
            f"{usd(r['spent_usd']):>9}  {goal}"
        )


@runs_app.command("show")
def show_run(run_id: RunId, url: GatewayUrl = None, api_key: ApiKey = None, as_json: AsJson = False) -> None:
    """One run: its status, each task with its state, and the result."""
    console = Console(highlight=False)
    with signed_in(url, api_key) as gateway:
        found = gateway.run(run_id)
    if as_json:
        console.out(json.dumps(found, default=str))
        return
    checked = f" ({found['verification']})" if found.get("verification") else ""
    console.out(f"run {found['id']} {found['status']}{checked}: {found['goal']}")
    table = Table()
    for column in ("task", "name", "state", "attempts", "time"):
        table.add_column(column)
    for task in found["tasks"]:
        table.add_row(task["task_key"], task["name"], task["status"], str(task["attempts"]), _took(task))
    console.print(table)
    result = found["result"] or {}
    console.out(f"result: {result.get('summary') or found['error'] or '(none yet)'}")
    console.out(f"cost: {usd(found['spent_usd'])}")


@runs_app.command("follow")
def follow_run(run_id: RunId, url: GatewayUrl = None, api_key: ApiKey = None, as_json: AsJson = False) -> None:
    """Follow a run again, from its first event, until it ends (exit code as for `cognitionos run`)."""
    console = Console(highlight=False)
    with signed_in(url, api_key) as gateway:
        gateway.run(run_id)  # an unknown id is one line and exit 1, before any stream opens
        finished = follow(gateway, run_id, console, as_json=as_json)
        finished["artifacts"] = gateway.artifacts(run_id)
    show_finished(finished, console, as_json=as_json)


@runs_app.command("cancel")
def cancel_run(run_id: RunId, url: GatewayUrl = None, api_key: ApiKey = None, as_json: AsJson = False) -> None:
    """Cancel a run; its running tasks are stopped."""
    console = Console(highlight=False)
    with signed_in(url, api_key) as gateway:
        cancelled = gateway.sdk.runs.cancel(run_id).model_dump(mode="json")
    console.out(json.dumps(cancelled, default=str) if as_json else f"run {run_id} {cancelled['status']}")


Patch = Annotated[
    list[str] | None,
    typer.Option("--patch", help="TASK=JSON: inputs merged into that task, which re-runs (repeat it)"),
]
FromTask = Annotated[str | None, typer.Option(help="Re-run this task and everything downstream of it too")]
Follow = Annotated[bool, typer.Option(help="Follow the new run until it ends")]


@runs_app.command("retry")
def retry_run(
    run_id: RunId,
    url: GatewayUrl = None,
    api_key: ApiKey = None,
    from_task: FromTask = None,
    patch: Patch = None,
    budget_usd: Annotated[float | None, typer.Option(help="The new run's spend cap")] = None,
    follow_it: Follow = True,
    as_json: AsJson = False,
) -> None:
    """A new run of a finished one: what failed (and --from-task with what follows it) runs again, what succeeded
    is copied with its output at no cost."""
    _derive(
        run_id,
        "retry",
        url,
        api_key,
        from_task=from_task,
        patch=patch,
        budget_usd=budget_usd,
        follow_it=follow_it,
        as_json=as_json,
    )


@runs_app.command("fork")
def fork_run(
    run_id: RunId,
    url: GatewayUrl = None,
    api_key: ApiKey = None,
    from_task: FromTask = None,
    patch: Patch = None,
    budget_usd: Annotated[float | None, typer.Option(help="The new run's spend cap")] = None,
    follow_it: Follow = True,
    as_json: AsJson = False,
) -> None:
    """As retry, from a finished run or one waiting for you, usually with --patch to change a task's inputs."""
    _derive(
        run_id,
        "fork",
        url,
        api_key,
        from_task=from_task,
        patch=patch,
        budget_usd=budget_usd,
        follow_it=follow_it,
        as_json=as_json,
    )


def _derive(
    run_id: str,
    origin: str,
    url: str | None,
    api_key: str | None,
    *,
    from_task: str | None,
    patch: list[str] | None,
    budget_usd: float | None,
    follow_it: bool,
    as_json: bool,
) -> None:
    console = Console(highlight=False)
    inputs_patch = _inputs_patch(patch or [])
    with signed_in(url, api_key) as gateway:
        make = gateway.sdk.runs.retry if origin == "retry" else gateway.sdk.runs.fork
        child = make(run_id, from_task=from_task, inputs_patch=inputs_patch, budget_usd=budget_usd)
        copied = sum(1 for t in child.tasks if t.status == "succeeded")
        if not follow_it:
            console.out(child.model_dump_json() if as_json else f"run {child.id} started ({origin} of {run_id})")
            return
        if not as_json:
            console.out(f"run {child.id} started ({origin} of {run_id}; {copied} tasks copied)")
        finished = follow(gateway, child.id, console, as_json=as_json)
    show_finished(finished, console, as_json=as_json)


def _inputs_patch(given: list[str]) -> dict[str, dict[str, Any]]:
    patch: dict[str, dict[str, Any]] = {}
    for item in given:
        key, sep, raw = item.partition("=")
        try:
            value = json.loads(raw) if sep else None
        except ValueError as exc:
            fail(EXIT_USAGE, f"--patch {key}: not JSON ({exc})")
        if not isinstance(value, dict):
            fail(EXIT_USAGE, f"--patch takes TASK=JSON-object, not {item!r}")
        patch.setdefault(key, {}).update(value)
    return patch


@runs_app.command("answer")
def answer_run(
    run_id: RunId,
    answer: Annotated[str, typer.Argument(help="Your answer to the question the run asked")],
    url: GatewayUrl = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """Answer the question a run asked you (its ask_user task waits for it); the run goes on with the answer."""
    console = Console(highlight=False)
    with signed_in(url, api_key) as gateway:
        answered = gateway.sdk.runs.answer(run_id, answer)
    console.out(answered.model_dump_json() if as_json else f"answered: {answered.parameters['question']}")


def _took(task: dict[str, Any]) -> str:
    if not task.get("started_at") or not task.get("finished_at"):
        return ""
    started, finished = (datetime.fromisoformat(task[k]) for k in ("started_at", "finished_at"))
    return f"{(finished - started).total_seconds():.1f} s"
