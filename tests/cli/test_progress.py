"""`cognitionos run` output: a live table on a terminal, plain lines in a log, JSON lines with --json; never escape
codes where there is no terminal."""

import io
import json
from typing import Any

from rich.console import Console

from cognitionos_cli.progress import EventPrinter, RunProgress

PLANNED = [{"key": "a", "name": "Write the parser"}, {"key": "b", "name": "Run its tests"}]
EVENTS: list[dict[str, Any]] = [
    {
        "event_type": "plan_created",
        "message": "Planned 2 tasks",
        "data": {"execution_order": [["a"], ["b"]], "tasks": PLANNED},
    },
    {
        "event_type": "task_started",
        "message": "Write the parser started",
        "data": {"task": "a", "name": "Write the parser"},
        "created_at": "2026-12-06T10:00:00+00:00",
    },
    {"event_type": "llm_call", "message": "executor called gpt-4o-mini", "data": {}, "cost_usd": 0.0012},
    {
        "event_type": "task_succeeded",
        "message": "Write the parser succeeded",
        "data": {"task": "a"},
        "created_at": "2026-12-06T10:00:02.500000+00:00",
    },
    {"event_type": "task_failed", "message": "Run its tests failed", "data": {"task": "b"}},
]


def _printed(*, terminal: bool, as_json: bool) -> str:
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal, width=100, color_system="standard" if terminal else None)
    with EventPrinter(console, as_json=as_json) as printer:
        for event in EVENTS:
            printer(event)
    return out.getvalue()


def test_the_table_follows_each_task_and_the_running_cost() -> None:
    progress = RunProgress()
    for event in EVENTS:
        progress.update(event)
    assert progress.tasks == {"a": "succeeded", "b": "failed"}
    assert abs(progress.cost_usd - 0.0012) < 1e-9
    out = io.StringIO()
    Console(file=out, width=80).print(progress.render())
    text = out.getvalue()
    assert "succeeded" in text and "failed" in text and "cost so far: $0.0012" in text
    assert "Write the parser" in text and "Run its tests" in text and "2.5 s" in text  # names and time, not keys


def test_a_log_gets_one_plain_line_per_event_without_escape_codes() -> None:
    text = _printed(terminal=False, as_json=False)
    assert "\x1b" not in text
    assert [line.split("]")[0].strip() + "]" for line in text.splitlines()] == [f"[{e['event_type']}]" for e in EVENTS]


def test_json_lines_carry_every_event_as_it_came() -> None:
    lines = _printed(terminal=False, as_json=True).splitlines()
    assert [json.loads(line)["event_type"] for line in lines] == [e["event_type"] for e in EVENTS]


def test_a_terminal_gets_the_live_table() -> None:
    text = _printed(terminal=True, as_json=False)
    assert "tasks" in text and "cost so far" in text and "\x1b" in text


def test_a_log_says_when_the_models_call_moves_not_at_every_token() -> None:
    out = io.StringIO()
    printer = EventPrinter(Console(file=out, force_terminal=False, width=100), as_json=False)
    said = [
        {"state": "waiting", "ahead": 2, "tokens": 0, "role": "planner"},
        {"state": "waiting", "ahead": 1, "tokens": 0, "role": "planner"},
        {"state": "generating", "ahead": 0, "tokens": 12, "role": "planner"},
        {"state": "generating", "ahead": 0, "tokens": 40, "role": "planner"},
    ]
    with printer:
        for progress in said:
            printer.model_progress(progress)
    assert out.getvalue().splitlines() == [
        "  planner: waiting for the model, 2 ahead",
        "  planner: waiting for the model, 1 ahead",
        "  planner: the model is writing, 12 tokens so far",
    ]
    assert printer.progress.model == "planner: the model is writing, 40 tokens so far"  # the live view's line
