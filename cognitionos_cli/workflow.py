"""A goal to a result through the gateway: sign in, start a run, follow its events, read the outcome.
Used by `cognitionos run` and examples/workflow_example.py."""

import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from cognitionos_cli.embedded import state_dir


class GatewayError(RuntimeError):
    def __init__(self, response: httpx.Response) -> None:
        try:
            error = response.json()["error"]
            text = f"{error['code']}: {error['message']}"
        except (ValueError, KeyError, TypeError):
            text = response.text[:300]
        super().__init__(f"{response.request.method} {response.request.url.path} -> {response.status_code} {text}")
        self.status_code = response.status_code


def _ok(response: httpx.Response) -> Any:
    if response.is_error:
        raise GatewayError(response)
    return response.json()


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
        path.write_text(json.dumps(credentials.__dict__))
        path.chmod(0o600)
        return credentials


@dataclass
class Gateway:
    url: str
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.url.rstrip("/"), timeout=httpx.Timeout(30, read=None))

    def close(self) -> None:
        self.http.close()

    def sign_in(self, credentials: Credentials) -> dict[str, Any]:
        """Logs in, registering the account first when it does not exist yet."""
        body = {"username": credentials.username, "password": credentials.password}
        login = self.http.post("/api/v1/auth/login", json=body)
        if login.status_code == 401:
            _ok(
                self.http.post(
                    "/api/v1/auth/register", json={**body, "email": f"{credentials.username}@localhost.localdomain"}
                )
            )
            login = self.http.post("/api/v1/auth/login", json=body)
        tokens = _ok(login)
        self.http.headers["Authorization"] = f"Bearer {tokens['access_token']}"
        return _ok(self.http.get("/api/v1/auth/me"))

    def start_run(self, goal: str, budget_usd: float | None = None, max_tasks: int | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"goal": goal}
        if budget_usd is not None:
            body["budget_usd"] = budget_usd
        if max_tasks is not None:
            body["max_tasks"] = max_tasks
        return _ok(self.http.post("/api/v1/runs", json=body))

    def events(self, run_id: str) -> Iterator[dict[str, Any]]:
        """The run's events as they happen; a dropped stream is resumed from the last event seen."""
        last_id: str | None = None
        while True:
            headers = {"Accept": "text/event-stream", **({"Last-Event-ID": last_id} if last_id else {})}
            try:
                with self.http.stream("GET", f"/api/v1/runs/{run_id}/events", headers=headers) as response:
                    if response.is_error:
                        response.read()
                        raise GatewayError(response)
                    for event_id, _, event in parse_sse(response.iter_lines()):
                        if event.get("event_type") == "end":
                            return
                        last_id = event_id or last_id
                        yield event
            except httpx.TransportError:
                time.sleep(1)

    def run(self, run_id: str) -> dict[str, Any]:
        return _ok(self.http.get(f"/api/v1/runs/{run_id}"))

    def memory(self, memory_id: str) -> dict[str, Any]:
        return _ok(self.http.get(f"/api/v1/memories/{memory_id}"))

    def start_conversation(self, title: str | None = None) -> dict[str, Any]:
        return _ok(self.http.post("/api/v1/conversations", json={"title": title} if title else {}))

    def conversation(self, conversation_id: str) -> dict[str, Any]:
        return _ok(self.http.get(f"/api/v1/conversations/{conversation_id}"))

    def say(self, conversation_id: str, content: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """The reply as it streams: (event name, data) for each server-sent event of the turn."""
        body = {"content": content, "stream": True}
        with self.http.stream("POST", f"/api/v1/conversations/{conversation_id}/messages", json=body) as response:
            if response.is_error:
                response.read()
                raise GatewayError(response)
            for _, name, data in parse_sse(response.iter_lines()):
                yield name or "message", data


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
    cost = f"  (${event['cost_usd']:.6f})" if event.get("cost_usd") else ""
    if kind == "tool_call" and data.get("result", {}).get("stdout"):
        return f"{event['message']}: {data['result']['stdout'].strip()[:200]}{cost}"
    return f"{event['message']}{cost}"


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


def event_line(event: dict[str, Any]) -> str:
    return f"  [{event['event_type']}] {describe_event(event)}"


def sandbox_outputs(run: dict[str, Any]) -> list[tuple[str, str]]:
    """(task, stdout) of every task that ran code in the sandbox."""
    return [
        (t["task_key"], (t["output"] or {}).get("result", ""))
        for t in run["tasks"]
        if t["tool"] == "execute_python" and t["output"]
    ]
