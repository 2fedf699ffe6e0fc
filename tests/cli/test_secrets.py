"""`cognitionos up` makes its own secrets: random, owner-only, reused, and never over an operator's own."""

import os
import stat
from pathlib import Path

import platformdirs
import pytest

from cognitionos_cli.embedded import state_dir
from cognitionos_cli.secrets import SECRETS_FILE, load_or_create_secrets, secrets_for_services
from cognitionos_cli.workflow import Credentials
from shared.config import secret_problem


def test_first_start_writes_random_owner_only_secrets(tmp_path: Path) -> None:
    created = load_or_create_secrets(tmp_path)
    assert set(created) == {"JWT_SECRET", "INTERNAL_SECRET", "ENCRYPTION_KEY", "REDIS_PASSWORD"}
    assert all(secret_problem(value) is None for value in created.values())
    assert stat.S_IMODE((tmp_path / SECRETS_FILE).stat().st_mode) == 0o600
    assert load_or_create_secrets(tmp_path) == created  # reused, so tokens and encrypted memories stay valid


def test_another_machine_gets_other_secrets(tmp_path: Path) -> None:
    assert load_or_create_secrets(tmp_path / "a") != load_or_create_secrets(tmp_path / "b")


def test_an_operators_own_secret_is_not_replaced(tmp_path: Path) -> None:
    given = secrets_for_services(tmp_path, {"JWT_SECRET": "the-operators-own-secret-0123456789abcdef"})
    assert "JWT_SECRET" not in given and {"INTERNAL_SECRET", "ENCRYPTION_KEY"} <= set(given)
    assert "REDIS_PASSWORD" not in given  # it goes into REDIS_URL, not the services' environment


def test_the_cli_credentials_are_never_readable_by_others_even_while_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written 0644 then chmod 0600, the file was world-readable for a moment: each write now opens 0600."""
    modes: list[int] = []
    real_replace = os.replace

    def observed_replace(source: str, target: Path) -> None:
        modes.append(stat.S_IMODE(os.stat(source).st_mode))
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", observed_replace)
    credentials = Credentials.local(tmp_path / "cli-credentials.json")
    assert modes == [0o600]
    assert stat.S_IMODE((tmp_path / "cli-credentials.json").stat().st_mode) == 0o600
    assert Credentials.local(tmp_path / "cli-credentials.json") == credentials
    assert [p.name for p in tmp_path.iterdir()] == ["cli-credentials.json"]  # no temporary file left


def test_the_state_folder_is_its_owners_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "state"
    folder.mkdir(mode=0o755)
    monkeypatch.setattr(platformdirs, "user_state_dir", lambda name: str(folder))
    assert state_dir() == folder and stat.S_IMODE(folder.stat().st_mode) == 0o700


@pytest.mark.skipif(os.getuid() != 0, reason="the embedded PostgreSQL runs as another user only under root")
def test_a_command_run_beside_the_embedded_database_does_not_lock_it_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under root the embedded PostgreSQL runs as its own user: every command made the state folder 0700 again, and
    the database died at its next checkpoint ("could not open pg_control: Permission denied")."""
    folder = tmp_path / "state"
    (folder / "pgdata").mkdir(parents=True, mode=0o700)
    os.chown(folder / "pgdata", 65534, 65534)  # owned by another user, as pgserver's is
    folder.chmod(0o755)  # as pgserver leaves it
    monkeypatch.setattr(platformdirs, "user_state_dir", lambda name: str(folder))
    assert state_dir() == folder and stat.S_IMODE(folder.stat().st_mode) == 0o711  # passable, not listable
