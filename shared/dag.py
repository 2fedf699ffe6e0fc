"""Checks of a task DAG that more than one service makes: the planner's of an LLM's plan, the orchestrator's of a
hand-written one (a template's)."""

import re
from typing import Any

from shared.contracts.tools import MCP_TOOL_PATTERN

# "noop" passes its inputs on (joins, benchmarks); "ask_user" waits for the run owner's answer to inputs.question.
# The LLM's schema offers neither: they are for plans written by hand.
KNOWN_TOOLS = frozenset(
    {"execute_python", "http_request", "memory_search", "memory_store", "llm_complete", "noop", "ask_user"}
)
# A tool of the caller's MCP servers: whether the caller has it is the tool-runner's to say when it runs.
MCP_TOOL = re.compile(MCP_TOOL_PATTERN)
KNOWN_ROLES = frozenset({"executor", "critic", "summarizer"})


def validate(tasks: list[dict[str, Any]], max_tasks: int, existing_ids: frozenset[str] = frozenset()) -> list[str]:
    errors: list[str] = []
    if not tasks:
        errors.append("the plan has no tasks")
    if len(tasks) > max_tasks:
        errors.append(f"the plan has {len(tasks)} tasks; at most {max_tasks} are allowed")
    ids = [t.get("id") for t in tasks]
    duplicates = sorted({str(i) for i in ids if ids.count(i) > 1})
    if duplicates:
        errors.append(f"duplicate task ids: {duplicates}")
    known = set(ids) | set(existing_ids)
    for task in tasks:
        if task.get("agent_role") not in KNOWN_ROLES:
            errors.append(
                f"task {task.get('id')}: unknown agent_role {task.get('agent_role')!r} (use one of "
                f"{sorted(KNOWN_ROLES)})"
            )
        if task.get("tool") is not None and task["tool"] not in KNOWN_TOOLS and not MCP_TOOL.match(str(task["tool"])):
            errors.append(
                f"task {task.get('id')}: unknown tool {task['tool']!r} (use one of {sorted(KNOWN_TOOLS)} or null)"
            )
        for dependency in task.get("depends_on") or []:
            if dependency not in known:
                errors.append(f"task {task.get('id')}: depends on unknown task {dependency!r}")
    if not errors and (cycle := find_cycle(tasks)):
        errors.append(f"dependency cycle: {' -> '.join(cycle)}")
    return errors


def find_cycle(tasks: list[dict[str, Any]]) -> list[str] | None:
    graph = {t["id"]: [d for d in t.get("depends_on") or [] if d in {x["id"] for x in tasks}] for t in tasks}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return None

    for node in graph:
        if node not in state and (found := visit(node)):
            return found
    return None
