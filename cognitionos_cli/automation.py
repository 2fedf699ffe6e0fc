"""`cognitionos templates|schedules|webhooks ...`: reusable run configurations, the schedules that fire them, and the
webhooks told when runs end. Exit codes as for `cognitionos run` (2: the request is not valid)."""

import json
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console

from cognitionos_cli.account import ApiKey, GatewayUrl
from cognitionos_cli.runs import EXIT_USAGE, AsJson, NewestFirst, fail, signed_in
from cognitionos_sdk import Schedule

TemplateId = Annotated[str, typer.Argument(help="The template's id (cognitionos templates list shows them)")]
ScheduleId = Annotated[str, typer.Argument(help="The schedule's id (cognitionos schedules list shows them)")]
WebhookId = Annotated[str, typer.Argument(help="The webhook's id (cognitionos webhooks list shows them)")]
Values = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="A parameter's value, name=value (repeat for each; typed as the template says)"),
]

templates_app = typer.Typer(
    help="Templates: a goal with {{parameters}} (and optionally a fixed plan), run again with new values.",
    no_args_is_help=True,
)
schedules_app = typer.Typer(
    help="Schedules: a template fired on a cron expression (in a time zone) or an interval.", no_args_is_help=True
)
webhooks_app = typer.Typer(
    help="Webhooks: run and schedule events sent to your URL, signed (Standard Webhooks).", no_args_is_help=True
)


def _out(console: Console, value: Any, *, as_json: bool, text: str) -> None:
    console.out(json.dumps(value, default=str) if as_json else text)


def _declared(text: str) -> dict[str, Any]:
    """name, name:type or name:type=default (the default read as that type)."""
    head, _, default = text.partition("=")
    name, _, kind = head.partition(":")
    declared: dict[str, Any] = {"name": name.strip(), "type": kind.strip() or "string"}
    if default:
        declared["default"] = _typed(default, declared["type"], name)
    return declared


def _typed(value: str, kind: str, name: str) -> Any:
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
        if kind == "boolean":
            return {"true": True, "false": False}[value.lower()]
    except (ValueError, KeyError):
        fail(EXIT_USAGE, f"{name}={value!r} is not a {kind}")
    return value


def _values(given: list[str] | None, declared: list[dict[str, Any]]) -> dict[str, Any]:
    """name=value pairs, each typed as the template declares it (undeclared ones are sent as text: the server
    refuses them by name)."""
    kinds = {p["name"]: p.get("type", "string") for p in declared}
    values: dict[str, Any] = {}
    for pair in given or []:
        name, sep, value = pair.partition("=")
        if not sep:
            fail(EXIT_USAGE, f"--param {pair!r}: write name=value")
        values[name] = _typed(value, kinds.get(name, "string"), name)
    return values


# --- templates --------------------------------------------------------------------------------------------------


@templates_app.command("create")
def create_template(
    name: Annotated[str, typer.Argument(help="Unique among your templates")],
    goal: Annotated[str, typer.Argument(help='The goal, with {{name}} where a parameter goes: "Digest of {{city}}"')],
    parameter: Annotated[
        list[str] | None,
        typer.Option(
            "--parameter",
            help="Declare one: name, name:type or name:type=default (types: string, integer, number, boolean)",
        ),
    ] = None,
    plan: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="A JSON file of tasks: the run does these, with no planning"),
    ] = None,
    agent: Annotated[str | None, typer.Option(help="Executor tasks run as this agent")] = None,
    budget_usd: Annotated[float | None, typer.Option(help="Each run's budget")] = None,
    url: GatewayUrl = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """Create a template (version 1)."""
    spec: dict[str, Any] = {"parameters": [_declared(p) for p in parameter or []]}
    if plan is not None:
        spec["plan"] = json.loads(plan.read_text())
    spec.update({k: v for k, v in {"agent": agent, "budget_usd": budget_usd}.items() if v is not None})
    with signed_in(url, api_key) as gateway:
        made = gateway.sdk.templates.create(name, goal, **spec)
    _out(Console(highlight=False), made.model_dump(mode="json"), as_json=as_json, text=f"template {made.id} created")


