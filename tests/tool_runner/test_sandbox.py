"""execute_python really isolates untrusted code: each attack is contained, reported, and the service lives on."""

import os
import shutil
import time

import httpx
import pytest

from tests.support import assert_error, sql_scalar
from tests.tool_runner.conftest import run_code

pytestmark = pytest.mark.skipif(
    shutil.which("bwrap") is None, reason="bubblewrap is not installed (.ci/run installs it)"
)


def test_runs_code_and_records_it(tools: httpx.Client, database_url: str) -> None:
    body = run_code(
        tools, "def fib(n):\n    return n if n < 2 else fib(n-1) + fib(n-2)\nprint([fib(i) for i in range(11)])"
    )
    assert body["status"] == "succeeded" and body["result"]["stdout"].strip() == "[0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55]"
    assert body["result"]["sandbox"] == "bwrap"
    row = sql_scalar(
        database_url, "SELECT status || ':' || tool_name FROM tool_executions WHERE id = :id", id=body["execution_id"]
    )
    assert row == "succeeded:execute_python"


def test_infinite_loop_is_killed_at_the_wall_timeout(tools: httpx.Client) -> None:
    started = time.monotonic()
    body = run_code(tools, "while True:\n    pass", timeout=1.5)
    assert body["status"] == "timeout" and body["result"]["timed_out"]
    assert time.monotonic() - started < 8


def test_memory_bomb_is_contained(tools: httpx.Client) -> None:
    body = run_code(tools, "x = bytearray(2 * 1024 ** 3)\nprint('allocated')")
    assert (
        body["status"] == "failed"
        and "MemoryError" in body["result"]["stderr"]
        and "allocated" not in body["result"]["stdout"]
    )


def test_fork_bomb_is_contained(tools: httpx.Client) -> None:
    code = (
        "import os\nn = 0\ntry:\n    while True:\n        if os.fork() == 0:\n            import time; "
        "time.sleep(30)\n        n += 1\nexcept OSError as e:\n    print('stopped after', n, 'forks:', e)\n"
    )
    body = run_code(tools, code, timeout=5)
    assert "stopped after" in body["result"]["stdout"]
    assert int(body["result"]["stdout"].split()[2]) < 64
    assert run_code(tools, "print('still fine')")["result"]["stdout"].strip() == "still fine"


def test_cannot_write_outside_its_directory(tools: httpx.Client) -> None:
    body = run_code(
        tools,
        "open('/work/ok.txt', 'w').write('fine')\nopen('/tmp/ok.txt', 'w').write('fine')\nfor p in ['/etc/evil', "
        "'/usr/evil', '/root/evil']:\n    try:\n        open(p, 'w').write('x'); print('WROTE', p)\n    except "
        "OSError as e:\n        print('refused', p, type(e).__name__)",
    )
    assert "WROTE" not in body["result"]["stdout"] and body["result"]["stdout"].count("refused") == 3
    assert not os.path.exists("/etc/evil")


def test_no_network(tools: httpx.Client, tool_server) -> None:
    port = tool_server.url.rsplit(":", 1)[1]
    code = (
        f"import socket\nfor host in [('127.0.0.1', {port}), ('1.1.1.1', 80)]:\n    try:\n        "
        "socket.create_connection(host, timeout=2); print('CONNECTED', host)\n    except OSError as e:\n        "
        "print('blocked', host[0])"
    )
    body = run_code(tools, code)
    assert "CONNECTED" not in body["result"]["stdout"] and body["result"]["stdout"].count("blocked") == 2


def test_cannot_read_the_service_secrets(tools: httpx.Client) -> None:
    os.environ["TOOL_RUNNER_TEST_SECRET"] = "s3cr3t-value"
    code = (
        "import os, glob\nprint(sorted(os.environ))\nfor path in glob.glob('/proc/*/environ'):\n    try:\n        "
        "print(path, open(path, 'rb').read()[:200])\n    except OSError:\n        pass\nprint(os.getuid())"
    )
    body = run_code(tools, code)
    assert "s3cr3t-value" not in body["result"]["stdout"] and "JWT_SECRET" not in body["result"]["stdout"]
    assert body["result"]["stdout"].strip().splitlines()[-1] != "0"  # not root


def test_output_is_capped(tools: httpx.Client) -> None:
    body = run_code(tools, "print('x' * 1_000_000)")
    assert body["result"]["truncated"] and len(body["result"]["stdout"]) <= 64 * 1024


def test_bad_input(tools: httpx.Client) -> None:
    assert_error(
        tools.post("/execute", json={"tool_name": "execute_python", "parameters": {}}), 400, "invalid_parameters"
    )
    assert_error(tools.post("/execute", json={"tool_name": "rm_rf", "parameters": {}}), 422)
    assert_error(
        tools.post("/execute", json={"tool_name": "execute_python", "parameters": {"code": "x"}, "timeout_seconds": 0}),
        422,
    )
