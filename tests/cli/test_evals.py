"""`cognitionos eval ...` against the real platform through the gateway, the model's answers scripted."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cognitionos_cli.main import app
from tests.support import ThreadedServer
from tests.support.evals import RIGHT, WRONG, EvalScript, case
from tests.support.providers import Providers


def cognitionos(*args: str, key: str, url: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [*args, "--api-key", key], env={"API_GATEWAY_URL": url})
    return result.exit_code, result.stdout, result.output


@pytest.fixture
def suite_file(tmp_path: Path) -> Path:
    path = tmp_path / "arith.jsonl"
    path.write_text("# my cases\n" + "\n".join(json.dumps(case(name)) for name in RIGHT) + "\n")
    return path


@pytest.mark.needs_sandbox
def test_limit_concurrency_and_json_are_honoured(
    platform_gateway: ThreadedServer, own_account: tuple[str, str], providers: Providers, suite_file: Path
) -> None:
    _, key = own_account
    providers.openai_app.state.responder = EvalScript(agent=RIGHT, baseline={**WRONG, "add": RIGHT["add"]})
    args = ("eval", "--suite-file", str(suite_file), "--limit", "2", "--concurrency", "3", "--arm", "baseline")
    code, stdout, output = cognitionos(*args, "--json", key=key, url=platform_gateway.url)

    assert code == 0, output
    report = json.loads(stdout)
    assert report["suite"] == "arith" and report["case_count"] == 2 and report["concurrency"] == 3
    assert [row["case_id"] for row in report["cases"]] == ["add", "mul"]
    assert list(report["arms"]) == ["baseline"] and report["arms"]["baseline"]["passed"] == 1
    assert report["config"]["limit"] == 2


@pytest.mark.needs_sandbox
def test_the_report_shows_both_arms_their_disagreements_and_compare_shows_the_change(
    platform_gateway: ThreadedServer, own_account: tuple[str, str], providers: Providers, suite_file: Path
) -> None:
    _, key = own_account
    url = platform_gateway.url
    providers.openai_app.state.responder = EvalScript(agent=RIGHT, baseline=WRONG)
    code, first, output = cognitionos("eval", "--suite-file", str(suite_file), "--limit", "2", key=key, url=url)
    assert code == 0, output
    rows = [line.replace("│", " ").split() for line in first.splitlines()]
    assert ["agent", "2/2", "100.0%"] in [row[:3] for row in rows], first
    assert ["baseline", "0/2", "0.0%"] in [row[:3] for row in rows], first
    assert "the arms disagree on:" in first and "add: passed (agent), failed" in first
    assert "eval" in output and "agent 2✓ 0✗" in output  # the live tally (on stderr)

    providers.openai_app.state.responder = EvalScript(agent=RIGHT, baseline=RIGHT)
    code, _, _ = cognitionos("eval", "arith", "--suite-file", str(suite_file), "--limit", "2", key=key, url=url)
    assert code == 0
    code, listed, _ = cognitionos("eval", "list", "--json", key=key, url=url)
    a, b = [e["id"] for e in json.loads(listed)[:2]][::-1]
    code, compared, _ = cognitionos("eval", "compare", a, b, key=key, url=url)
    assert code == 0 and "+100.0 points" in compared
    assert "add (baseline): failed → passed" in compared and "mul (baseline): failed → passed" in compared
    code, shown, _ = cognitionos("eval", "show", b, key=key, url=url)
    assert code == 0 and "baseline" in shown and "2/2" in shown


def test_an_unknown_suite_or_a_malformed_suite_file_is_a_usage_error(
    platform_gateway: ThreadedServer, own_account: tuple[str, str], tmp_path: Path
) -> None:
    _, key = own_account
    url = platform_gateway.url
    code, _, output = cognitionos("eval", "no-such-suite", key=key, url=url)
    assert code == 2 and "No suite named 'no-such-suite'" in output

    malformed = tmp_path / "broken.jsonl"
    malformed.write_text(json.dumps(case("add")) + "\n{not json\n")
    code, _, output = cognitionos("eval", "--suite-file", str(malformed), key=key, url=url)
    assert code == 2 and "broken.jsonl: line 2: not JSON" in output

    no_check = tmp_path / "nocheck.jsonl"
    no_check.write_text(json.dumps({"id": "a", "goal": "Do a thing"}) + "\n")
    code, _, output = cognitionos("eval", "--suite-file", str(no_check), key=key, url=url)
    assert code == 2 and "line 1" in output and "needs a check" in output

    code, _, output = cognitionos("eval", "--suite-file", str(tmp_path / "missing.jsonl"), key=key, url=url)
    assert code == 2 and "cannot read" in output
    code, _, output = cognitionos("eval", "smoke", "--limit", "0", key=key, url=url)
    assert code == 2
    code, _, output = cognitionos("eval", "smoke", "--model", "gpt-9-turbo", key=key, url=url)
    assert code == 2 and "No chat model or alias named 'gpt-9-turbo'" in output
