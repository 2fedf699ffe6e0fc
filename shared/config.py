"""Settings base shared by every service: environment variables and an optional .env file."""

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me"
DEV_INTERNAL_SECRET = "dev-only-insecure-internal-secret-change-me"


class BaseServiceSettings(BaseSettings):
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

    api_gateway_url: str = "http://127.0.0.1:8000"
    auth_service_url: str = "http://127.0.0.1:8001"
    task_planner_url: str = "http://127.0.0.1:8002"
    agent_orchestrator_url: str = "http://127.0.0.1:8003"
    memory_service_url: str = "http://127.0.0.1:8004"
    ai_runtime_url: str = "http://127.0.0.1:8005"
    tool_runner_url: str = "http://127.0.0.1:8006"

    cors_origins: list[str] = ["*"]


@lru_cache
def get_base_settings() -> BaseServiceSettings:
    return BaseServiceSettings()
