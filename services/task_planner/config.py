from functools import lru_cache

from shared.config import BaseServiceSettings


class TaskPlannerSettings(BaseServiceSettings):
    service_name: str = "task-planner"


@lru_cache
def get_settings() -> TaskPlannerSettings:
    return TaskPlannerSettings()
