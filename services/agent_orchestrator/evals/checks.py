"""What an arm produced, and the program that checks it in the sandbox. The check never runs on the host: it
goes to the tool-runner's execute_python like any code an agent writes."""

import ast
import base64
import json
import re
from dataclasses import dataclass
from typing import Any

from shared.contracts.evals import EvalCase

FENCED = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)
# The baseline's whole instruction: the case's goal is its prompt, as it is the agent run's goal.
BASELINE_SYSTEM = (
    "You write Python that solves the user's task. Answer with the complete program in one ```python block: "
    "define what the task asks for and print the results it asks for."
)
JUDGE_SYSTEM = (
    "You grade whether an answer achieves a goal, strictly, by the criteria given. Answer with JSON only: "
    '{"pass": true or false, "reason": "one sentence"}.'
)


@dataclass(frozen=True)
class Produced:
    """What an arm ended with: its final text, the code it settled on, and what that code printed."""

    answer: str
    code: str
    stdout: str


def extract_code(text: str, *, entry_point: str | None = None) -> str:
    """The Python in a completion: the fenced block that defines entry_point (else the longest fenced block),
    or the whole text when it parses as Python; empty when there is none."""
    blocks = [b for b in FENCED.findall(text) if b.strip()]
    if entry_point is not None:
        defining = [b for b in blocks if defines(b, entry_point)]
        if defining:
            return defining[-1]
    if blocks:
        return max(blocks, key=len)
    try:
        ast.parse(text)
    except SyntaxError:
        return ""
    return text


def defines(code: str, name: str) -> bool:
    return re.search(rf"^\s*(?:async\s+)?def\s+{re.escape(name)}\s*\(", code, re.MULTILINE) is not None


def chosen_code(codes: list[str], *, entry_point: str | None) -> str:
    """Of the code an agent run executed, in order: the last that defines entry_point, else the last."""
    if entry_point is not None:
        defining = [c for c in codes if defines(c, entry_point)]
        if defining:
            return defining[-1]
    return codes[-1] if codes else ""


def check_program(case: EvalCase, produced: Produced) -> str:
    """The case's check with `answer`, `code` and `stdout` defined (decoded from base64, so that no text an arm
    wrote can break out of a string literal)."""
    assert case.check is not None
    given = base64.b64encode(json.dumps(produced.__dict__).encode()).decode()
    prelude = (
        "import base64 as _b64, json as _json\n"
        f"_given = _json.loads(_b64.b64decode('{given}'))\n"
        "answer, code, stdout = _given['answer'], _given['code'], _given['stdout']\n"
        "del _given, _b64, _json\n"
    )
    return f"{prelude}\n{case.check}\n"


def judge_prompt(case: EvalCase, produced: Produced) -> str:
    return (
        f"Goal: {case.goal}\n\nCriteria: {case.criteria}\n\nAnswer to grade:\n{produced.answer[:6000]}\n\n"
        f"Output of its code:\n{produced.stdout[:2000]}"
    )


def judge_verdict(content: str) -> tuple[bool, str]:
    """The judge's JSON verdict; anything else is a failure (an unreadable verdict passes nothing)."""
    try:
        verdict: Any = json.loads(content)
    except ValueError:
        return False, "the judge's verdict was not JSON"
    if not isinstance(verdict, dict) or not isinstance(verdict.get("pass"), bool):
        return False, "the judge's verdict had no boolean pass"
    return verdict["pass"], str(verdict.get("reason") or "")[:1000]
