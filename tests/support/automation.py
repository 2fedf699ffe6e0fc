"""Templates, schedules and webhooks for the tests: made through the API, fired with an injected clock, and
removed after each test so that no later test's clock fires them."""

import asyncio
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from services.agent_orchestrator.automation.schedules import Fired
from services.agent_orchestrator.deps import OrchestratorState
from shared.app import service_state
from tests.support import ThreadedServer
from tests.support.platform import RunsClient, task


def fire(server: ThreadedServer, now: datetime) -> list[Fired]:
    """What the orchestrator's schedule loop would fire if the clock read `now`, on that server's event loop."""
    firer = service_state(server.app, OrchestratorState).firer
    return asyncio.run_coroutine_threadsafe(firer.fire_due(now), server.loop).result(timeout=60)


class Automation:
    """One user's templates, schedules and webhooks (all deleted at the end of the test)."""

    def __init__(self, runs: RunsClient) -> None:
        self.runs = runs
        self.http = runs.http
        self.made: list[str] = []

    def post(self, path: str, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
        answer = self.http.post(self.runs.url(path), json=body)
        assert answer.status_code == status, answer.text
        made: dict[str, Any] = answer.json()
        if status == 201:
            self.made.append(f"{path}/{made['id']}")
        return made

    def template(self, *, plan: list[dict[str, Any]] | None = None, **fields: Any) -> dict[str, Any]:
        """A template of a hand-written plan (one noop task unless given): its runs make no LLM call."""
        body = {
            "name": f"t {uuid.uuid4().hex[:8]}",
            "goal": "Check on {{city}}",
            "parameters": [{"name": "city", "default": "Lyon"}],
            "plan": plan or [task("check", tool="noop", name="Check {{city}}")],
            "summarize": False,
            **fields,
        }
        return self.post("/templates", body)

    def schedule(self, template_id: str, **fields: Any) -> dict[str, Any]:
        body = {"name": f"s {uuid.uuid4().hex[:8]}", "template_id": template_id, "cron": "*/1 * * * *", **fields}
        return self.post("/schedules", body)

    def get(self, path: str) -> dict[str, Any]:
        answer = self.http.get(self.runs.url(path))
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def events(self, schedule_id: str) -> list[dict[str, Any]]:
        """What the schedule did, oldest first."""
        return list(reversed(self.get(f"/schedules/{schedule_id}/runs")["items"]))

    def delete_all(self) -> None:
        for path in reversed(self.made):  # schedules before their templates
            self.http.delete(self.runs.url(path))


@pytest.fixture
def automation(runs: RunsClient) -> Iterator[Automation]:
    made = Automation(runs)
    yield made
    made.delete_all()
