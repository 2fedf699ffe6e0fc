"""Plan checks in code: an LLM's plan is never trusted as it comes."""

import re
from collections import deque
from typing import Any

from shared.dag import KNOWN_ROLES, KNOWN_TOOLS, MCP_TOOL, find_cycle, validate  # noqa: F401 (re-exported)

# A goal that asks for code: its plan must run the code (tool execute_python), or nothing checks what was written.
CODING_GOAL = re.compile(
    r"\b(python|javascript|typescript|sql|code|coding|scripts?|programs?|programming|implement\w*|algorithms?"
    r"|unit tests?|debug\w*|refactor\w*)\b"
    r"|\b(write|implement|create|build)\s+(a|an|the)?\s*(\w+\s+)?function\b",
    re.I,
)


def asks_for_code(goal: str) -> bool:
    return CODING_GOAL.search(goal) is not None


def repair(
    tasks: list[dict[str, Any]], max_tasks: int, existing_ids: frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    """Fix what has one obvious fix: duplicate ids get a suffix, self and dangling dependencies are dropped,
    repeated dependencies collapse, the list is cut to max_tasks. Cycles, unknown tools and roles are not
    guessed at: validate() reports them."""
    seen: set[str] = set(existing_ids)
    repaired: list[dict[str, Any]] = []
    for task in tasks[:max_tasks]:
        task = dict(task)
        base = str(task.get("id") or f"t{len(repaired) + 1}")
        task_id, n = base, 2
        while task_id in seen:
            task_id, n = f"{base}_{n}", n + 1
        seen.add(task_id)
        task["id"] = task_id
        repaired.append(task)
    ids = {t["id"] for t in repaired} | set(existing_ids)
    for task in repaired:
        task["depends_on"] = list(
            dict.fromkeys(d for d in task.get("depends_on") or [] if d in ids and d != task["id"])
        )
    return repaired


def degenerate(tasks: list[dict[str, Any]], *, needs_execution: bool) -> list[str]:
    """What makes a structurally valid plan useless: six tasks all named "Fibonacci", empty descriptions, a coding
    goal whose code nothing runs."""
    problems: list[str] = []
    for field in ("name", "description"):
        values = [" ".join(str(t.get(field) or "").lower().split()) for t in tasks]
        repeated = sorted({v for v in values if v and values.count(v) > 1})
        if repeated:
            problems.append(f"tasks must have distinct {field}s; repeated: {repeated}")
    empty = [str(t.get("id")) for t in tasks if not str(t.get("description") or "").strip()]
    if empty:
        problems.append(f"tasks without a description (say what each must do): {empty}")
    if needs_execution and not any(t.get("tool") == "execute_python" for t in tasks):
        problems.append("the goal asks for code, but no task runs it: add a task with tool execute_python")
    return problems


def minimal_plan(goal: str, max_tasks: int, *, needs_execution: bool) -> list[dict[str, Any]]:
    """The plan built in code when the model's plans were rejected twice: do the goal, then run the code it wrote
    (for a coding goal), rather than run nonsense. The orchestrator adds the summary."""
    base = {"inputs": {}, "fallback_strategy": "retry", "status": "pending", "complexity": "medium"}
    if not needs_execution:
        return [
            {**base, "id": "do", "name": "Do the goal", "description": goal, "agent_role": "executor", "tool": None}
        ]
    run = "Run the code with its checks (asserts or printed results) and report what it printed"
    if max_tasks < 2:
        return [
            {
                **base,
                "id": "code",
                "name": "Write and run the code",
                "description": f"{goal}. {run}.",
                "agent_role": "executor",
                "tool": "execute_python",
            }
        ]
    return [
        {
            **base,
            "id": "write",
            "name": "Write the code",
            "description": f"Write complete Python, with checks (asserts), for: {goal}",
            "agent_role": "executor",
            "tool": None,
            "depends_on": [],
        },
        {
            **base,
            "id": "run",
            "name": "Run the code and its checks",
            "description": f"{run} (the code is in the result of the task it depends on)",
            "agent_role": "executor",
            "tool": "execute_python",
            "depends_on": ["write"],
        },
    ]


def execution_stages(tasks: list[dict[str, Any]], done: frozenset[str] = frozenset()) -> list[list[str]]:
    """Topological sort in stages: every task of a stage can run in parallel once earlier stages are done."""
    pending = {t["id"]: {d for d in t.get("depends_on") or [] if d not in done} for t in tasks}
    dependents: dict[str, list[str]] = {i: [] for i in pending}
    for task_id, deps in pending.items():
        for dep in deps:
            dependents.setdefault(dep, []).append(task_id)
    ready = deque(sorted(i for i, deps in pending.items() if not deps))
    stages: list[list[str]] = []
    while ready:
        stage = list(ready)
        ready.clear()
        stages.append(stage)
        for task_id in stage:
            for nxt in dependents.get(task_id, []):
                pending[nxt].discard(task_id)
                if not pending[nxt]:
                    ready.append(nxt)
    return stages
