from functools import lru_cache

from shared.config import BaseServiceSettings


class AIRuntimeSettings(BaseServiceSettings):
    service_name: str = "ai-runtime"


@lru_cache
def get_settings() -> AIRuntimeSettings:
    return AIRuntimeSettings()
