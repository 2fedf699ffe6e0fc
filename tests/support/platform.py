"""Registered once for the whole suite (tests/conftest.py: pytest_plugins), so one orchestrator works the
session database. The whole execution path on real servers: ai-runtime (scripted OpenAI wire server, local embeddings),
task-planner, memory-service, tool-runner (bubblewrap) and agent-orchestrators, on the session database."""

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
import redis

from cognitionos_cli.workflow import parse_sse
from cognitionos_sdk import CognitionOS
from services.agent_orchestrator.config import OrchestratorSettings
from services.agent_orchestrator.deps import OrchestratorState
from services.agent_orchestrator.main import create_app as create_orchestrator
from services.agent_orchestrator.repository import TERMINAL_RUN_STATUSES
from services.ai_runtime.main import create_app as create_runtime
from services.api_gateway.main import create_app as create_gateway
from services.memory_service.main import create_app as create_memory
from services.task_planner.config import TaskPlannerSettings
from services.task_planner.main import create_app as create_planner
from services.tool_runner.main import create_app as create_tools
from services.tool_runner.service import sandbox_slots_key
from shared.app import service_state
from tests.support import ThreadedServer, eventually, serving
from tests.support.providers import Providers
from tests.support.settings import common_settings, memory_settings, runtime_settings, tool_settings
from tests.support.stack import Stack
from tests.support.users import make_user, signed_client

ROLE_MARKERS = {
    "planner": "You are the planner",
    "executor": "You are an executor",
    "critic": "You are the critic",
    "summarizer": "You are the summarizer",
    "assistant": "You are the assistant of CognitionOS",
    "memory_extractor": "You extract memories",
    "memory_updater": "You update memories",
}


@dataclass(frozen=True)
class CallTools:
    """A scripted answer that calls tools: [(name, arguments), ...]."""

    calls: list[tuple[str, dict[str, Any]]]


def role_of(body: dict[str, Any]) -> str:
    system = next((m["content"] for m in body["messages"] if m["role"] == "system"), "")
    return next((role for role, marker in ROLE_MARKERS.items() if marker in system), "unknown")


def user_prompt(body: dict[str, Any]) -> str:
    return next((m["content"] for m in reversed(body["messages"]) if m["role"] == "user"), "")


class RoleScript:
    """Answers the OpenAI wire server by agent role: a queue of replies per role, then a default per role."""

    DEFAULTS: ClassVar[dict[str, Any]] = {  # a role's answer: its JSON, or the assistant's words
        "executor": {"result": "done", "notes": ""},
        "critic": {"score": 9, "approved": True, "feedback": "Good."},
        "summarizer": {"summary": "All tasks finished.", "key_facts": ["finished"]},
        "assistant": "Happy to help.",
        "memory_extractor": {"facts": []},
        "memory_updater": {"actions": []},
    }

    def __init__(self) -> None:
        self.queues: dict[str, list[Any]] = {}
        self.prompts: dict[str, list[str]] = {}
        self.requests: dict[str, list[dict[str, Any]]] = {}

    def add(self, role: str, *replies: Any) -> "RoleScript":
        self.queues.setdefault(role, []).extend(replies)
        return self

    def __call__(self, body: dict[str, Any]) -> str | dict[str, Any] | None:
        role = role_of(body)
        self.prompts.setdefault(role, []).append(user_prompt(body))
        self.requests.setdefault(role, []).append(body)
        queue = self.queues.get(role)
        reply = queue.pop(0) if queue else self.DEFAULTS.get(role)
        if isinstance(reply, CallTools):
            return {"tool_calls": [{"name": name, "arguments": arguments} for name, arguments in reply.calls]}
        return None if reply is None else (reply if isinstance(reply, str) else json.dumps(reply))


