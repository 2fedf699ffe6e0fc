"""`cognitionos run` and `cognitionos runs ...` against the real platform through the gateway: a step silent for
longer than the keepalive breaks nothing, the run id comes first, runs can be followed again, and every failure is
one line with a documented exit code. examples/workflow_example.py runs the same way."""

import json
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cognitionos_cli.account import remember_gateway
from cognitionos_cli.main import app
from cognitionos_cli.workflow import Credentials, Gateway
from cognitionos_sdk import CognitionOS
from shared.app import VERSION
from tests.cli.conftest import cognitionos
from tests.support import ThreadedServer, free_port
from tests.support.platform import RoleScript, script_silent_run, task

ROOT = Path(__file__).parents[2]


@pytest.mark.needs_sandbox
def test_run_follows_a_step_silent_longer_than_the_keepalive_to_its_end(
    cli_env: dict[str, str], script: RoleScript
) -> None:
    script_silent_run(script)
    code, output = cognitionos(cli_env, "run", "Take a nap, then say so")
    assert code == 0, output
    first = output.splitlines()[0]
    assert first.startswith("run ") and "cognitionos runs follow" in first
    run_id = first.split()[1]
    assert f"run {run_id} succeeded (tested): Napped and woke up." in output and "awake" in output

    code, listed = cognitionos(cli_env, "runs", "list", "--json")
    assert code == 0 and [r["id"] for r in json.loads(listed)] == [run_id]
    code, shown = cognitionos(cli_env, "runs", "show", run_id, "--json")
    assert code == 0 and json.loads(shown)["status"] == "succeeded"
    code, followed = cognitionos(cli_env, "runs", "follow", run_id)
    assert code == 0 and f"run {run_id} succeeded" in followed


@pytest.mark.needs_sandbox
def test_a_failed_run_exits_1_and_json_lines_start_with_the_run_id(cli_env: dict[str, str], script: RoleScript) -> None:
    doomed = task("doomed", tool="execute_python", inputs={"code": "1/0"}, fallback_strategy="fail")
    script.add("planner", {"tasks": [doomed], "risks": []})
    script.add("executor", *[{"result": "dividing", "code": "1/0"}] * 3)
    code, output = cognitionos(cli_env, "run", "--json", "Fail on purpose")
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert code == 1, output
    assert list(lines[0]) == ["run_id"] and lines[-1]["status"] == "failed"


@pytest.mark.needs_sandbox
def test_a_cancelled_run_is_followed_to_its_end_with_exit_1(
    cli_env: dict[str, str], script: RoleScript, platform_gateway: ThreadedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    script_silent_run(script)
    monkeypatch.setenv("XDG_STATE_HOME", cli_env["XDG_STATE_HOME"])  # the same account as the CLI's
    with CognitionOS(platform_gateway.url) as sdk:
        Credentials.local().sign_in(sdk)
        run_id = sdk.runs.create("Take a nap that gets cut short").id
    code, output = cognitionos(cli_env, "runs", "cancel", run_id)
    assert code == 0 and output.strip() == f"run {run_id} cancelled"
    code, output = cognitionos(cli_env, "runs", "follow", run_id)
    assert code == 1 and f"run {run_id} cancelled" in output


def test_an_unknown_run_is_one_line_and_exit_1(cli_env: dict[str, str]) -> None:
    code, output = cognitionos(cli_env, "runs", "follow", str(uuid.uuid4()))
    assert code == 1 and output.startswith("error: 404 not_found") and len(output.strip().splitlines()) == 1


def test_an_unreachable_gateway_is_one_line_and_exit_3(tmp_path: Path) -> None:
    env = {"API_GATEWAY_URL": f"http://127.0.0.1:{free_port()}", "XDG_STATE_HOME": str(tmp_path)}
    for args in (["run", "anything at all"], ["runs", "list"], ["runs", "follow", str(uuid.uuid4())]):
        code, output = cognitionos(env, *args)
        assert code == 3 and output.startswith("error: cannot reach") and "Traceback" not in output


def test_a_usage_error_exits_2(cli_env: dict[str, str]) -> None:
    assert cognitionos(cli_env, "runs", "follow")[0] == 2


@pytest.mark.needs_sandbox
def test_the_workflow_example_runs_as_its_docstring_says(
    platform_gateway: ThreadedServer, script: RoleScript, tmp_path: Path
) -> None:
    script_silent_run(script)
    example = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "workflow_example.py"),
            "Take a nap",
            "--gateway",
            platform_gateway.url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "XDG_STATE_HOME": str(tmp_path), "PYTHONPATH": str(ROOT)},
    )
    assert example.returncode == 0, example.stdout + example.stderr
    assert "status: succeeded" in example.stdout and "awake" in example.stdout


