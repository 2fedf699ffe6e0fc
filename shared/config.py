"""Settings base shared by every service: environment variables and an optional .env file."""

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from pydantic import Field, create_model
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.services import SERVICES, ServiceName, ServiceSpec

DEV_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me"
DEV_INTERNAL_SECRET = "dev-only-insecure-internal-secret-change-me"


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

    cors_origins: list[str] = Field(default_factory=lambda: ["*"])

    def service_url(self, service: ServiceName) -> str:
        return str(getattr(self, ServiceSpec(service).url_field))


@lru_cache
def get_base_settings() -> BaseServiceSettings:
    return BaseServiceSettings()