@dataclass
class Platform:
    runtime: ThreadedServer
    planner: ThreadedServer
    memory: ThreadedServer
    tools: ThreadedServer
    orchestrator: ThreadedServer
    database_url: str
    redis_url: str

    def orchestrator_settings(self, **overrides: Any) -> OrchestratorSettings:
        values = {
            **common_settings(self.database_url, self.redis_url),
            "ai_runtime_url": self.runtime.url,
            "task_planner_url": self.planner.url,
            "tool_runner_url": self.tools.url,
            "memory_service_url": self.memory.url,
            "lease_seconds": 10.0,
            "retry_base_seconds": 0.05,
            "worker_poll_seconds": 0.2,
            "tool_timeout_seconds": 20.0,
            # Far below the default 15 s, so a step of a second or two is silent longer than the keepalive: every
            # client of the event streams is tested against keepalive comments.
            "run_events_keepalive_seconds": 0.2,
            "approval_sweep_seconds": 0.2,
            "eval_poll_seconds": 0.2,
            # Schedules and webhooks are driven by their tests (an injected clock, a dispatcher of the test's own).
            "schedules_enabled": False,
            "webhooks_enabled": False,
            "webhook_allowed_private_addresses": ["127.0.0.1"],
            **overrides,
        }
        return OrchestratorSettings(**values)


@pytest.fixture(scope="session")
def platform(database_url: str, redis_url: str, providers: Providers) -> Iterator[Platform]:
    with running_platform(database_url, redis_url, providers) as running:
        yield running


@contextmanager
def running_platform(database_url: str, redis_url: str, providers: Providers) -> Iterator[Platform]:
    """Every service a run needs, as real servers on one database (the fake providers behind the ai-runtime)."""
    base = common_settings(database_url, redis_url)
    settings = runtime_settings(
        database_url, redis_url, providers, role_models={r: ["gpt-4o-mini"] for r in ROLE_MARKERS}
    )
    with (
        serving(create_runtime(settings)) as runtime,
        serving(create_memory(memory_settings(database_url, redis_url, runtime.url))) as memory,
        serving(
            create_tools(
                tool_settings(
                    database_url,
                    redis_url,
                    memory_service_url=memory.url,
                    ai_runtime_url=runtime.url,
                    http_allowed_private_addresses=["127.0.0.1"],  # the tests' MCP servers listen on loopback
                )
            )
        ) as tools,
    ):
        planner_settings = TaskPlannerSettings.model_validate(
            {**base, "ai_runtime_url": runtime.url, "tool_runner_url": tools.url}
        )
        with serving(create_planner(planner_settings)) as planner:
            partial = Platform(runtime, planner, memory, tools, None, database_url, redis_url)  # type: ignore[arg-type]
            with serving(create_orchestrator(partial.orchestrator_settings())) as orchestrator:
                partial.orchestrator = orchestrator
                yield partial


@pytest.fixture
def script(providers: Providers) -> RoleScript:
    role_script = RoleScript()
    providers.openai_app.state.responder = role_script
    return role_script


class RunsClient:
    """An orchestrator (and planner) client signed as one user."""

    def __init__(self, platform: Platform, user_id: str) -> None:
        self.user_id = user_id
        self.http = signed_client(user_id)
        self.platform = platform

    def url(self, path: str) -> str:
        return f"{self.platform.orchestrator.url}{path}"

    def plan(self, tasks: list[dict[str, Any]], script: RoleScript, goal: str = "A goal for the test") -> str:
        script.add("planner", {"tasks": tasks, "risks": []})
        response = self.http.post(f"{self.platform.planner.url}/plans", json={"goal": goal, "max_tasks": 50})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def start(self, **body: Any) -> dict[str, Any]:
        response = self.http.post(self.url("/runs"), json=body)
        assert response.status_code == 202, response.text
        return response.json()

    def get(self, run_id: str) -> dict[str, Any]:
        response = self.http.get(self.url(f"/runs/{run_id}"))
        assert response.status_code == 200, response.text
        return response.json()

    def wait(
        self,
        run_id: str,
        until: Callable[[dict[str, Any]], bool] = lambda r: r["status"] in TERMINAL_RUN_STATUSES,
        timeout: float = 60,
    ) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            run = self.get(run_id)
            return run if until(run) else None

        return eventually(reached, timeout=timeout, failure=lambda: str(self.get(run_id)))

    def events(self, run_id: str, last_event_id: int | None = None) -> list[dict[str, Any]]:
        """The run's SSE stream read to its end."""
        headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
        with self.http.stream("GET", self.url(f"/runs/{run_id}/events"), headers=headers) as response:
            assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
            return [
                {**data, "sse_event": name, "sse_id": event_id}
                for event_id, name, data in parse_sse(response.iter_lines())
            ]


