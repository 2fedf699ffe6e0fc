"""Who the CLI is and where the gateway is.

The address: `--gateway-url`, else COGNITIONOS_URL (or API_GATEWAY_URL, kept working), else the address the last
`cognitionos up` on this machine served on (it writes it to the state folder), else http://127.0.0.1:8000.

The account: `--api-key`, else COGNITIONOS_API_KEY, else the key `cognitionos login` stored (state folder, 0600), else
this machine's own CLI account (made once; its runs are not yours in the console: `cognitionos login` fixes that).
"""

import json
import socket
from pathlib import Path
from typing import Annotated, Any

import typer

from cognitionos_cli.embedded import state_dir
from cognitionos_cli.secrets import write_private
from cognitionos_cli.workflow import Credentials, Gateway

DEFAULT_GATEWAY = "http://127.0.0.1:8000"
GATEWAY_FILE = "gateway-url"
LOGIN_FILE = "login.json"

GatewayUrl = Annotated[
    str | None,
    typer.Option(
        "--gateway-url",
        envvar=["COGNITIONOS_URL", "API_GATEWAY_URL"],
        help="The gateway's address (default: where `cognitionos up` serves)",
        show_default=False,
    ),
]
ApiKey = Annotated[
    str | None,
    typer.Option(
        "--api-key", envvar="COGNITIONOS_API_KEY", help="Act with this API key (default: `cognitionos login`'s)"
    ),
]


def remember_gateway(url: str) -> None:
    """Written by `cognitionos up`: where the other commands find the gateway."""
    write_private(state_dir() / GATEWAY_FILE, url)


def gateway_url(given: str | None) -> str:
    if given:
        return given.rstrip("/")
    served = state_dir() / GATEWAY_FILE
    return served.read_text().strip() if served.exists() else DEFAULT_GATEWAY


def stored_login() -> dict[str, Any] | None:
    path = state_dir() / LOGIN_FILE
    return json.loads(path.read_text()) if path.exists() else None


def store_login(*, url: str, username: str, api_key: str) -> Path:
    path = state_dir() / LOGIN_FILE
    write_private(path, json.dumps({"gateway_url": url, "username": username, "api_key": api_key}))
    return path


def forget_login() -> bool:
    path = state_dir() / LOGIN_FILE
    existed = path.exists()
    path.unlink(missing_ok=True)
    return existed


def open_gateway(url: str, api_key: str | None) -> Gateway:
    """A client acting as the user: the given or stored API key, else this machine's CLI account (signed in)."""
    login = stored_login()
    key = api_key or (login["api_key"] if login and login.get("gateway_url") == url else None)
    if key:
        return Gateway(url, api_key=key)
    gateway = Gateway(url)
    try:
        gateway.sign_in(Credentials.local())
    except BaseException:
        gateway.close()
        raise
    return gateway


def key_name() -> str:
    return f"cognitionos CLI on {socket.gethostname()}"[:100]


def login(
    url: GatewayUrl = None,
    username: Annotated[
        str | None, typer.Option(help="Sign in with your username or email (the password is asked)")
    ] = None,
    api_key: ApiKey = None,
    scope: Annotated[
        list[str] | None,
        typer.Option(help="With --username: limit this machine's key to these scopes (runs:*, memories:read, ...)"),
    ] = None,
    team: Annotated[
        str | None,
        typer.Option(help="With --username: bind this machine's key to one of your teams (its id or name)"),
    ] = None,
) -> None:
    """Act as your own account from now on: with your username (a password prompt, then an API key is made for this
    machine, limited to --scope if given) or with an API key you have. Stored in the state folder, readable by you
    alone."""
    from cognitionos_cli.teams import team_id  # teams.py imports this module's options
    from cognitionos_sdk import AuthenticationError, BadRequestError, CognitionOS, CognitionOSError

    address = gateway_url(url)
    if bool(username) == bool(api_key):
        typer.echo("error: give --username (a password prompt follows) or --api-key", err=True)
        raise typer.Exit(2)
    try:
        with CognitionOS(address, api_key=api_key) as client:
            if username:
                client.sign_in(username, typer.prompt("password", hide_input=True))
                bound = team_id(client, team) if team else None
                api_key = client.api_keys.create(key_name(), scopes=scope, team_id=bound).key
            me = client.me()
    except AuthenticationError as exc:
        typer.echo(f"error: the gateway at {address} refused the sign-in ({exc.message})", err=True)
        raise typer.Exit(3) from exc
    except BadRequestError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    except (CognitionOSError, OSError) as exc:
        typer.echo(f"error: cannot reach the gateway at {address} ({exc})", err=True)
        raise typer.Exit(3) from exc
    assert api_key is not None
    stored = store_login(url=address, username=me.username, api_key=api_key)
    typer.echo(f"signed in as {me.username} at {address} (kept in {stored})")


def logout() -> None:
    """Forget the stored sign-in: the CLI acts as this machine's own account again. The API key itself stays valid
    until you revoke it (console, API keys)."""
    typer.echo("signed out" if forget_login() else "was not signed in")
