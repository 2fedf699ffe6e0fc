"""Secrets outside development: a service refuses to start on a value an attacker could know or guess."""

import secrets

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from services.agent_orchestrator.config import OrchestratorSettings
from services.ai_runtime.config import AIRuntimeSettings
from services.api_gateway.config import GatewaySettings
from services.auth_service.config import AuthSettings
from services.memory_service.config import MemorySettings
from services.task_planner.config import TaskPlannerSettings
from services.tool_runner.config import ToolRunnerSettings
from shared.config import BaseServiceSettings

STRONG = {"jwt_secret": secrets.token_urlsafe(48), "internal_secret": secrets.token_urlsafe(48)}
ALL_SETTINGS = [
    GatewaySettings,
    AuthSettings,
    TaskPlannerSettings,
    OrchestratorSettings,
    MemorySettings,
    AIRuntimeSettings,
    ToolRunnerSettings,
]


@pytest.mark.parametrize("settings_class", ALL_SETTINGS)
def test_public_dev_secrets_cannot_run_in_production(settings_class: type[BaseServiceSettings]) -> None:
    with pytest.raises(ValidationError) as refused:
        settings_class(environment="production")
    assert "JWT_SECRET" in str(refused.value) and "INTERNAL_SECRET" in str(refused.value)
    assert "secrets.token_urlsafe" in str(refused.value)  # says how to make one


@pytest.mark.parametrize(
    "value", ["CHANGE_ME", "change-me-" + "x" * 40, "replace-me-with-a-real-secret-please-now", "short-but-random"]
)
def test_manifest_placeholders_and_short_secrets_cannot_run_in_production(value: str) -> None:
    with pytest.raises(ValidationError, match="INTERNAL_SECRET"):
        GatewaySettings.model_validate({"environment": "production", **STRONG, "internal_secret": value})


def test_strong_secrets_run_in_production() -> None:
    assert GatewaySettings.model_validate({"environment": "production", **STRONG}).environment == "production"


def test_memory_encryption_cannot_fall_back_to_a_derived_key_in_production() -> None:
    with pytest.raises(ValidationError, match="ENCRYPTION_KEY"):
        MemorySettings.model_validate({"environment": "production", **STRONG})
    key = Fernet.generate_key().decode()
    assert (
        MemorySettings.model_validate({"environment": "production", "encryption_key": key, **STRONG}).encryption_key
        == key
    )


def test_a_malformed_encryption_key_is_refused_with_how_to_make_one() -> None:
    with pytest.raises(ValueError, match=r"Fernet\.generate_key"):
        MemorySettings(encryption_key="not-a-fernet-key")


def test_development_keeps_working_without_setup() -> None:
    assert AuthSettings.model_validate({"environment": "development"}).jwt_secret
