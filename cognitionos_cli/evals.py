"""`cognitionos eval SUITE` and `cognitionos eval list|show|compare|cancel`: measure how often goals are really
achieved, by a full agent run and by one bare completion of the same model, each checked by code in the sandbox.

Exit codes: 0 the eval finished (whatever its rates); 1 it was cancelled or failed; 2 a usage error (an unknown
suite, a malformed suite file, an argument the API refused); 3 the gateway could not be reached; 130 you stopped
following (the eval goes on: `cognitionos eval cancel ID` stops it).
"""

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.core import TyperGroup

from cognitionos_cli.account import ApiKey, GatewayUrl
from cognitionos_cli.runs import EXIT_INTERRUPTED, EXIT_RUN_FAILED, EXIT_USAGE, AsJson, NewestFirst, fail, signed_in
from cognitionos_sdk.formatting import usd
from cognitionos_sdk.types import Eval, EvalComparison
from shared.contracts.evals import SuiteError, parse_suite

EvalId = Annotated[str, typer.Argument(help="The eval's id (cognitionos eval list shows them)")]


class SuiteFirst(TyperGroup):
    """`cognitionos eval SUITE ...` runs a suite: a first word that is not a subcommand is the suite's name."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


eval_app = typer.Typer(
    cls=SuiteFirst,
    help="Measure how often goals are achieved. `cognitionos eval SUITE [--model M] [--agent A] [--prompt-version V] "
    "[--limit N] [--concurrency C] [--json]` runs a suite (smoke, humaneval, or `--suite-file F`) on the agent and "
    "on the bare model (`cognitionos eval run --help` lists every option); list, show, compare and cancel evals.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


@eval_app.command("run", hidden=True)
def run_eval(
    suite: Annotated[
        str | None, typer.Argument(help="smoke or humaneval (or a name for --suite-file's cases)", show_default=False)
    ] = None,
    suite_file: Annotated[
        Path | None, typer.Option("--suite-file", help="Your own cases: JSON lines, one case per line")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Both arms use this model or alias")] = None,
    agent: Annotated[str | None, typer.Option(help="The agent arm's executor agent")] = None,
    prompt_version: Annotated[
        str | None, typer.Option(help="The agent arm's executor prompt version (v1, ...)")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the suite's first N cases")] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Cases worked on at once")] = 2,
    arm: Annotated[
        list[str] | None, typer.Option("--arm", help="Only this arm (agent or baseline); give it twice for both")
    ] = None,
    detach: Annotated[bool, typer.Option("--detach", help="Start it and print its id; do not follow it")] = False,
    url: GatewayUrl = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """Run a suite on both arms and show the live tally, then each arm's success rate with its 95% interval,
    cost, tokens and time, and the cases where the arms disagree."""
    console = Console(highlight=False)
    cases = _read_suite_file(suite_file) if suite_file is not None else None
    name = suite or (suite_file.stem if suite_file is not None else None)
    if name is None:
        fail(EXIT_USAGE, "name a suite (smoke, humaneval) or give --suite-file")
    with signed_in(url, api_key) as gateway:
        started = gateway.sdk.evals.create(
            name,
            cases=cases,
            model=model,
            agent=agent,
            prompt_version=prompt_version,
            arms=arm,
            limit=limit,
            concurrency=concurrency,
        )
        if detach:
            console.out(started.model_dump_json() if as_json else started.id)
            return
        try:
            finished = _follow(gateway.sdk.evals, started, Console(stderr=True, highlight=False))
        except KeyboardInterrupt:
            typer.echo(
                f"\nstopped following; eval {started.id} goes on (cognitionos eval cancel {started.id})", err=True
            )
            raise typer.Exit(EXIT_INTERRUPTED) from None
    _print_report(console, finished, as_json=as_json)
    if finished.status != "succeeded":
        raise typer.Exit(EXIT_RUN_FAILED)


def _read_suite_file(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text()
    except OSError as exc:
        fail(EXIT_USAGE, f"cannot read {path}: {exc.strerror}")
    try:
        return [case.model_dump(mode="json", exclude_defaults=True) for case in parse_suite(text)]
    except SuiteError as exc:
        fail(EXIT_USAGE, f"{path}: {exc}")


def _follow(evals: Any, started: Eval, console: Console) -> Eval:
    """Polls the eval with a live bar: cases done, passes and failures so far per arm, and the cost."""
    total = started.case_count * max(1, len(started.arms))
    columns = (TextColumn("eval"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"))
    with Progress(*columns, TimeElapsedColumn(), console=console, transient=False) as progress:
        bar = progress.add_task(_tally(started), total=total)

        def show(current: Eval) -> None:
            done = sum(a.finished + a.cancelled for a in current.arms.values())
            progress.update(bar, completed=done, description=_tally(current))

        finished: Eval = evals.wait(started.id, poll_seconds=1.0, on_progress=show)
        return finished


def _tally(current: Eval) -> str:
    arms = " · ".join(f"{name} {a.passed}✓ {a.failed}✗" for name, a in current.arms.items())
    cost = sum(a.cost_usd for a in current.arms.values())
    return f"{arms} · {usd(cost)}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _interval(low: float, high: float) -> str:
    return f"{100 * low:.1f}-{100 * high:.1f}%"


def _seconds(ms: float | None) -> str:
    return "-" if ms is None else f"{ms / 1000:.1f} s"


def _print_report(console: Console, report: Eval, *, as_json: bool) -> None:
    if as_json:
        console.out(report.model_dump_json())
        return
    config = report.config
    title = f"eval {report.id}: {report.suite}, {report.case_count} cases ({report.status})"
    table = Table(title=title, title_justify="left")
    table.add_column("arm", no_wrap=True, min_width=8)
    for column in ("passed", "rate", "95% CI", "cost", "tokens", "time P50", "time total"):
        table.add_column(column, justify="right")
    for name, arm in report.arms.items():
        table.add_row(
            name,
            f"{arm.passed}/{arm.finished}",
            _percent(arm.rate),
            _interval(arm.low, arm.high),
            usd(arm.cost_usd),
            str(arm.tokens),
            _seconds(arm.wall_ms_p50),
            _seconds(arm.wall_ms_total),
        )
    console.print(table)
    models = sorted({m for arm in report.arms.values() for m in arm.models})
    console.out(f"models: {', '.join(models) or '-'}  commit: {str(config.get('commit', ''))[:12]}")
    if report.disagreements:
        console.out("the arms disagree on:")
        for row in report.cases:
            if row.disagree:
                console.out(f"  {row.case_id}: {_verdict(row.agent)} (agent), {_verdict(row.baseline)} (baseline)")
    if report.error:
        console.out(f"note: {report.error}")


def _verdict(result: dict[str, Any] | None) -> str:
    if result is None:
        return "-"
    detail = result.get("detail") or {}
    why = detail.get("error") or detail.get("run_error") or (detail.get("check_output") or "").strip().splitlines()
    reason = why[-1] if isinstance(why, list) and why else why
    return f"{result['status']}{f' ({str(reason)[:80]})' if reason and result['status'] == 'failed' else ''}"


@eval_app.command("list")
def list_evals(
    url: GatewayUrl = None, api_key: ApiKey = None, limit: NewestFirst = 20, as_json: AsJson = False
) -> None:
    """Your evals, newest first, with each arm's rate."""
    console = Console(highlight=False)
    with signed_in(url, api_key) as gateway:
        found = gateway.sdk.evals.list(limit=limit).items
    if as_json:
        console.out(json.dumps([e.model_dump(mode="json") for e in found]))
        return
    for item in found:
        rates = "  ".join(f"{name} {_percent(a.rate)} ({a.passed}/{a.finished})" for name, a in item.arms.items())
        console.out(f"{item.id}  {item.status:<9}  {item.suite:<12}  {rates}")


