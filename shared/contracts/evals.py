"""An eval's cases and the suite file format (JSON lines, one case per line), shared by the orchestrator, which
runs them, and the CLI, which reads a user's suite file before sending it."""

import ast
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Evaluator = Literal["code", "llm_judge"]
Arm = Literal["agent", "baseline"]
ARMS: tuple[Arm, ...] = ("agent", "baseline")


class EvalCase(BaseModel):
    """A goal and how to tell whether it was achieved.

    `code` cases (the default) run `check` in the sandbox with three names defined: `answer` (the final text),
    `code` (the Python the arm wrote, the last that defines `entry_point` when one is named) and `stdout` (what
    that code printed). The case passes when the check exits 0. `llm_judge` cases, for open-ended goals only,
    ask the model whether `answer` meets `criteria`; they are labelled as such in every result."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$")
    goal: str = Field(min_length=3, max_length=4000)
    check: str | None = Field(default=None, min_length=1, max_length=100_000)
    evaluator: Evaluator = "code"
    criteria: str | None = Field(default=None, min_length=1, max_length=4000)
    entry_point: str | None = Field(
        default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,99}$", description="The function the code must define"
    )
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @model_validator(mode="after")
    def checkable(self) -> "EvalCase":
        if self.evaluator == "code":
            if self.check is None:
                raise ValueError("a code case needs a check (Python run in the sandbox)")
            try:
                ast.parse(self.check)
            except SyntaxError as exc:
                raise ValueError(f"the check is not valid Python: {exc.msg} (line {exc.lineno})") from exc
        elif self.criteria is None:
            raise ValueError("an llm_judge case needs criteria")
        return self


class SuiteError(ValueError):
    """A suite file that cannot be read: which line, and why."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line is not None else message)
        self.line = line


def parse_suite(text: str, *, most: int = 10_000) -> list[EvalCase]:
    """The cases of a JSON-lines suite (blank lines and lines starting with # are skipped); ids must be unique."""
    cases: list[EvalCase] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            case = EvalCase.model_validate(json.loads(line))
        except ValueError as exc:  # JSONDecodeError and ValidationError both are
            raise SuiteError(_reason(exc), line=number) from exc
        if case.id in seen:
            raise SuiteError(f"the id {case.id!r} is used twice", line=number)
        seen.add(case.id)
        cases.append(case)
        if len(cases) > most:
            raise SuiteError(f"more than {most} cases", line=number)
    if not cases:
        raise SuiteError("the suite has no cases")
    return cases


def _reason(exc: ValueError) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where + ': ' if where else ''}{first['msg']}"
    return f"not JSON ({exc})"
