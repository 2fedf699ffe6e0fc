"""A code run's workspace: input files read-only at /work/inputs, the regular files left in /work/outputs handed
back as files of the caller (and of the run), within limits."""

import hashlib
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from services.tool_runner.main import create_app
from tests.support import ThreadedServer, assert_error, serving, sql_scalar
from tests.support.settings import tool_settings
from tests.support.users import make_user, signed_client
from tests.tool_runner.attacks import run_code

pytestmark = pytest.mark.needs_sandbox


@pytest.fixture(scope="module", params=["local", "s3"])
def storage_server(request: pytest.FixtureRequest, database_url: str, redis_url: str) -> Iterator[ThreadedServer]:
    """A tool-runner storing files on each backend: every test below runs on both."""
    backend = request.getfixturevalue("s3_server").settings() if request.param == "s3" else {}
    with serving(create_app(tool_settings(database_url, redis_url, **backend))) as server:
        yield server


@pytest.fixture
def tools(storage_server: ThreadedServer, database_url: str) -> Iterator[httpx.Client]:
    with signed_client(make_user(database_url), base_url=storage_server.url) as client:
        yield client


CSV = b"city,temperature\nParis,21\nLyon,24\nNice,23\n"
SUMMARY_CODE = """
import csv, json
rows = list(csv.DictReader(open('/work/inputs/data.csv')))
summary = {'rows': len(rows), 'hottest': max(rows, key=lambda r: int(r['temperature']))['city']}
open('/work/outputs/summary.json', 'w').write(json.dumps(summary))
print(summary)
"""


def upload(tools: httpx.Client, content: bytes = CSV, name: str = "data.csv") -> str:
    made = tools.post("/files", files={"file": (name, content, "text/csv")})
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def collect(tools: httpx.Client, code: str, **workspace: Any) -> dict[str, Any]:
    return run_code(tools, code, workspace={"collect_outputs": True, **workspace})


def test_code_reads_an_input_file_and_its_output_comes_back_byte_identical(tools: httpx.Client) -> None:
    body = collect(tools, SUMMARY_CODE, files=[upload(tools)])
    assert body["status"] == "succeeded", body
    [artifact] = body["result"]["artifacts"]
    assert artifact["name"] == "summary.json" and artifact["media_type"] == "application/json"
    content = tools.get(f"/files/{artifact['id']}/content").content
    assert content == b'{"rows": 3, "hottest": "Lyon"}'
    assert hashlib.sha256(content).hexdigest() == artifact["sha256"]
    listed = tools.get("/files", params={"kind": "output"}).json()["items"]
    assert artifact["id"] in [f["id"] for f in listed]
    assert body["result"]["artifacts_truncated"] is False


def test_writing_to_the_inputs_fails_and_leaves_them_unchanged(tools: httpx.Client) -> None:
    file_id = upload(tools)
    code = (
        "import os\nfor attempt in (lambda: open('/work/inputs/data.csv', 'a').write('x'),"
        " lambda: open('/work/inputs/new.txt', 'w').write('x'), lambda: os.remove('/work/inputs/data.csv'),"
        " lambda: os.chmod('/work/inputs/data.csv', 0o777)):\n"
        "    try:\n        attempt(); print('CHANGED')\n    except OSError as e:\n        print('refused', e.errno)\n"
    )
    body = collect(tools, code, files=[file_id])
    assert "CHANGED" not in body["result"]["stdout"] and body["result"]["stdout"].count("refused") == 4, body
    assert tools.get(f"/files/{file_id}/content").content == CSV


def test_a_symlink_to_a_host_file_in_the_outputs_is_not_collected(tools: httpx.Client) -> None:
    code = (
        "import os\nos.symlink('/etc/passwd', '/work/outputs/passwd')\nos.symlink('/work/inputs', '/work/outputs/in')\n"
        "os.mkfifo('/work/outputs/pipe')\nopen('/work/outputs/real.txt', 'w').write('real')"
    )
    body = collect(tools, code, files=[upload(tools)])
    assert [a["name"] for a in body["result"]["artifacts"]] == ["real.txt"], body
    assert sorted(body["result"]["artifacts_skipped"]) == ["in", "passwd", "pipe"]


def test_output_names_are_sanitised(tools: httpx.Client) -> None:
    code = (
        "import os\nos.makedirs('/work/outputs/reports/2026')\n"
        "open('/work/outputs/reports/2026/q1.csv', 'w').write('a')\n"
        "open('/work/outputs/..hidden', 'w').write('b')\nopen('/work/outputs/tab\\there.txt', 'w').write('c')"
    )
    body = collect(tools, code)
    assert sorted(a["name"] for a in body["result"]["artifacts"]) == ["hidden", "reports_2026_q1.csv", "tabhere.txt"]


def test_outputs_past_the_limits_are_truncated(tools: httpx.Client) -> None:
    code = "for i in range(25):\n    open(f'/work/outputs/{i:02}.txt', 'w').write(str(i))"
    body = collect(tools, code)
    assert len(body["result"]["artifacts"]) == 20 and body["result"]["artifacts_truncated"] is True


def test_files_of_a_failed_run_are_kept(tools: httpx.Client) -> None:
    body = collect(tools, "open('/work/outputs/partial.txt', 'w').write('half')\nraise SystemExit(2)")
    assert body["status"] == "failed" and [a["name"] for a in body["result"]["artifacts"]] == ["partial.txt"]


def test_nothing_is_collected_unless_asked(tools: httpx.Client) -> None:
    body = run_code(
        tools, "import os\nos.makedirs('/work/outputs', exist_ok=True)\nopen('/work/outputs/x', 'w').write('x')"
    )
    assert body["status"] == "succeeded" and "artifacts" not in body["result"]


def test_another_users_file_or_run_is_refused(tools: httpx.Client, database_url: str) -> None:
    with signed_client(make_user(database_url), base_url=str(tools.base_url)) as stranger:
        theirs = upload(stranger)
    refused = tools.post(
        "/tools/execute",
        json={"tool_name": "execute_python", "parameters": {"code": "print(1)"}, "files": [theirs]},
    )
    assert_error(refused, 404, "file_not_found")
    refused = tools.post(
        "/tools/execute",
        json={"tool_name": "execute_python", "parameters": {"code": "print(1)"}, "run_id": str(uuid.uuid4())},
    )
    assert_error(refused, 404, "run_not_found")
    assert sql_scalar(database_url, "SELECT count(*) FROM files WHERE id = :i", i=theirs) == 1