def test_version_and_plain_flags(cli_env: dict[str, str]) -> None:
    code, output = cognitionos(cli_env, "--version")
    assert code == 0 and output.strip() == f"cognitionos {VERSION}"
    code, output = cognitionos(cli_env, "up", "--help")
    assert code == 0 and "--skip-migrations" in output and "--no-skip-migrations" not in output


@pytest.mark.needs_sandbox
def test_after_login_runs_are_the_users_own_and_visible_through_the_api(
    cli_env: dict[str, str], script: RoleScript, platform_gateway: ThreadedServer, own_account: tuple[str, str]
) -> None:
    username, key = own_account
    code, output = cognitionos(cli_env, "login", "--api-key", key)
    assert code == 0 and f"signed in as {username}" in output
    stored = Path(cli_env["XDG_STATE_HOME"]) / "cognitionos" / "login.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    script_silent_run(script)
    code, output = cognitionos(cli_env, "run", "--json", "Take a nap as myself")
    run_id = json.loads(output.splitlines()[0])["run_id"]
    with CognitionOS(platform_gateway.url, api_key=key) as mine:
        assert run_id in [r.id for r in mine.runs.list()]  # the user's own run, as the console shows it
    assert cognitionos(cli_env, "logout")[1].strip() == "signed out" and not stored.exists()


def test_an_api_key_from_the_environment_or_an_option_acts_as_its_user(
    cli_env: dict[str, str], own_account: tuple[str, str], platform_gateway: ThreadedServer
) -> None:
    _, key = own_account
    for env, args in (({"COGNITIONOS_API_KEY": key}, ()), ({}, ("--api-key", key))):
        code, output = cognitionos(cli_env | env, "runs", "list", "--json", *args)
        assert code == 0 and json.loads(output) == []  # the key's user has no runs; the CLI account is not used
    code, output = cognitionos(cli_env, "runs", "list", "--api-key", "cos_not-a-real-key-at-all")
    assert code == 3 and output.startswith("error: ")


