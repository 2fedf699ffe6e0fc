"""Runs use files: a run's code reads its input files at /work/inputs, and the files it leaves in /work/outputs
become the run's artifacts, listed, announced and downloadable byte for byte."""

import hashlib
import uuid

import pytest

from tests.support import assert_error
from tests.support.platform import Platform, RoleScript, RunsClient, task
from tests.support.users import make_user, signed_client

pytestmark = pytest.mark.needs_sandbox

CSV = b"city,temperature\nParis,21\nLyon,24\nNice,23\n"
SUMMARY_CODE = (
    "import csv, json\nrows = list(csv.DictReader(open('/work/inputs/data.csv')))\n"
    "hottest = max(rows, key=lambda r: int(r['temperature']))['city']\n"
    "open('/work/outputs/summary.json', 'w').write(json.dumps({'rows': len(rows), 'hottest': hottest}))\n"
    "print('hottest:', hottest)"
)


def upload(runs: RunsClient, content: bytes = CSV, name: str = "data.csv") -> str:
    made = runs.http.post(f"{runs.platform.tools.url}/files", files={"file": (name, content, "text/csv")})
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def test_a_runs_code_reads_its_input_and_its_artifact_downloads_byte_identical(
    runs: RunsClient, script: RoleScript
) -> None:
    file_id = upload(runs)
    plan_id = runs.plan([task("summarise", tool="execute_python", inputs={"code": SUMMARY_CODE})], script)
    started = runs.start(plan_id=plan_id, files=[file_id], summarize=False)
    assert [f["name"] for f in started["input_files"]] == ["data.csv"]
    done = runs.wait(started["id"])
    assert done["status"] == "succeeded", done
    output = done["tasks"][0]["output"]
    assert output["result"].strip() == "hottest: Lyon"
    [listed] = output["artifacts"]
    page = runs.http.get(runs.url(f"/runs/{done['id']}/artifacts")).json()
    [artifact] = page["items"]
    assert artifact["id"] == listed["id"] and artifact["name"] == "summary.json" and artifact["kind"] == "output"
    assert artifact["run_id"] == done["id"] and artifact["task_id"] == done["tasks"][0]["id"]
    content = runs.http.get(f"{runs.platform.tools.url}/files/{artifact['id']}/content").content
    assert content == b'{"rows": 3, "hottest": "Lyon"}'
    assert hashlib.sha256(content).hexdigest() == artifact["sha256"]
    announced = [e for e in runs.events(done["id"]) if e["event_type"] == "artifact_created"]
    assert [e["data"]["id"] for e in announced] == [artifact["id"]]


def test_the_planner_and_the_executor_are_told_of_the_input_files(runs: RunsClient, script: RoleScript) -> None:
    file_id = upload(runs)
    script.add("planner", {"tasks": [task("look", tool="execute_python", name="Find the hottest city")], "risks": []})
    script.add("executor", {"code": SUMMARY_CODE})
    done = runs.wait(runs.start(goal="Which city is hottest?", files=[file_id], summarize=False)["id"])
    assert done["status"] == "succeeded", done
    planner_prompt = script.prompts["planner"][-1]
    assert "/work/inputs/data.csv" in planner_prompt and "city,temperature" in planner_prompt
    executor_prompt = script.prompts["executor"][-1]
    assert f"/work/inputs/data.csv (text/csv, {len(CSV)} bytes)" in executor_prompt and "Paris,21" in executor_prompt
    assert "/work/outputs/" in executor_prompt
    assert [a["name"] for a in runs.http.get(runs.url(f"/runs/{done['id']}/artifacts")).json()["items"]] == [
        "summary.json"
    ]


def test_a_run_cannot_use_another_users_file(runs: RunsClient, platform: Platform) -> None:
    with signed_client(make_user(platform.database_url)) as stranger:
        made = stranger.post(f"{platform.tools.url}/files", files={"file": ("theirs.csv", CSV, "text/csv")})
    refused = runs.http.post(runs.url("/runs"), json={"goal": "Use their file", "files": [made.json()["id"]]})
    assert_error(refused, 404, "file_not_found")
    refused = runs.http.post(runs.url("/runs"), json={"goal": "Use no file", "files": [str(uuid.uuid4())]})
    assert_error(refused, 404, "file_not_found")


def test_another_user_cannot_list_a_runs_artifacts(runs: RunsClient, script: RoleScript, platform: Platform) -> None:
    plan_id = runs.plan([task("write", tool="execute_python", inputs={"code": SUMMARY_CODE})], script)
    done = runs.wait(runs.start(plan_id=plan_id, files=[upload(runs)], summarize=False)["id"])
    with signed_client(make_user(platform.database_url)) as stranger:
        assert_error(stranger.get(runs.url(f"/runs/{done['id']}/artifacts")), 404)
