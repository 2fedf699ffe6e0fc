"""Versioned agent prompts from prompts/<role>/<version>.md with an optional <version>.schema.json."""

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

DEFAULT_PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"
_VERSION = re.compile(r"^v(\d+)$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Prompt:
    role: str
    version: str
    system: str
    output_schema: dict[str, Any] | None

    @property
    def id(self) -> str:
        return f"{self.role}/{self.version}"


class PromptLibrary:
    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or DEFAULT_PROMPTS_DIR

    def versions(self, role: str) -> list[str]:
        folder = self.directory / role
        found = [p.stem for p in folder.glob("v*.md") if _VERSION.match(p.stem)] if folder.is_dir() else []
        return sorted(found, key=lambda v: int(v[1:]))

    def roles(self) -> list[str]:
        return (
            sorted(p.name for p in self.directory.iterdir() if p.is_dir() and self.versions(p.name))
            if self.directory.is_dir()
            else []
        )

    def get(self, role: str, version: str | None = None) -> Prompt | None:
        versions = self.versions(role)
        if not versions:
            return None
        chosen = version or versions[-1]
        if chosen not in versions:
            return None
        return _load(self.directory, role, chosen)


@lru_cache(maxsize=64)
def _load(directory: Path, role: str, version: str) -> Prompt:
    schema_file = directory / role / f"{version}.schema.json"
    schema = json.loads(schema_file.read_text()) if schema_file.exists() else None
    return Prompt(
        role=role,
        version=version,
        system=(directory / role / f"{version}.md").read_text().strip(),
        output_schema=schema,
    )
