"""Encryption at rest for is_sensitive memories (Fernet: AES-128-CBC + HMAC-SHA256)."""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken


def build_cipher(encryption_key: str | None, internal_secret: str) -> Fernet:
    """The configured key, or one derived from INTERNAL_SECRET so development works without setup."""
    if encryption_key:
        return Fernet(encryption_key.encode())
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"cognitionos-memory:" + internal_secret.encode()).digest()))


def decrypt_or_placeholder(cipher: Fernet, token: str) -> str:
    try:
        return cipher.decrypt(token.encode()).decode()
    except InvalidToken:
        return "[encrypted with another key]"
