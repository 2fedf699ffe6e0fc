"""Settings base shared by every service: environment variables and an optional .env file."""

from functools import lru_cache
from typing import TYPE_CHECKING, Any, Self

from pydantic import Field, create_model, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.crypto import check_fernet_key
from shared.services import SERVICES, ServiceName, ServiceSpec

DEV_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me"
DEV_INTERNAL_SECRET = "dev-only-insecure-internal-secret-change-me"
MIN_SECRET_LENGTH = 32
# Words that mark a value copied from an example rather than generated (deploy/k8s ships CHANGE_ME).
PLACEHOLDER_MARKS = ("change-me", "change_me", "changeme", "replace-me", "example", "dev-only", "insecure")
SECRET_HINT = "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"


def secret_problem(value: str | None) -> str | None:
    """Why a secret is unusable outside development, or None when it is usable."""
    if not value:
        return "is not set"
    if any(mark in value.lower() for mark in PLACEHOLDER_MARKS):
        return "is a placeholder or a development default"
    if len(value) < MIN_SECRET_LENGTH:
        return f"is shorter than {MIN_SECRET_LENGTH} characters"
    return None


def _service_url_fields() -> type[BaseSettings]:
    """One `<package>_url` setting per service (AI_RUNTIME_URL, ...), made from the one list of services."""
    fields: dict[str, Any] = {spec.url_field: (str, f"http://127.0.0.1:{spec.port}") for spec in SERVICES}
    return create_model("ServiceUrls", __base__=BaseSettings, **fields)


if TYPE_CHECKING:
    ServiceUrls = BaseSettings
else:
    ServiceUrls = _service_url_fields()


class BaseServiceSettings(ServiceUrls):
    """What every CognitionOS service needs to know. Service settings extend it."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    service_name: str = "cognitionos"
    environment: str = "development"
    log_level: str = "INFO"

    database_url: str = Field(
        default="postgresql+asyncpg://cognitionos:cognitionos@localhost:5432/cognitionos",
        description="SQLAlchemy async URL of the shared Postgres (pgvector) database.",
    )
    database_pool_size: int = 10
    redis_url: str = "redis://localhost:6379/0"

    jwt_secret: str = DEV_JWT_SECRET
    jwt_algorithm: str = "HS256"
    jwt_issuer: str = "cognitionos-auth"
    jwt_audience: str = "cognitionos"
    internal_secret: str = Field(
        default=DEV_INTERNAL_SECRET,
        description="Shared secret the gateway signs identity headers with; upstreams trust only that.",
    )

    max_request_body_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="Larger request bodies are refused with 413 before being read"
    )
    metrics_allowed_networks: list[str] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"],
        description="Who may read /metrics without METRICS_TOKEN (Prometheus inside the private network)",
    )
    metrics_token: str | None = Field(
        default=None, description="When set, /metrics needs 'Authorization: Bearer <token>' from anywhere"
    )
    cors_origins: list[str] = Field(default_factory=lambda: ["*"])
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        description="OpenTelemetry collector (OTLP over HTTP, e.g. http://otel-collector:4318). Unset: no tracing",
    )

    @property
    def is_development(self) -> bool:
        return self.environment.lower() in ("development", "dev", "test")

    def upload_body_limits(self) -> dict[str, int]:
        """Path prefix -> the request body limit there, where files are uploaded (above max_request_body_bytes)."""
        return {}

    def secrets_to_check(self) -> dict[str, str | None]:
        """Environment variable -> value of every secret this service relies on; services add their own."""
        return {"JWT_SECRET": self.jwt_secret, "INTERNAL_SECRET": self.internal_secret}

    @model_validator(mode="after")
    def _refuse_guessable_secrets(self) -> Self:
        if self.is_development:
            return self
        problems = [
            f"{name} {problem}" for name, value in self.secrets_to_check().items() if (problem := secret_problem(value))
        ]
        if problems:
            raise ValueError(
                f"{self.service_name} refuses to start with ENVIRONMENT={self.environment}: {'; '.join(problems)}. "
                f"Set each as an environment variable (or in .env); {SECRET_HINT}"
            )
        return self

    def service_url(self, service: ServiceName) -> str:
        return str(getattr(self, ServiceSpec(service).url_field))


@lru_cache
def get_base_settings() -> BaseServiceSettings:
    return BaseServiceSettings()


class EncryptingServiceSettings(BaseServiceSettings):
    """A service that keeps its users' secrets encrypted at rest (shared/crypto.py): ENCRYPTION_KEY, checked as a
    Fernet key, and one of the secrets that must be set outside development."""

    encryption_key: str | None = Field(
        default=None,
        description="Fernet key for what this service keeps encrypted (sensitive memories, MCP servers' headers); "
        "required outside development (in development it is derived from INTERNAL_SECRET)",
    )

    @field_validator("encryption_key")
    @classmethod
    def _is_a_fernet_key(cls, value: str | None) -> str | None:
        return check_fernet_key(value)

    def secrets_to_check(self) -> dict[str, str | None]:
        return {**super().secrets_to_check(), "ENCRYPTION_KEY": self.encryption_key}
