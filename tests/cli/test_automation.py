"""`cognitionos templates|schedules|webhooks` against the real platform through the gateway."""

import json
from pathlib import Path

from tests.cli.conftest import cognitionos
from tests.support.platform import task


def test_a_template_runs_on_a_schedule_and_a_webhook_is_told(cli_env: dict[str, str], tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps([task("check", tool="noop", name="Check {{city}} for {{days}} days")]))
    code, out = cognitionos(
        cli_env, "templates", "create", "cli digest", "Check {{city}} for {{days}} days",
        "--parameter", "city", "--parameter", "days:integer=2", "--plan", str(plan), "--json",
    )  # fmt: skip
    assert code == 0, out
    template = json.loads(out)
    code, out = cognitionos(cli_env, "templates", "run", template["id"], "-p", "city=Dijon", "-p", "days=4", "--json")
    assert code == 0, out
    assert json.loads(out)["goal"] == "Check Dijon for 4 days"
    code, out = cognitionos(cli_env, "templates", "show", template["id"], "--version", "1")
    days = json.loads(out)["spec"]["parameters"][1]
    assert code == 0 and (days["name"], days["type"], days["default"]) == ("days", "integer", 2)
    code, out = cognitionos(cli_env, "templates", "list")
    assert code == 0 and "cli digest" in out
    code, out = cognitionos(cli_env, "templates", "run", template["id"], "-p", "city=Dijon", "-p", "days=four")
    assert code == 2 and "days='four' is not a integer" in out

    code, out = cognitionos(
        cli_env, "schedules", "create", "cli weekday", "--template", template["id"],
        "--cron", "0 9 * * 1-5", "--tz", "Europe/Paris", "-p", "city=Lille", "--json",
    )  # fmt: skip
    assert code == 0, out
    schedule = json.loads(out)
    code, out = cognitionos(cli_env, "schedules", "next", schedule["id"], "--count", "3")
    assert code == 0 and out.count("09:00 CET") + out.count("09:00 CEST") == 3, out
    code, out = cognitionos(cli_env, "schedules", "trigger", schedule["id"])
    assert code == 0 and "Check Lille for 2 days" in out, out
    code, out = cognitionos(cli_env, "schedules", "runs", schedule["id"])
    assert code == 0 and "triggered" in out
    assert cognitionos(cli_env, "schedules", "pause", schedule["id"])[0] == 0
    code, out = cognitionos(cli_env, "schedules", "list")
    assert code == 0 and "paused" in out and "0 9 * * 1-5" in out
    code, out = cognitionos(cli_env, "schedules", "create", "bad", "--template", template["id"], "--cron", "9 9 9")
    assert code == 2 and "five fields" in out

    code, out = cognitionos(cli_env, "webhooks", "create", "http://127.0.0.1:9/hook", "-e", "run.succeeded", "--json")
    assert code == 0, out
    hook = json.loads(out)
    assert hook["secret"].startswith("whsec_")
    code, out = cognitionos(cli_env, "webhooks", "ping", hook["id"])
    assert code == 0, out
    code, out = cognitionos(cli_env, "webhooks", "deliveries", hook["id"])
    assert code == 0 and "webhook.ping" in out and "pending" in out
    delivery = out.split()[0]
    code, out = cognitionos(cli_env, "webhooks", "redeliver", hook["id"], delivery)
    assert code == 0 and "queued again" in out
    code, out = cognitionos(cli_env, "webhooks", "list")
    assert code == 0 and hook["secret"] not in out and "run.succeeded" in out
    code, out = cognitionos(cli_env, "webhooks", "create", "http://10.1.2.3/hook", "-e", "run.failed")
    assert code == 2 and "not a public address" in out
    for kind, made in (("webhooks", hook), ("schedules", schedule), ("templates", template)):
        assert cognitionos(cli_env, kind, "delete", made["id"])[0] == 0
