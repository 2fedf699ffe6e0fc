from functools import lru_cache

from shared.config import BaseServiceSettings


class ToolRunnerSettings(BaseServiceSettings):
    service_name: str = "tool-runner"


@lru_cache
def get_settings() -> ToolRunnerSettings:
    return ToolRunnerSettings()
