"""Encryption at rest for is_sensitive memories (shared/crypto.py)."""

from cryptography.fernet import Fernet, InvalidToken

from shared.crypto import build_cipher as shared_cipher


def build_cipher(encryption_key: str | None, internal_secret: str) -> Fernet:
    return shared_cipher(encryption_key, internal_secret, purpose="memory")


def decrypt_or_placeholder(cipher: Fernet, token: str) -> str:
    try:
        return cipher.decrypt(token.encode()).decode()
    except InvalidToken:
        return "[encrypted with another key]"
