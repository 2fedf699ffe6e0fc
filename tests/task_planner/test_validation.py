import pytest

from services.task_planner.validation import asks_for_code, execution_stages, find_cycle, repair, validate


def task(task_id: str, deps: list[str] | None = None, role: str = "executor", tool: str | None = None) -> dict:
    return {"id": task_id, "name": task_id, "agent_role": role, "tool": tool, "depends_on": deps or []}


def test_valid_plan_and_stages() -> None:
    tasks = [
        task("write"),
        task("test", ["write"], tool="execute_python"),
        task("review", ["write"], role="critic"),
        task("sum", ["test", "review"], role="summarizer"),
    ]
    assert validate(tasks, 10) == []
    assert execution_stages(tasks) == [["write"], ["review", "test"], ["sum"]] or execution_stages(tasks) == [
        ["write"],
        ["test", "review"],
        ["sum"],
    ]


def test_cycles_unknown_tools_and_roles_are_rejected() -> None:
    assert find_cycle([task("a", ["c"]), task("b", ["a"]), task("c", ["b"])]) in (
        ["a", "c", "b", "a"],
        ["c", "b", "a", "c"],
        ["b", "a", "c", "b"],
    )
    errors = validate([task("a", ["b"]), task("b", ["a"])], 10)
    assert any("cycle" in e for e in errors)
    errors = validate([task("a", tool="rm_rf"), task("b", role="wizard")], 10)
    assert any("unknown tool 'rm_rf'" in e for e in errors) and any("unknown agent_role 'wizard'" in e for e in errors)
    assert any("at most 1" in e for e in validate([task("a"), task("b")], 1))
    assert validate([], 5) == ["the plan has no tasks"]


def test_repair_fixes_only_the_obvious() -> None:
    repaired = repair([task("a", ["a", "ghost", "b", "b"]), task("b"), task("b")], 10)
    assert [t["id"] for t in repaired] == ["a", "b", "b_2"]
    assert repaired[0]["depends_on"] == ["b"]
    assert validate(repaired, 10) == []
    assert any("cycle" in e for e in validate(repair([task("x", ["y"]), task("y", ["x"])], 10), 10))


def test_stages_skip_what_is_already_done() -> None:
    tasks = [task("c", ["a", "b"]), task("d", ["c"])]
    assert execution_stages(tasks, frozenset({"a", "b"})) == [["c"], ["d"]]


@pytest.mark.parametrize(
    ("goal", "coding"),
    [
        ("Write a Python function that returns the n-th Fibonacci number and test it for n=10", True),
        ("Implement binary search", True),
        ("Write a function that reverses a string", True),
        ("Summarise the notes from my class on Tuesday", False),
        ("Explain the function of the liver", False),
        ("Plan a weekend in Lisbon", False),
    ],
)
def test_a_goal_that_asks_for_code_is_told_from_one_that_does_not(goal: str, coding: bool) -> None:
    assert asks_for_code(goal) is coding
