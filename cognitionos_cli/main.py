"""The `cognitionos` command: up, status, run, migrate."""

import asyncio
import contextlib
import json
import os
import signal
import sys
from typing import Annotated, Any

import httpx
import typer

from cognitionos_cli.account import ApiKey, GatewayUrl, gateway_url, login, logout, remember_gateway
from cognitionos_cli.approvals import approvals_app
from cognitionos_cli.audit import audit_app
from cognitionos_cli.automation import schedules_app, templates_app, webhooks_app
from cognitionos_cli.embedded import (
    EmbeddedPostgres,
    EmbeddedRedis,
    port_is_free,
    start_postgres,
    start_redis,
    state_dir,
)
from cognitionos_cli.evals import eval_app
from cognitionos_cli.files import files_app
from cognitionos_cli.memories import memories_app
from cognitionos_cli.runs import run, runs_app, signed_in
from cognitionos_cli.secrets import SECRETS_FILE, load_or_create_secrets, secrets_for_services, write_private
from cognitionos_cli.supervisor import Supervisor
from cognitionos_cli.teams import teams_app
from shared.app import VERSION
from shared.services import SERVICES

EMBEDDED_REDIS_FILE = "embedded-redis"  # which Redis `up` started, for `status`


class CognitionOSApp(typer.Typer):
    """The command line; a crash prints one line (`--debug` shows the traceback)."""

    debug = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except Exception as exc:
            if self.debug:
                raise
            typer.echo(f"cognitionos: {type(exc).__name__}: {exc} (--debug shows where)", err=True)
            sys.exit(1)


app = CognitionOSApp(
    help="CognitionOS: run and manage the seven services.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # a docstring's lines join into sentences, as in Markdown
)
app.command()(run)
app.command()(login)
app.command()(logout)
app.add_typer(runs_app, name="runs")
app.add_typer(approvals_app, name="approvals")
app.add_typer(eval_app, name="eval")
app.add_typer(files_app, name="files")
app.add_typer(templates_app, name="templates")
app.add_typer(schedules_app, name="schedules")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(audit_app, name="audit")
app.add_typer(teams_app, name="teams")


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"cognitionos {VERSION}")
        raise typer.Exit(0)


@app.callback()
def options(
    debug: Annotated[bool, typer.Option("--debug", help="Show the whole traceback when a command crashes")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit")
    ] = False,
) -> None:
    """CognitionOS: run and manage the seven services."""
    app.debug = debug


def _resolve_backing_services(redis_password: str) -> tuple[str, str, list[EmbeddedPostgres | EmbeddedRedis]]:
    """External DATABASE_URL/REDIS_URL when set, else the embedded servers (Redis behind `redis_password`)."""
    started: list[EmbeddedPostgres | EmbeddedRedis] = []
    database_url = os.environ.get("DATABASE_URL")
    redis_url = os.environ.get("REDIS_URL")
    if not database_url:
        postgres = start_postgres()
        started.append(postgres)
        database_url = postgres.database_url
        typer.echo(f"embedded PostgreSQL + pgvector: {state_dir() / 'pgdata'}")
    if not redis_url:
        redis = start_redis(port=int(os.environ.get("COGNITIONOS_REDIS_PORT", "6390")), password=redis_password)
        started.append(redis)
        redis_url = redis.redis_url
        address = redis_url.rsplit(":", 1)[1].split("/")[0]
        typer.echo(f"embedded Redis: {redis.kind} on 127.0.0.1:{address} (password in {SECRETS_FILE})")
        write_private(state_dir() / EMBEDDED_REDIS_FILE, redis.kind)
    else:
        (state_dir() / EMBEDDED_REDIS_FILE).unlink(missing_ok=True)
    return database_url, redis_url, started


def _migrate(database_url: str) -> None:
    from database.migrate import upgrade

    upgrade(database_url)


@app.command()
def up(
    host: Annotated[str, typer.Option(help="Interface the services listen on")] = "127.0.0.1",
    port_base: Annotated[
        int, typer.Option(envvar="COGNITIONOS_PORT_BASE", help="Gateway port; the others follow (+1 … +6)")
    ] = 8000,
    skip_migrations: Annotated[bool, typer.Option("--skip-migrations", help="Do not run migrations first")] = False,
) -> None:
    """Start all seven services (and embedded Postgres/Redis when no URLs are set). Ctrl-C stops everything."""
    busy = [spec for spec in SERVICES if not port_is_free(host, spec.port_from(port_base))]
    if busy:
        ports = ", ".join(f"{spec.port_from(port_base)} ({spec.name})" for spec in busy)
        typer.echo(
            f"cannot start: port {ports} already in use. Stop the other process or pick another --port-base.", err=True
        )
        raise typer.Exit(1)
    secrets = load_or_create_secrets(state_dir())
    database_url, redis_url, embedded = _resolve_backing_services(secrets["REDIS_PASSWORD"])
    try:
        if not skip_migrations:
            typer.echo("running migrations ...")
            _migrate(database_url)
        env = {
            **secrets_for_services(state_dir(), dict(os.environ)),
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "PYTHONUNBUFFERED": "1",
        }
        for spec in SERVICES:
            env[spec.url_field.upper()] = f"http://127.0.0.1:{spec.port_from(port_base)}"
        asyncio.run(_run_services(env, host, port_base))
    finally:
        for server in reversed(embedded):
            with contextlib.suppress(Exception):
                server.stop()


