"""Tokens and secrets: JWT issue/verify (PyJWT), API key format and hashing."""

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import jwt

from shared.errors import UnauthorizedError

TokenType = Literal["access", "refresh"]
API_KEY_PREFIX = "cos_"
ALLOWED_JWT_ALGORITHMS = {"HS256", "HS384", "HS512"}


@dataclass(frozen=True, slots=True, kw_only=True)
class JWTConfig:
    secret: str
    algorithm: str
    issuer: str
    audience: str


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    jti: str
    expires_at: datetime


def issue_token(
    config: JWTConfig,
    *,
    subject: str,
    token_type: TokenType,
    ttl: timedelta,
    claims: dict[str, Any] | None = None,
    jti: str | None = None,
) -> IssuedToken:
    now = datetime.now(UTC)
    expires_at = now + ttl
    jti = jti or uuid.uuid4().hex
    payload: dict[str, Any] = {
        "iss": config.issuer,
        "aud": config.audience,
        "sub": subject,
        "jti": jti,
        "type": token_type,
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
        **(claims or {}),
    }
    return IssuedToken(jwt.encode(payload, config.secret, algorithm=config.algorithm), jti, expires_at)


def decode_token(config: JWTConfig, token: str, *, expected_type: TokenType) -> dict[str, Any]:
    """Verify signature, algorithm, issuer, audience, expiry and token type; raise 401 otherwise."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise UnauthorizedError("Malformed token", code="invalid_token") from exc
    if header.get("alg") != config.algorithm or config.algorithm not in ALLOWED_JWT_ALGORITHMS:
        raise UnauthorizedError("Token algorithm not accepted", code="invalid_token")
    try:
        claims = jwt.decode(
            token,
            config.secret,
            algorithms=[config.algorithm],
            audience=config.audience,
            issuer=config.issuer,
            options={"require": ["exp", "iat", "sub", "jti", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise UnauthorizedError("Token has expired", code="token_expired") from exc
    except jwt.InvalidTokenError as exc:
        raise UnauthorizedError("Invalid token", code="invalid_token") from exc
    if claims.get("type") != expected_type:
        raise UnauthorizedError(f"Expected an {expected_type} token", code="invalid_token")
    return claims


def generate_api_key() -> tuple[str, str]:
    """Return (full key shown once, public prefix used to find it)."""
    prefix = secrets.token_hex(4)
    return f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}", prefix


def hash_api_key(key: str) -> str:
    # API keys carry 256 bits of entropy, so a fast hash is safe here (unlike passwords).
    return hashlib.sha256(key.encode()).hexdigest()


def looks_like_api_key(value: str) -> bool:
    return value.startswith(API_KEY_PREFIX) and value.count("_") >= 2
