"""Secrets for `cognitionos up`: made at random on first start, kept in the state folder (0600), reused after.

A variable already set in the environment wins, so an operator's own secrets are never replaced."""

import json
import os
import secrets
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet

SECRETS_FILE = "secrets.json"


def _generate() -> dict[str, str]:
    return {
        "JWT_SECRET": secrets.token_urlsafe(48),
        "INTERNAL_SECRET": secrets.token_urlsafe(48),
        "ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "REDIS_PASSWORD": secrets.token_urlsafe(32),
    }


def load_or_create_secrets(folder: Path) -> dict[str, str]:
    """The stored secrets (any missing ones are added), written owner-only before anything else can read them."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / SECRETS_FILE
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    merged = {**_generate(), **stored}
    if merged != stored:
        write_private(path, json.dumps(merged))
    path.chmod(0o600)
    return merged


def write_private(path: Path, text: str) -> None:
    """Writes `text` to `path` readable by its owner alone from the first byte: a 0600 file of its own (mkstemp),
    then renamed over `path`, so no other user ever sees it, even for a moment, and no reader sees half of it."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def secrets_for_services(folder: Path, environ: dict[str, str]) -> dict[str, str]:
    """The service secrets to put in the services' environment: the stored ones, less any the operator set."""
    stored = load_or_create_secrets(folder)
    return {name: value for name, value in stored.items() if name != "REDIS_PASSWORD" and not environ.get(name)}
