import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field

from shared.config import BaseServiceSettings

SOURCE_PROMPTS = Path(__file__).resolve().parents[2] / "prompts"


class TaskPlannerSettings(BaseServiceSettings):
    service_name: str = "task-planner"
    prompts_dir: Path | None = Field(
        default=None, description="Where the agents' prompts are (the ai-runtime's setting); default: the source tree"
    )

    def plan_schema(self) -> dict[str, Any] | None:
        """The planner role's JSON schema, which a plan offering the caller's MCP tools extends; None if missing."""
        path = (self.prompts_dir or SOURCE_PROMPTS) / "planner" / "v1.schema.json"
        return json.loads(path.read_text()) if path.is_file() else None


@lru_cache
def get_settings() -> TaskPlannerSettings:
    return TaskPlannerSettings()