def test_the_address_of_the_last_up_is_found_without_any_variable(
    platform_gateway: ThreadedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    remember_gateway(platform_gateway.url)  # as `cognitionos up` does
    code, output = cognitionos({"XDG_STATE_HOME": str(tmp_path)}, "runs", "list", "--json")
    assert code == 0 and json.loads(output) == []
    code, _ = cognitionos(
        {"XDG_STATE_HOME": str(tmp_path), "COGNITIONOS_URL": f"http://127.0.0.1:{free_port()}"}, "runs", "list"
    )
    assert code == 3  # an address given wins over the remembered one


def test_login_with_a_username_makes_a_key_for_this_machine(
    cli_env: dict[str, str], own_account: tuple[str, str], platform_gateway: ThreadedServer
) -> None:
    username, _ = own_account
    result = CliRunner().invoke(app, ["login", "--username", username], env=cli_env, input="own-account-pass\n")
    assert result.exit_code == 0 and f"signed in as {username}" in result.output
    with CognitionOS(platform_gateway.url) as sdk:
        sdk.sign_in(username, "own-account-pass")
        names = [k.name for k in sdk.api_keys.list()]
        assert any(name.startswith("cognitionos CLI on ") for name in names), names
    wrong = CliRunner().invoke(app, ["login", "--username", username], env=cli_env, input="not-the-password\n")
    assert wrong.exit_code == 3 and "refused the sign-in" in wrong.output
    assert cognitionos(cli_env, "login")[0] == 2  # neither a username nor a key


def test_login_with_scopes_makes_a_key_that_can_do_only_that(
    cli_env: dict[str, str], own_account: tuple[str, str]
) -> None:
    username, _ = own_account
    args = ["login", "--username", username, "--scope", "memories:read"]
    result = CliRunner().invoke(app, args, env=cli_env, input="own-account-pass\n")
    assert result.exit_code == 0, result.output
    assert cognitionos(cli_env, "memories", "list")[0] == 0
    code, out = cognitionos(cli_env, "runs", "list")
    assert code == 1 and "runs:read" in out, out
    bad = CliRunner().invoke(app, [*args[:3], "--scope", "runs:delete"], env=cli_env, input="own-account-pass\n")
    assert bad.exit_code == 2 and "Unknown scope: runs:delete" in bad.output


def test_ctrl_c_stops_following_not_the_run_and_says_how_to_follow_again(
    cli_env: dict[str, str], script: RoleScript, platform_gateway: ThreadedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    script.add("planner", {"tasks": [task("only", tool="noop")], "risks": []})

    def interrupted(_gateway: Gateway, _run_id: str, **_options: object) -> Iterator[dict]:
        raise KeyboardInterrupt
        yield {}

    monkeypatch.setattr(Gateway, "events", interrupted)
    code, output = cognitionos(cli_env, "run", "Do one small thing")
    run_id = output.splitlines()[0].split()[1]
    assert code == 130 and f"it goes on. Follow it again: cognitionos runs follow {run_id}" in output
    monkeypatch.undo()
    code, output = cognitionos(cli_env, "runs", "follow", run_id)
    assert code == 0 and f"run {run_id} succeeded" in output  # the run went on without anyone following it


@pytest.mark.needs_sandbox
def test_run_with_a_file_lists_what_its_code_made_and_files_download_it(
    cli_env: dict[str, str], script: RoleScript, tmp_path: Path
) -> None:
    data = tmp_path / "data.csv"
    data.write_text("city,temperature\nParis,21\nLyon,24\n")
    code = (
        "import csv, json\nrows = list(csv.DictReader(open('/work/inputs/data.csv')))\n"
        "open('/work/outputs/summary.json', 'w').write(json.dumps({'rows': len(rows)}))"
    )
    script.add("planner", {"tasks": [task("sum", tool="execute_python", inputs={"code": code})], "risks": []})
    exit_code, output = cognitionos(cli_env, "run", "Summarise the table", "--file", str(data))
    assert exit_code == 0, output
    assert "files it made:" in output and "summary.json (11 B): cognitionos files download " in output
    artifact_id = output.split("cognitionos files download ")[1].split()[0]
    exit_code, saved = cognitionos(cli_env, "files", "download", artifact_id, "--output", str(tmp_path))
    assert exit_code == 0 and Path(saved.strip()).read_text() == '{"rows": 2}'
    exit_code, listed = cognitionos(cli_env, "files", "list", "--json")
    assert exit_code == 0 and sorted(f["name"] for f in json.loads(listed)) == ["data.csv", "summary.json"]
    exit_code, uploaded = cognitionos(cli_env, "files", "upload", str(data), "--json")
    [again] = json.loads(uploaded)
    assert exit_code == 0 and again["name"] == "data.csv"
    assert cognitionos(cli_env, "files", "delete", again["id"])[0] == 0
    exit_code, missing = cognitionos(cli_env, "files", "show", again["id"])
    assert exit_code == 1 and "No such file" in missing
