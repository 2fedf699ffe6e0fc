"""What the CLI's tests share: a state folder of their own per test, and the CLI invoked in-process."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cognitionos_cli.main import app
from tests.support import ThreadedServer


@pytest.fixture
def cli_env(platform_gateway: ThreadedServer, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The CLI's own account lives in its state folder: one per test, so tests do not share runs."""
    yield {"API_GATEWAY_URL": platform_gateway.url, "XDG_STATE_HOME": str(tmp_path / "state")}


def cognitionos(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.output