@templates_app.command("list")
def list_templates(
    url: GatewayUrl = None, api_key: ApiKey = None, limit: NewestFirst = 20, as_json: AsJson = False
) -> None:
    """Your templates, newest first."""
    console = Console(highlight=False)
    with signed_in(url, api_key) as gateway:
        found = [t.model_dump(mode="json") for t in gateway.sdk.templates.list(limit=limit).items]
    lines = [f"{t['id']}  v{t['version']:<3}  {t['name']}: {t['spec']['goal']}" for t in found]
    _out(console, found, as_json=as_json, text="\n".join(lines) or "no templates")


@templates_app.command("show")
def show_template(
    template_id: TemplateId,
    version: Annotated[int | None, typer.Option(help="An older version")] = None,
    url: GatewayUrl = None,
    api_key: ApiKey = None,
) -> None:
    """A template's spec (JSON)."""
    with signed_in(url, api_key) as gateway:
        found = gateway.sdk.templates.get(template_id, version=version)
    Console(highlight=False).out(json.dumps(found.model_dump(mode="json"), indent=2))


@templates_app.command("run")
def run_template(
    template_id: TemplateId,
    param: Values = None,
    webhook: Annotated[str | None, typer.Option(help="A URL told when this run ends")] = None,
    url: GatewayUrl = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """Start a run of the template; prints its id (follow it with `cognitionos runs follow ID`)."""
    with signed_in(url, api_key) as gateway:
        declared = gateway.sdk.templates.get(template_id).spec.get("parameters", [])
        run = gateway.sdk.templates.run(template_id, _values(param, declared), webhook=webhook)
    text = f"run {run.id} started: {run.goal}"
    if run.webhook_secret:
        text += f"\nwebhook secret (shown once): {run.webhook_secret}"
    _out(Console(highlight=False), run.model_dump(mode="json"), as_json=as_json, text=text)


@templates_app.command("delete")
def delete_template(template_id: TemplateId, url: GatewayUrl = None, api_key: ApiKey = None) -> None:
    """Delete a template and its schedules (runs made from it stay)."""
    with signed_in(url, api_key) as gateway:
        gateway.sdk.templates.delete(template_id)
    typer.echo(f"template {template_id} deleted")


# --- schedules --------------------------------------------------------------------------------------------------


def _timing(schedule: Schedule) -> str:
    every = schedule.cron or f"every {schedule.interval_seconds} s"
    state = f"paused ({schedule.pause_reason})" if schedule.pause_reason else "paused" if schedule.paused else ""
    upcoming = (
        f"next {schedule.next_slot_at:%Y-%m-%d %H:%M} UTC" if schedule.next_slot_at and not schedule.paused else ""
    )
    return "  ".join(part for part in (every, schedule.timezone, state or upcoming) if part)


@schedules_app.command("create")
def create_schedule(
    name: Annotated[str, typer.Argument(help="Its name")],
    template: Annotated[str, typer.Option("--template", "-t", help="The template it fires")],
    cron: Annotated[str | None, typer.Option(help='Five fields: "0 9 * * 1-5" (09:00 on weekdays)')] = None,
    every: Annotated[int | None, typer.Option(help="Or an interval, in seconds")] = None,
    timezone: Annotated[str, typer.Option("--tz", help="The cron's wall clock (an IANA zone)")] = "UTC",
    param: Values = None,
    overlap: Annotated[str, typer.Option(help="skip, buffer_one or allow_all (while a run still runs)")] = "skip",
    url: GatewayUrl = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """Create a schedule; prints its next fire times."""
    with signed_in(url, api_key) as gateway:
        declared = gateway.sdk.templates.get(template).spec.get("parameters", [])
        made = gateway.sdk.schedules.create(
            name,
            template,
            cron=cron,
            interval_seconds=every,
            timezone=timezone,
            parameters=_values(param, declared),
            overlap=overlap,
        )
        upcoming = gateway.sdk.schedules.next(made.id, 3)
    text = f"schedule {made.id} created: {_timing(made)}\n" + "\n".join(
        f"  fires {t:%Y-%m-%d %H:%M} UTC" for t in upcoming
    )
    _out(Console(highlight=False), made.model_dump(mode="json"), as_json=as_json, text=text)


@schedules_app.command("list")
def list_schedules(
    url: GatewayUrl = None, api_key: ApiKey = None, limit: NewestFirst = 20, as_json: AsJson = False
) -> None:
    """Your schedules, newest first, with when each fires next."""
    with signed_in(url, api_key) as gateway:
        found = gateway.sdk.schedules.list(limit=limit).items
    text = "\n".join(f"{s.id}  {s.name}  {_timing(s)}" for s in found) or "no schedules"
    _out(Console(highlight=False), [s.model_dump(mode="json") for s in found], as_json=as_json, text=text)


@schedules_app.command("next")
def next_times(
    schedule_id: ScheduleId,
    count: Annotated[int, typer.Option(min=1, max=100)] = 5,
    url: GatewayUrl = None,
    api_key: ApiKey = None,
) -> None:
    """The next fire times, in UTC and in the schedule's time zone."""
    with signed_in(url, api_key) as gateway:
        schedule = gateway.sdk.schedules.get(schedule_id)
        upcoming = gateway.sdk.schedules.next(schedule_id, count)
    local = ZoneInfo(schedule.timezone)
    for t in upcoming:
        typer.echo(f"{t:%Y-%m-%d %H:%M} UTC  ({t.astimezone(local):%Y-%m-%d %H:%M %Z})")


@schedules_app.command("runs")
def schedule_runs(
    schedule_id: ScheduleId,
    url: GatewayUrl = None,
    api_key: ApiKey = None,
    limit: NewestFirst = 20,
    as_json: AsJson = False,
) -> None:
    """What the schedule did, newest first: runs fired (with their status), slots skipped or buffered, pauses."""
    with signed_in(url, api_key) as gateway:
        found = gateway.sdk.schedules.runs(schedule_id, limit=limit).items
    lines = [
        f"{e.created_at:%Y-%m-%d %H:%M:%S}  {e.kind:<9}  {e.run_id or '':<36}  {e.run_status or ''}  "
        f"{e.message}".rstrip()
        for e in found
    ]
    _out(Console(highlight=False), [e.model_dump(mode="json") for e in found], as_json=as_json, text="\n".join(lines))


@schedules_app.command("trigger")
def trigger_schedule(schedule_id: ScheduleId, url: GatewayUrl = None, api_key: ApiKey = None) -> None:
    """Fire now (the next slot stays as it was); prints the run's id."""
    with signed_in(url, api_key) as gateway:
        run = gateway.sdk.schedules.trigger(schedule_id)
    typer.echo(f"run {run.id} started: {run.goal}")


@schedules_app.command("pause")
def pause_schedule(schedule_id: ScheduleId, url: GatewayUrl = None, api_key: ApiKey = None) -> None:
    """Stop firing until resumed."""
    with signed_in(url, api_key) as gateway:
        gateway.sdk.schedules.pause(schedule_id)
    typer.echo(f"schedule {schedule_id} paused")


@schedules_app.command("resume")
def resume_schedule(schedule_id: ScheduleId, url: GatewayUrl = None, api_key: ApiKey = None) -> None:
    """Fire again from the next slot (slots missed while paused are not fired)."""
    with signed_in(url, api_key) as gateway:
        resumed = gateway.sdk.schedules.resume(schedule_id)
    typer.echo(f"schedule {schedule_id} resumed: {_timing(resumed)}")


@schedules_app.command("delete")
def delete_schedule(schedule_id: ScheduleId, url: GatewayUrl = None, api_key: ApiKey = None) -> None:
    """Delete a schedule (its runs stay)."""
    with signed_in(url, api_key) as gateway:
        gateway.sdk.schedules.delete(schedule_id)
    typer.echo(f"schedule {schedule_id} deleted")


# --- webhooks ---------------------------------------------------------------------------------------------------


@webhooks_app.command("create")
def create_webhook(
    target: Annotated[str, typer.Argument(metavar="URL", help="Where deliveries are POSTed (a public address)")],
    event: Annotated[
        list[str],
        typer.Option(
            "--event",
            "-e",
            help="run.succeeded, run.failed, run.cancelled, run.waiting, "
            "approval.requested, artifact.created or schedule.paused (repeat for each)",
        ),
    ],
    url: GatewayUrl = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """Subscribe a URL; prints the signing secret, shown this once."""
    with signed_in(url, api_key) as gateway:
        made = gateway.sdk.webhooks.create(target, event)
    text = f"webhook {made.id} created\nsecret (shown once, keep it): {made.secret}"
    _out(Console(highlight=False), made.model_dump(mode="json"), as_json=as_json, text=text)


@webhooks_app.command("list")
def list_webhooks(
    url: GatewayUrl = None, api_key: ApiKey = None, limit: NewestFirst = 20, as_json: AsJson = False
) -> None:
    """Your webhooks, newest first."""
    with signed_in(url, api_key) as gateway:
        found = gateway.sdk.webhooks.list(limit=limit).items
    lines = [f"{w.id}  {'on ' if w.enabled else 'off'}  {w.url}  {','.join(w.event_types)}" for w in found]
    _out(Console(highlight=False), [w.model_dump(mode="json") for w in found], as_json=as_json, text="\n".join(lines))


@webhooks_app.command("deliveries")
def list_deliveries(
    webhook_id: WebhookId,
    url: GatewayUrl = None,
    api_key: ApiKey = None,
    limit: NewestFirst = 20,
    as_json: AsJson = False,
) -> None:
    """Its delivery log, newest first: status, attempts, last response."""
    with signed_in(url, api_key) as gateway:
        found = gateway.sdk.webhooks.deliveries(webhook_id, limit=limit).items
    lines = [
        f"{d.id}  {d.event_type:<18}  {d.status:<9}  attempts {d.attempts}  {d.last_status_code or ''} "
        f"{d.last_error or ''}".rstrip()
        for d in found
    ]
    _out(Console(highlight=False), [d.model_dump(mode="json") for d in found], as_json=as_json, text="\n".join(lines))


@webhooks_app.command("redeliver")
def redeliver(
    webhook_id: WebhookId,
    delivery_id: Annotated[str, typer.Argument(help="The delivery (cognitionos webhooks deliveries ID)")],
    url: GatewayUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Send a delivery again (the same message id), from a fresh count of attempts."""
    with signed_in(url, api_key) as gateway:
        gateway.sdk.webhooks.redeliver(webhook_id, delivery_id)
    typer.echo(f"delivery {delivery_id} queued again")


@webhooks_app.command("ping")
def ping_webhook(webhook_id: WebhookId, url: GatewayUrl = None, api_key: ApiKey = None) -> None:
    """Send a test message (webhook.ping); see it in the delivery log."""
    with signed_in(url, api_key) as gateway:
        sent = gateway.sdk.webhooks.ping(webhook_id)
    typer.echo(f"ping {sent.id} queued: cognitionos webhooks deliveries {webhook_id}")


@webhooks_app.command("delete")
def delete_webhook(webhook_id: WebhookId, url: GatewayUrl = None, api_key: ApiKey = None) -> None:
    """Delete a webhook and its delivery log."""
    with signed_in(url, api_key) as gateway:
        gateway.sdk.webhooks.delete(webhook_id)
    typer.echo(f"webhook {webhook_id} deleted")