async def _run_services(env: dict[str, str], host: str, port_base: int) -> None:
    supervisor = Supervisor(SERVICES, env=env, host=host, port_base=port_base)
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop_requested.set)
    await supervisor.start()
    remember_gateway(f"http://127.0.0.1:{port_base}")  # where `cognitionos run`, `status`, ... find it
    typer.echo(f"CognitionOS is starting: gateway on http://{host}:{port_base} (Ctrl-C to stop)")
    announce = asyncio.create_task(_announce_when_healthy(f"http://127.0.0.1:{port_base}"))
    crash_loop = asyncio.create_task(supervisor.wait_crash_loop())
    stop = asyncio.create_task(stop_requested.wait())
    done, _ = await asyncio.wait({crash_loop, stop}, return_when=asyncio.FIRST_COMPLETED)
    if crash_loop in done:
        typer.echo(f"{crash_loop.result()} keeps crashing (see its log lines above); stopping everything", err=True)
    else:
        typer.echo("stopping ...")
    announce.cancel()
    crash_loop.cancel()
    await supervisor.stop()
    if crash_loop in done and not crash_loop.cancelled():
        sys.exit(1)


async def _announce_when_healthy(gateway_url: str, timeout_seconds: float = 120) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_seconds
    async with httpx.AsyncClient(timeout=2) as client:
        while asyncio.get_running_loop().time() < deadline:
            try:
                if (await client.get(f"{gateway_url}/health")).json().get("status") == "healthy":
                    typer.echo(f"all 7 services are up: {gateway_url} (OpenAPI at {gateway_url}/docs)")
                    typer.echo(f"the console: {gateway_url}/ (first account: POST {gateway_url}/api/v1/auth/register)")
                    return
            except (httpx.HTTPError, ValueError):
                pass
            await asyncio.sleep(0.5)
    typer.echo("some services are not healthy yet: run `cognitionos status`", err=True)


@app.command()
def status(
    url: GatewayUrl = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the gateway's health document as JSON")] = False,
) -> None:
    """Health of every service, as the gateway sees it, as a table. Exit code 0 when all are healthy, 1 when some
    are not, 3 when the gateway cannot be reached."""
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    address = gateway_url(url)
    try:
        body = httpx.get(f"{address}/health", timeout=5).json()
    except httpx.HTTPError as exc:
        console.out(f"api-gateway down ({address}: {type(exc).__name__})")
        raise typer.Exit(3) from exc
    if as_json:
        console.out(json.dumps(body))
        raise typer.Exit(0 if body["status"] == "healthy" else 1)
    table = Table(title=f"CognitionOS at {address} ({body['status']})")
    for column in ("service", "status", "latency", "circuit", "detail"):
        table.add_column(column)
    gateway_detail = ", ".join(body.get("unavailable") or []) or ""
    table.add_row("api-gateway", "ok", "", "", gateway_detail and f"unavailable: {gateway_detail}")
    for name, health in body["services"].items():
        latency = f"{health['latency_ms']} ms" if health.get("latency_ms") is not None else ""
        table.add_row(name, health["status"], latency, health.get("circuit", ""), health.get("error") or "")
    console.print(table)
    if (embedded := state_dir() / EMBEDDED_REDIS_FILE).exists():
        console.out(f"embedded Redis: {embedded.read_text()}")
    raise typer.Exit(0 if body["status"] == "healthy" else 1)


@app.command()
def chat(
    url: GatewayUrl = None,
    api_key: ApiKey = None,
    conversation: Annotated[str | None, typer.Option(help="Go on with this conversation (its id)")] = None,
) -> None:
    """Talk with the assistant, one line at a time (Ctrl-D or /quit to leave). Replies stream as they are written;
    tool calls and runs show as they happen. Works on a pipe too: one message per line."""
    from rich.console import Console

    from cognitionos_cli.chat import chat_loop

    with signed_in(url, api_key) as gateway:
        chat_loop(gateway, Console(highlight=False), conversation_id=conversation)


app.add_typer(memories_app, name="memories")


@app.command()
def migrate() -> None:
    """Apply database migrations (DATABASE_URL, or the embedded Postgres)."""
    database_url = os.environ.get("DATABASE_URL")
    embedded = None
    if not database_url:
        embedded = start_postgres()
        database_url = embedded.database_url
    try:
        _migrate(database_url)
        typer.echo("database is at the latest migration")
    finally:
        if embedded:
            embedded.stop()


if __name__ == "__main__":
    app()
