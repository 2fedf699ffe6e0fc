"""Settings for the services the tests start: one set of test secrets, each service's settings builder."""

import importlib
import tempfile
from typing import Any

from services.ai_runtime.config import AIRuntimeSettings
from services.memory_service.config import MemorySettings
from services.tool_runner.config import ToolRunnerSettings
from tests.support.providers import Providers

JWT_SECRET = "test-jwt-secret-0123456789abcdef0123456789"
INTERNAL_SECRET = "test-internal-secret-0123456789abcdef"
ADMIN_PASSWORD = "admin-password-123"


def common_settings(database_url: str, redis_url: str) -> dict[str, object]:
    return {
        "database_url": database_url,
        "redis_url": redis_url,
        "jwt_secret": JWT_SECRET,
        "internal_secret": INTERNAL_SECRET,
        "log_level": "WARNING",
    }


def runtime_settings(
    database_url: str, redis_url: str, providers: Providers | None, **overrides: Any
) -> AIRuntimeSettings:
    values: dict[str, Any] = {
        **common_settings(database_url, redis_url),
        "retry_base_seconds": 0.01,
        "cooldown_failures": 3,
        "cooldown_seconds": 30,
        "request_timeout_seconds": 2.0,
        "usage_flush_seconds": 0.05,
        "role_models": {
            r: ["gpt-4o-mini", "claude-3-5-haiku-latest", "smollm2-135m-instruct"]
            for r in ("planner", "executor", "critic", "summarizer")
        },
        "local_threads": 2,
    }
    if providers:
        values |= {
            "openai_api_key": "sk-test",
            "openai_base_url": f"{providers.openai.url}/v1",
            "anthropic_api_key": "sk-ant-test",
            "anthropic_base_url": providers.anthropic.url,
            "openai_compatible_base_url": f"{providers.openai.url}/v1",
            "openai_compatible_models": ["llama3.1:8b"],
        }
    return AIRuntimeSettings(**(values | overrides))


def memory_settings(database_url: str, redis_url: str, ai_url: str, **overrides: Any) -> MemorySettings:
    return MemorySettings(
        **{
            **common_settings(database_url, redis_url),
            "ai_runtime_url": ai_url,
            "access_flush_seconds": 0.1,
            "purge_interval_seconds": 0.2,
            **overrides,
        }
    )


def tool_settings(database_url: str, redis_url: str, **overrides: Any) -> ToolRunnerSettings:
    values = {
        **common_settings(database_url, redis_url),
        "sandbox_cpu_seconds": 5,
        "files_dir": tempfile.mkdtemp(prefix="cognitionos-test-files-"),
    }
    return ToolRunnerSettings(**{**values, **overrides})


def service_app(package: str, database_url: str, redis_url: str, **extra: object) -> Any:
    """Any service's app, by its package name, on the test secrets and the given database and Redis."""
    main = importlib.import_module(f"services.{package}.main")
    config = importlib.import_module(f"services.{package}.config")
    settings_class = type(config.get_settings())
    return main.create_app(settings_class(**common_settings(database_url, redis_url), **extra))
