"""The attacks execute_python must contain, each a check against a client of the tool-runner's /tools/execute.

tests/tool_runner/test_sandbox.py runs them against a tool-runner on this machine; the production-path test
(tests/deploy/test_production_path.py) runs the same checks against the tool-runner container, through the gateway.
"""

import errno
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx


def run_code(
    client: httpx.Client, code: str, timeout: float = 10, workspace: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`workspace`: input files and output collection ({"files": [...], "collect_outputs": true})."""
    response = client.post(
        "/tools/execute",
        json={
            "tool_name": "execute_python",
            "parameters": {"code": code},
            "timeout_seconds": timeout,
            **(workspace or {}),
        },
    )
    assert response.status_code == 200, response.text
    return response.json()


@dataclass(frozen=True, kw_only=True)
class Target:
    """Where the attacks run: a client of /tools/execute, an address the service itself listens on, and secrets the
    service holds that the code must never see."""

    tools: httpx.Client
    service_address: tuple[str, int]
    secrets: tuple[str, ...]
    workspace: dict[str, Any] | None = None  # input files mounted and outputs collected in every attack's run

    def run(self, code: str, timeout: float = 10) -> dict[str, Any]:
        return run_code(self.tools, code, timeout, self.workspace)


def infinite_loop_is_killed_at_the_wall_timeout(target: Target) -> None:
    started = time.monotonic()
    body = target.run("while True:\n    pass", timeout=1.5)
    assert body["status"] == "timeout" and body["result"]["timed_out"]
    assert time.monotonic() - started < 8


def memory_bomb_is_contained(target: Target) -> None:
    body = target.run("x = bytearray(2 * 1024 ** 3)\nprint('allocated')")
    assert (
        body["status"] == "failed"
        and "MemoryError" in body["result"]["stderr"]
        and "allocated" not in body["result"]["stdout"]
    )


def fork_bomb_is_contained(target: Target) -> None:
    code = (
        "import os\nn = 0\ntry:\n    while True:\n        if os.fork() == 0:\n            import time; "
        "time.sleep(30)\n        n += 1\nexcept OSError as e:\n    print('stopped after', n, 'forks:', e)\n"
    )
    body = target.run(code, timeout=5)
    assert "stopped after" in body["result"]["stdout"], body
    assert int(body["result"]["stdout"].split()[2]) < 64
    assert target.run("print('still fine')")["result"]["stdout"].strip() == "still fine"


def cannot_write_outside_its_directory(target: Target) -> None:
    body = target.run(
        "open('/work/ok.txt', 'w').write('fine')\nopen('/tmp/ok.txt', 'w').write('fine')\nfor p in ['/etc/evil', "
        "'/usr/evil', '/root/evil', '/app/evil']:\n    try:\n        open(p, 'w').write('x'); print('WROTE', p)\n"
        "    except OSError as e:\n        print('refused', p, type(e).__name__)",
    )
    assert "WROTE" not in body["result"]["stdout"] and body["result"]["stdout"].count("refused") == 4, body


def no_network(target: Target) -> None:
    host, port = target.service_address
    code = (
        f"import socket\nfor host in [({host!r}, {port}), ('1.1.1.1', 80)]:\n    try:\n        "
        "socket.create_connection(host, timeout=2); print('CONNECTED', host)\n    except OSError as e:\n        "
        "print('blocked', host[0])"
    )
    body = target.run(code)
    assert "CONNECTED" not in body["result"]["stdout"] and body["result"]["stdout"].count("blocked") == 2, body


def cannot_read_the_service_secrets(target: Target) -> None:
    """Neither its own environment nor any other process's (/proc/*/environ) shows the service's secrets."""
    code = (
        "import os, glob\nprint(sorted(os.environ))\nfor path in glob.glob('/proc/*/environ'):\n    try:\n        "
        "print(path, open(path, 'rb').read()[:4000])\n    except OSError:\n        pass\nprint(os.getuid())"
    )
    body = target.run(code)
    stdout = body["result"]["stdout"]
    assert body["status"] == "succeeded" and "JWT_SECRET" not in stdout, body
    assert not [secret for secret in target.secrets if secret in stdout]
    assert stdout.strip().splitlines()[-1] != "0"  # not root


def output_is_capped(target: Target) -> None:
    body = target.run("print('x' * 1_000_000)")
    assert body["result"]["truncated"] and len(body["result"]["stdout"]) <= 64 * 1024


def filling_tmp_or_the_work_dir_stops_at_the_cap(target: Target) -> None:
    # Files of 8 MB (under the 16 MB per-file limit) until the folder is full: the 64 MB tmpfs is the limit hit.
    code = (
        "for folder in ('/tmp', '/work'):\n"
        "    written = 0\n"
        "    try:\n"
        "        for n in range(25):\n"
        "            with open(f'{folder}/fill{n}', 'wb') as f:\n"
        "                for _ in range(8):\n"
        "                    f.write(b'x' * 1024 * 1024)\n"
        "                    written += 1\n"
        "    except OSError as e:\n"
        "        print(folder, 'stopped at', written, 'MB: errno', e.errno)\n"
    )
    body = target.run(code, timeout=30)
    stopped = [line for line in body["result"]["stdout"].splitlines() if "stopped at" in line]
    assert len(stopped) == 2, body
    for line in stopped:
        assert int(line.split("stopped at ")[1].split(" ")[0]) <= 64 and line.endswith("errno 28"), line


# Each attempt prints "<name> <return> <errno>"; a refusal is -1 with EPERM (the seccomp filter), or ENOSPC where the
# sandbox's user namespace allows no nested one (--disable-userns).
KERNEL_SURFACE_CODE = """
import ctypes, errno, platform
libc = ctypes.CDLL(None, use_errno=True)
numbers = {
    "x86_64": {"io_uring_setup": 425, "keyctl": 250, "add_key": 248, "request_key": 249, "bpf": 321,
               "userfaultfd": 323, "perf_event_open": 298},
    "aarch64": {"io_uring_setup": 425, "keyctl": 219, "add_key": 217, "request_key": 218, "bpf": 280,
                "userfaultfd": 282, "perf_event_open": 241},
}[platform.machine()]
buffer = ctypes.create_string_buffer(256)
for name, number in numbers.items():
    ctypes.set_errno(0)
    result = libc.syscall(number, 0, buffer, 0, 0, 0)
    print(name, result, ctypes.get_errno())
for name, flag in (("unshare_user", 0x10000000), ("unshare_net", 0x40000000), ("unshare_mount", 0x00020000)):
    ctypes.set_errno(0)
    print(name, libc.unshare(flag), ctypes.get_errno())
"""


def kernel_attack_surface_is_refused(target: Target) -> None:
    """Nested user namespaces, io_uring, kernel keyrings, bpf, userfaultfd and perf events: the usual first steps of
    a kernel exploit, each refused inside the sandbox."""
    body = target.run(KERNEL_SURFACE_CODE)
    assert body["status"] == "succeeded", body
    attempts = [line.split() for line in body["result"]["stdout"].splitlines()]
    assert len(attempts) == 10, body
    for name, result, error in attempts:
        assert result == "-1" and int(error) in (errno.EPERM, errno.ENOSPC), (name, result, error)


ATTACKS: dict[str, Callable[[Target], None]] = {
    check.__name__: check
    for check in (
        infinite_loop_is_killed_at_the_wall_timeout,
        memory_bomb_is_contained,
        fork_bomb_is_contained,
        cannot_write_outside_its_directory,
        no_network,
        cannot_read_the_service_secrets,
        output_is_capped,
        filling_tmp_or_the_work_dir_stops_at_the_cap,
        kernel_attack_surface_is_refused,
    )
}
