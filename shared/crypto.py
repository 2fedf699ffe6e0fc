"""Encryption at rest with Fernet (AES-128-CBC + HMAC-SHA256): one key setting, ENCRYPTION_KEY, for every service
that keeps a secret of its users (sensitive memories, MCP servers' headers)."""

import base64
import hashlib

from cryptography.fernet import Fernet

FERNET_KEY_HELP = (
    "ENCRYPTION_KEY must be a Fernet key (32 url-safe base64 bytes); generate one with: "
    "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
)


def check_fernet_key(value: str | None) -> str | None:
    """A settings validator: the key parses as a Fernet key (ValueError naming how to make one otherwise)."""
    if value:
        try:
            Fernet(value.encode())
        except ValueError as exc:
            raise ValueError(FERNET_KEY_HELP) from exc
    return value


def build_cipher(encryption_key: str | None, internal_secret: str, *, purpose: str) -> Fernet:
    """The configured key, or (in development, where ENCRYPTION_KEY may be unset) one derived from INTERNAL_SECRET
    for this purpose."""
    if encryption_key:
        return Fernet(encryption_key.encode())
    derived = hashlib.sha256(f"cognitionos-{purpose}:".encode() + internal_secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(derived))