@eval_app.command("show")
def show_eval(eval_id: EvalId, url: GatewayUrl = None, api_key: ApiKey = None, as_json: AsJson = False) -> None:
    """One eval: each arm's rate with its interval, and where the arms disagree."""
    console = Console(highlight=False)
    with signed_in(url, api_key) as gateway:
        report = gateway.sdk.evals.get(eval_id)
    _print_report(console, report, as_json=as_json)


@eval_app.command("cancel")
def cancel_eval(eval_id: EvalId, url: GatewayUrl = None, api_key: ApiKey = None) -> None:
    """Stop an eval: its open cases and their runs are cancelled."""
    with signed_in(url, api_key) as gateway:
        cancelled = gateway.sdk.evals.cancel(eval_id)
    typer.echo(f"eval {cancelled.id} {cancelled.status}")


@eval_app.command("compare")
def compare_evals(
    a: Annotated[str, typer.Argument(help="The eval compared against (before)")],
    b: Annotated[str, typer.Argument(help="The eval compared (after)")],
    url: GatewayUrl = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """How eval B differs from A: each arm's change in rate with its 95% interval, and the cases that changed."""
    console = Console(highlight=False)
    with signed_in(url, api_key) as gateway:
        compared: EvalComparison = gateway.sdk.evals.compare(a, b)
    if as_json:
        console.out(compared.model_dump_json())
        return
    if not compared.same_cases:
        console.out("note: the two evals did not run the same cases (suite or --limit differ)")
    table = Table(title=f"{a[:8]} → {b[:8]}", title_justify="left")
    table.add_column("arm", no_wrap=True, min_width=8)
    for column in ("A", "B", "change", "95% interval"):
        table.add_column(column, justify="right")
    for change in compared.arms:
        interval = (
            "-" if change.get("low") is None else f"{100 * change['low']:+.1f} - {100 * change['high']:+.1f} points"
        )
        shift = "-" if change.get("change") is None else f"{100 * change['change']:+.1f} points"
        table.add_row(change["arm"], _percent(change["a"]["rate"]), _percent(change["b"]["rate"]), shift, interval)
    console.print(table)
    for case in compared.changed:
        console.out(f"  {case['case_id']} ({case['arm']}): {case['a']} → {case['b']}")
