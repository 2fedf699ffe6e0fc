"""A goal to a result through the gateway, on the Python SDK: sign in, start a run, follow its events, read the
outcome. Used by `cognitionos run`, `cognitionos chat` and examples/workflow_example.py."""

import json
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cognitionos_cli.embedded import state_dir
from cognitionos_cli.secrets import write_private
from cognitionos_sdk import AuthenticationError, CognitionOS, CognitionOSError, User
from cognitionos_sdk.formatting import usd

# The SDK's errors, under the name the CLI and the example catch.
GatewayError = CognitionOSError


@dataclass
class Credentials:
    username: str
    password: str

    @classmethod
    def local(cls, path: Path | None = None) -> "Credentials":
        """This machine's own account for the CLI: made up once, kept (0600) in the state directory."""
        path = path or state_dir() / "cli-credentials.json"
        if path.exists():
            return cls(**json.loads(path.read_text()))
        credentials = cls(username=f"cli_{secrets.token_hex(4)}", password=secrets.token_urlsafe(18))
        write_private(path, json.dumps(credentials.__dict__))
        return credentials

    def sign_in(self, client: CognitionOS) -> User:
        """Signs the client in, registering the account first the first time (on this machine)."""
        try:
            return client.sign_in(self.username, self.password)
        except AuthenticationError:
            client.register(self.username, f"{self.username}@localhost.localdomain", self.password)
            return client.sign_in(self.username, self.password)


@dataclass
class Gateway:
    """What the CLI and the example do with the gateway, on the Python SDK (cognitionos_sdk); answers as plain
    dicts for printing."""

    url: str
    api_key: str | None = None
    sdk: CognitionOS = field(init=False)

    def __post_init__(self) -> None:
        self.sdk = CognitionOS(self.url, api_key=self.api_key, timeout=300)

    def close(self) -> None:
        self.sdk.close()

    def sign_in(self, credentials: Credentials) -> dict[str, Any]:
        return credentials.sign_in(self.sdk).model_dump(mode="json")

    def start_run(self, goal: str, budget_usd: float | None = None, max_tasks: int | None = None) -> dict[str, Any]:
        return self.sdk.runs.create(goal, budget_usd=budget_usd, max_tasks=max_tasks).model_dump(mode="json")

    def events(
        self, run_id: str, *, on_progress: Callable[[dict[str, Any]], None] | None = None
    ) -> Iterator[dict[str, Any]]:
        """The run's events as they happen; a dropped stream is resumed from the last event seen. `on_progress`
        hears how the run's call to the embedded model stands, between events."""
        tell = None if on_progress is None else lambda progress: on_progress(progress.model_dump(mode="json"))
        for event in self.sdk.runs.events(run_id, on_progress=tell):
            yield event.model_dump(mode="json")

    def run(self, run_id: str) -> dict[str, Any]:
        return self.sdk.runs.get(run_id).model_dump(mode="json")

    def artifacts(self, run_id: str) -> list[dict[str, Any]]:
        """The files the run's code left in /work/outputs (the first page: at most 200)."""
        return [f.model_dump(mode="json") for f in self.sdk.runs.artifacts(run_id, limit=200).items]

    def memory(self, memory_id: str) -> dict[str, Any]:
        return self.sdk.memories.get(memory_id).model_dump(mode="json")

    def import_memories(self, lines: Iterable[str]) -> dict[str, Any]:
        return self.sdk.memories.import_lines(lines).model_dump(mode="json")

    def start_conversation(self, title: str | None = None) -> dict[str, Any]:
        return self.sdk.conversations.create(title=title).model_dump(mode="json")

    def conversation(self, conversation_id: str) -> dict[str, Any]:
        return self.sdk.conversations.get(conversation_id).model_dump(mode="json")

    def say(self, conversation_id: str, content: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """The reply as it streams: (event name, data) for each server-sent event of the turn."""
        yield from self.sdk.conversations.stream(conversation_id, content)


def parse_sse(lines: Iterator[str]) -> Iterator[tuple[str | None, str | None, dict[str, Any]]]:
    """(id, event name, JSON data) of each server-sent event; comments (keepalives) are skipped."""
    event_id, name, data = None, None, []
    for line in lines:
        if line.startswith("id:"):
            event_id = line[3:].strip()
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and data:
            yield event_id, name, json.loads("\n".join(data))
            event_id, name, data = None, None, []


def describe_event(event: dict[str, Any]) -> str:
    """One progress line for an event."""
    data, kind = event.get("data") or {}, event["event_type"]
    cost = f"  ({usd(event['cost_usd'])})" if event.get("cost_usd") else ""
    if kind == "tool_call" and data.get("result", {}).get("stdout"):
        return f"{event['message']}: {data['result']['stdout'].strip()[:200]}{cost}"
    return f"{event['message']}{cost}"


def describe_progress(progress: dict[str, Any]) -> str:
    """One line for where a run's call to the embedded model stands."""
    who = progress.get("role") or "the run"
    if progress["state"] == "waiting":
        ahead = progress.get("ahead") or 0
        return f"{who}: waiting for the model, {ahead} ahead" if ahead else f"{who}: waiting for the model"
    return f"{who}: the model is writing, {progress.get('tokens') or 0} tokens so far"


def run_goal(
    gateway: Gateway,
    goal: str,
    *,
    on_event: Callable[[dict[str, Any]], None],
    budget_usd: float | None = None,
    max_tasks: int | None = None,
) -> dict[str, Any]:
    """Starts a run of the goal, hands each of its events to `on_event` as they happen, and returns the finished
    run."""
    run = gateway.start_run(goal, budget_usd, max_tasks)
    for event in gateway.events(run["id"]):
        on_event(event)
    return gateway.run(run["id"])


def sandbox_outputs(run: dict[str, Any]) -> list[tuple[str, str]]:
    """(task, stdout) of every task that ran code in the sandbox."""
    return [
        (t["task_key"], (t["output"] or {}).get("result", ""))
        for t in run["tasks"]
        if t["tool"] == "execute_python" and t["output"]
    ]
