from functools import lru_cache

from pydantic import Field

from shared.config import BaseServiceSettings


class AuthSettings(BaseServiceSettings):
    service_name: str = "auth-service"
    # Accounts, logins and keys are small: an unauthenticated caller may not make the service hold more than this.
    max_request_body_bytes: int = Field(default=64 * 1024, ge=1024)
    access_token_ttl_minutes: int = Field(default=15, ge=1)
    audit_retention_days: int | None = Field(
        default=None,
        ge=1,
        description="Audit events older than this are purged (hourly); the chain then starts at the last one purged. "
        "Unset: kept forever",
    )
    refresh_token_ttl_days: int = Field(default=14, ge=1)
    password_time_cost: int = Field(default=3, ge=1, le=20, description="Argon2id passes over memory per hash")
    password_memory_kib: int = Field(
        default=65_536, ge=8, le=1_048_576, description="Argon2id memory per hash, KiB (64 MiB by default)"
    )
    max_failed_logins: int = Field(default=5, ge=1, description="Failures before the account is locked")
    lockout_base_seconds: int = Field(default=30, ge=1, description="First lockout; doubles on each further failure")
    lockout_max_seconds: int = Field(default=900, ge=1)
    refresh_cookie_path: str = Field(
        default="/api/v1/auth",
        description="Where the browser sends the refresh cookie (X-Refresh-Cookie: true): the public auth path",
    )
    bootstrap_admin_username: str | None = None
    bootstrap_admin_email: str | None = None
    bootstrap_admin_password: str | None = None


@lru_cache
def get_settings() -> AuthSettings:
    return AuthSettings()
