"""How `cognitionos run` shows a run: a live table of tasks, their states and the running cost on a terminal; one
plain line per event elsewhere (CI logs, pipes), or JSON lines with --json."""

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from cognitionos_cli.workflow import describe_event, describe_progress
from cognitionos_sdk.formatting import usd

TASK_STATES = {
    "task_started": "running",
    "task_succeeded": "succeeded",
    "task_failed": "failed",
    "task_skipped": "skipped",
    "task_retry_scheduled": "retrying",
    "approval_requested": "awaiting approval",
    "task_copied": "copied",
}
STATE_STYLES = {
    "running": "yellow",
    "succeeded": "green",
    "failed": "red",
    "skipped": "dim",
    "retrying": "magenta",
    "awaiting approval": "bold cyan",
    "copied": "green",
}


FINISHED_STATES = frozenset({"succeeded", "failed", "skipped", "copied"})


@dataclass
class RunProgress:
    """What the events of one run have said so far: each task's state, name and time taken, and the cost."""

    tasks: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    cost_usd: float = 0.0
    last: str = ""
    model: str = ""  # where the run's call to the embedded model stands, until the next event
    _started: dict[str, datetime] = field(default_factory=dict)

    def update(self, event: dict[str, Any]) -> None:
        kind, data = event["event_type"], event.get("data") or {}
        self.cost_usd += float(event.get("cost_usd") or 0)
        if kind == "plan_created":
            for planned in data.get("tasks") or []:
                self.names.setdefault(str(planned["key"]), str(planned["name"]))
            for stage in data.get("execution_order") or []:
                for key in stage if isinstance(stage, list) else [stage]:
                    self.tasks.setdefault(str(key), "planned")
        if kind in TASK_STATES and data.get("task"):
            key, state = str(data["task"]), TASK_STATES[kind]
            self.tasks[key] = state
            if data.get("name"):
                self.names[key] = str(data["name"])
            self._time(key, state, event.get("created_at"))
        self.last = f"[{kind}] {describe_event(event)}"
        self.model = ""

    def _time(self, key: str, state: str, created_at: str | None) -> None:
        if created_at is None:
            return
        moment = datetime.fromisoformat(created_at)
        if state == "running":
            self._started.setdefault(key, moment)
        elif state in FINISHED_STATES and key in self._started:
            self.seconds[key] = (moment - self._started[key]).total_seconds()

    def render(self) -> Group:
        table = Table(title="tasks", expand=False)
        for column in ("task", "state", "time"):
            table.add_column(column)
        for key, state in self.tasks.items():
            took = f"{self.seconds[key]:.1f} s" if key in self.seconds else ""
            table.add_row(self.names.get(key, key), Text(state, style=STATE_STYLES.get(state, "")), took)
        lines: list[Table | Text] = [
            table,
            Text(f"cost so far: {usd(self.cost_usd)}"),
            Text(self.last, overflow="ellipsis"),
        ]
        if self.model:
            lines.append(Text(self.model, style="yellow", overflow="ellipsis"))
        return Group(*lines)


class EventPrinter:
    """Receives the run's events: live on a terminal, one line each otherwise, or JSON lines."""

    def __init__(self, console: Console, *, as_json: bool) -> None:
        self.console = console
        self.as_json = as_json
        self.progress = RunProgress()
        self._live: Live | None = None
        self._model_state: tuple[str, int] | None = None

    def __enter__(self) -> "EventPrinter":
        if self.console.is_terminal and not self.as_json:
            self._live = Live(self.progress.render(), console=self.console, refresh_per_second=8)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def __call__(self, event: dict[str, Any]) -> None:
        self.progress.update(event)
        if self.as_json:
            self.console.out(json.dumps(event, default=str), highlight=False)
        elif self._live is not None:
            self._live.update(self.progress.render())
        else:
            self.console.out(f"  {self.progress.last}", highlight=False)

    def note(self, text: str) -> None:
        """A line for the person following (above the live table on a terminal), never wrapped: it names ids and
        commands to copy."""
        self.console.out(f"  {text}", highlight=False)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """The live table stops redrawing while the person is asked something, and resumes after."""
        if self._live is None:
            yield
            return
        self._live.stop()
        try:
            yield
        finally:
            self._live.start()

    def model_progress(self, progress: dict[str, Any]) -> None:
        """Where the run's call to the embedded model stands: live on a terminal; elsewhere a line when it starts
        waiting, moves up the queue or starts writing (not at every token)."""
        self.progress.model = describe_progress(progress)
        if self.as_json:
            self.console.out(json.dumps(progress, default=str), highlight=False)
        elif self._live is not None:
            self._live.update(self.progress.render())
        elif (state := (progress["state"], progress.get("ahead") or 0)) != self._model_state:
            self._model_state = state
            self.console.out(f"  {self.progress.model}", highlight=False)