@pytest.fixture
def runs(platform: Platform) -> Iterator[RunsClient]:
    client = RunsClient(platform, make_user(platform.database_url))
    yield client
    client.http.close()


def task(
    key: str, role: str = "executor", tool: str | None = None, depends_on: tuple[str, ...] = (), **fields: Any
) -> dict[str, Any]:
    return {
        "id": key,
        "name": fields.pop("name", f"Task {key}"),
        "description": fields.pop("description", f"Do {key}"),
        "agent_role": role,
        "tool": tool,
        "depends_on": list(depends_on),
        **fields,
    }


@pytest.fixture(scope="session")
def platform_gateway(stack: Stack, platform: Platform) -> Iterator[ThreadedServer]:
    """The gateway in front of every real service of the platform, as in production."""
    settings = stack.gateway_settings(
        memory_service_url=platform.memory.url,
        ai_runtime_url=platform.runtime.url,
        task_planner_url=platform.planner.url,
        agent_orchestrator_url=platform.orchestrator.url,
        tool_runner_url=platform.tools.url,
        upstream_timeout_seconds=60.0,
    )
    with serving(create_gateway(settings)) as server:
        yield server


# A step that stays silent for longer than the platform's keepalive interval (0.2 s), as most steps do on the
# embedded model (the default interval is 15 s).
def silent_code(seconds: float) -> str:
    return f"import time\ntime.sleep({seconds})\nprint('awake')"


def script_silent_run(script: RoleScript, *, seconds: float = 1.5) -> None:
    """A goal planned into one task that runs code silent for `seconds`, then the summary."""
    code = silent_code(seconds)
    script.add("planner", {"tasks": [task("nap", tool="execute_python", inputs={"code": code})], "risks": []})
    script.add("executor", {"result": "napped", "code": code})
    script.add("summarizer", {"summary": "Napped and woke up.", "key_facts": []})


FIB_CODE = (
    "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\nprint([fib(n) for n "
    "in range(11)])"
)


def script_fibonacci_run(script: RoleScript) -> None:
    """The agents' answers for "Write and test a Fibonacci function": a plan of two tasks, the second running the
    code in the sandbox, then the summary."""
    script.add(
        "planner",
        {
            "tasks": [
                task("write", description="Write fib(n)"),
                task("test", tool="execute_python", depends_on=("write",), description="Run fib on 0..10"),
            ],
            "risks": [],
        },
    )
    script.add("executor", {"result": "def fib(n): ...", "code": FIB_CODE}, {"result": "tested", "code": FIB_CODE})
    script.add("summarizer", {"summary": "fib(0..10) is 0 1 1 2 3 5 8 13 21 34 55", "key_facts": ["fib(10) = 55"]})


def code_runs_in_flight(redis_url: str, user_id: str) -> int:
    """How many of the user's code runs the tool-runners hold a sandbox slot for: 1 while one runs, 0 after."""
    with redis.Redis.from_url(redis_url) as client:
        return int(client.zcard(sandbox_slots_key(user_id)))


def tasks_in_worker(orchestrator: ThreadedServer) -> int:
    """Tasks the orchestrator's worker is executing now (0 once a cancelled task has been let go)."""
    return len(service_state(orchestrator.app, OrchestratorState).worker.running)


def learning_jobs(orchestrator: ThreadedServer) -> int:
    """Conversation exchanges the orchestrator is still learning memories from."""
    return len(service_state(orchestrator.app, OrchestratorState).learner.jobs)


@pytest.fixture
def own_account(platform_gateway: ThreadedServer, unique: str) -> Iterator[tuple[str, str]]:
    """A user of the platform, registered through the gateway, and an API key of theirs: (username, key)."""
    with CognitionOS(platform_gateway.url) as sdk:
        sdk.register(f"own_{unique}", f"own_{unique}@example.com", "own-account-pass")
        sdk.sign_in(f"own_{unique}", "own-account-pass")
        key = sdk.api_keys.create("for the cli").key
        assert key is not None
        yield f"own_{unique}", key
