"""Scripted answers for evals: which arm asks for which case, answered right or wrong as a test says."""

import json
from typing import Any

from services.agent_orchestrator.evals.checks import BASELINE_SYSTEM, JUDGE_SYSTEM
from tests.support.platform import role_of, user_prompt

RIGHT = {
    "add": "def add(a, b):\n    return a + b\nprint(add(2, 3))",
    "mul": "def mul(a, b):\n    return a * b\nprint(mul(2, 3))",
    "neg": "def neg(a):\n    return -a\nprint(neg(2))",
    "sq": "def sq(a):\n    return a * a\nprint(sq(3))",
    "half": "def half(a):\n    return a / 2\nprint(half(4))",
}
WRONG = {name: code.replace("return", "return 1 +", 1) for name, code in RIGHT.items()}
CHECKS = {
    "add": "assert add(2, 3) == 5",
    "mul": "assert mul(2, 3) == 6",
    "neg": "assert neg(2) == -2",
    "sq": "assert sq(3) == 9",
    "half": "assert half(4) == 2",
}
AGENT_RIGHT = {"add", "mul", "neg"}
BASELINE_RIGHT = {"add", "sq"}


def case(name: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": name,
        "goal": f"Write the Python function {name} (case {name}).",
        "entry_point": name,
        "check": f"exec(code, globals())\n{CHECKS[name]}",
        **fields,
    }


class EvalScript:
    """Answers by who asks and for which case: the case's name is in every prompt (its goal)."""

    def __init__(
        self, *, agent: dict[str, str], baseline: dict[str, str], verdicts: dict[str, bool] | None = None
    ) -> None:
        self.agent, self.baseline, self.verdicts = agent, baseline, verdicts or {}
        self.baseline_prompts: list[str] = []

    def _case(self, prompt: str, answers: dict[str, str]) -> str:
        return next((code for name, code in answers.items() if f"(case {name})" in prompt), "print('no idea')")

    def __call__(self, body: dict[str, Any]) -> str:
        prompt = user_prompt(body)
        system = next((m["content"] for m in body["messages"] if m["role"] == "system"), "")
        if JUDGE_SYSTEM in system:
            passed = next((v for name, v in self.verdicts.items() if f"(case {name})" in prompt), False)
            return json.dumps({"pass": passed, "reason": "as scripted"})
        if BASELINE_SYSTEM in system:
            self.baseline_prompts.append(prompt)
            return f"Here it is.\n```python\n{self._case(prompt, self.baseline)}\n```"
        role = role_of(body)
        if role == "planner":
            solve = {
                "id": "solve",
                "name": "Write and run the function",
                "description": "Write the function in Python and run it",
                "agent_role": "executor",
                "tool": "execute_python",
                "depends_on": [],
            }
            return json.dumps({"tasks": [solve], "risks": []})
        if role == "executor":
            return json.dumps({"result": "written", "code": self._case(prompt, self.agent)})
        if role == "summarizer":
            return json.dumps({"summary": "The function is written.", "key_facts": []})
        return json.dumps({"score": 9, "approved": True, "feedback": "Fine."})
