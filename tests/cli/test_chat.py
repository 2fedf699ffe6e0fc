"""`cognitionos chat` on a pipe: each line is a message, each reply streams back, with its cost."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.api_gateway.main import create_app as create_gateway
from tests.conftest import Stack
from tests.running_services import CallTools, Platform, RoleScript
from tests.support import ThreadedServer, serving

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def front(stack: Stack, platform: Platform) -> Iterator[ThreadedServer]:
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


def chat(front: ThreadedServer, lines: str, state: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "XDG_STATE_HOME": str(state), "NO_COLOR": "1"}
    return subprocess.run(
        [str(BIN / "cognitionos"), "chat", "--gateway-url", front.url],
        input=lines,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.needs_sandbox
def test_chat_streams_replies_and_shows_tool_calls(front: ThreadedServer, script: RoleScript, tmp_path: Path) -> None:
    script.add("assistant", "Hello! How can I help?", CallTools([("execute_python", {"code": "print(2 + 2)"})]), "4.")
    done = chat(front, "Hi\nWhat is 2 + 2?\n/quit\nnever sent\n", tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    turns = done.stdout.split("assistant> ")[1:]
    assert len(turns) == 2 and turns[0].startswith("Hello! How can I help?")
    assert "[tool] execute_python" in turns[1] and '"stdout": "4\\n"' in turns[1] and "4." in turns[1]
    assert " tokens, $" in turns[1] and "never sent" not in str(script.prompts.get("assistant"))
