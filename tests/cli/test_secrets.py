"""`cognitionos up` makes its own secrets: random, owner-only, reused, and never over an operator's own."""

import stat
from pathlib import Path

from cognitionos_cli.secrets import SECRETS_FILE, load_or_create_secrets, secrets_for_services
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
