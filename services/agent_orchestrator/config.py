from functools import lru_cache

from shared.config import BaseServiceSettings


class OrchestratorSettings(BaseServiceSettings):
    service_name: str = "agent-orchestrator"


@lru_cache
def get_settings() -> OrchestratorSettings:
    return OrchestratorSettings()
