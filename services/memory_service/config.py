from functools import lru_cache

from shared.config import BaseServiceSettings


class MemorySettings(BaseServiceSettings):
    service_name: str = "memory-service"


@lru_cache
def get_settings() -> MemorySettings:
    return MemorySettings()
