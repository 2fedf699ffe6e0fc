"""`cognitionos chat` on a pipe: each line is a message, each reply streams back, with its cost."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ThreadedServer
from tests.support.platform import CallTools, RoleScript

BIN = Path(sys.executable).parent


def chat(platform_gateway: ThreadedServer, lines: str, state: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "XDG_STATE_HOME": str(state), "NO_COLOR": "1"}
    return subprocess.run(
        [str(BIN / "cognitionos"), "chat", "--gateway-url", platform_gateway.url],
        input=lines,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.needs_sandbox
def test_chat_streams_replies_and_shows_tool_calls(
    platform_gateway: ThreadedServer, script: RoleScript, tmp_path: Path
) -> None:
    script.add("assistant", "Hello! How can I help?", CallTools([("execute_python", {"code": "print(2 + 2)"})]), "4.")
    done = chat(platform_gateway, "Hi\nWhat is 2 + 2?\n/quit\nnever sent\n", tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    turns = done.stdout.split("assistant> ")[1:]
    assert len(turns) == 2 and turns[0].startswith("Hello! How can I help?")
    assert "[tool] execute_python" in turns[1] and '"stdout": "4\\n"' in turns[1] and "4." in turns[1]
    assert re.search(r" tokens, (< )?\$[0-9.]+\]", turns[1]) and "never sent" not in str(
        script.prompts.get("assistant")
    )
