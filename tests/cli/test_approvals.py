"""`cognitionos approvals ...`, the y/n/e prompt of `cognitionos run`, and `cognitionos runs retry`, against the
real platform through the gateway."""

import io
import json

import pytest
from rich.console import Console
from typer.testing import CliRunner

from cognitionos_cli.deciding import ask
from cognitionos_cli.main import app
from cognitionos_sdk import CognitionOS
from cognitionos_sdk.types import Run
from tests.support import ThreadedServer
from tests.support.platform import CallTools, RoleScript, task

pytestmark = pytest.mark.needs_sandbox


def cognitionos(*args: str, key: str, url: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args, "--api-key", key], env={"API_GATEWAY_URL": url})
    return result.exit_code, result.output


def waiting(sdk: CognitionOS, script: RoleScript, code: str) -> tuple[Run, str]:
    """A run of one code task held for approval, and the approval's id."""
    script.add("planner", {"tasks": [task("code", tool="execute_python", inputs={"code": code})], "risks": []})
    run = sdk.runs.create("Compute it, once I say so", require_approval=["execute_python"])
    for event in sdk.runs.events(run.id, timeout=60):
        if event.event_type == "approval_requested":
            return run, str(event.data["approval_id"])
    raise AssertionError("the run ended without asking")


def test_approvals_are_listed_shown_and_approved_with_an_edit(
    platform_gateway: ThreadedServer, own_account: tuple[str, str], script: RoleScript
) -> None:
    _, key = own_account
    url = platform_gateway.url
    with CognitionOS(url, api_key=key) as sdk:
        run, approval_id = waiting(sdk, script, "print(2 + 2)")
        code, listed = cognitionos("approvals", "list", "--json", key=key, url=url)
        assert code == 0 and [a["id"] for a in json.loads(listed)] == [approval_id]
        code, shown = cognitionos("approvals", "show", approval_id, key=key, url=url)
        assert code == 0 and "execute_python waits for your approval" in shown and "print(2 + 2)" in shown
        code, _ = cognitionos("approvals", "approve", approval_id, "--parameters", "[1]", key=key, url=url)
        assert code == 2  # not an object: a usage error, nothing decided
        edit = json.dumps({"code": "print(2 + 3)"})
        code, output = cognitionos("approvals", "approve", approval_id, "--parameters", edit, key=key, url=url)
        assert code == 0 and output.strip() == f"approval {approval_id} approved"
        done = sdk.runs.wait(run.id, timeout=60)
        (ran,) = [t for t in done.tasks if t.task_key == "code"]
        assert done.status == "succeeded" and (ran.output or {}).get("result") == "5\n"
        code, again = cognitionos("approvals", "reject", approval_id, key=key, url=url)
        assert code == 1 and "approval_already_decided" in again


def test_the_terminal_prompt_approves_with_y_and_rejects_with_n(
    platform_gateway: ThreadedServer, own_account: tuple[str, str], script: RoleScript
) -> None:
    _, key = own_account
    with CognitionOS(platform_gateway.url, api_key=key) as sdk:
        for answer, status in (("y\n", "approved"), ("n\nnot today\n", "rejected")):
            run, approval_id = waiting(sdk, script, "print('asked')")
            out = io.StringIO()
            with CliRunner().isolation(input=answer):
                ask(sdk, approval_id, Console(file=out, width=100))
            decided = sdk.approvals.get(approval_id)
            assert decided.status == status and "print('asked')" in out.getvalue()
            sdk.runs.wait(run.id, timeout=60)
        assert decided.note == "not today"


def test_runs_retry_copies_what_succeeded_and_follows_the_new_run(
    platform_gateway: ThreadedServer, own_account: tuple[str, str], script: RoleScript
) -> None:
    _, key = own_account
    url = platform_gateway.url
    tasks = [
        task("first", tool="noop"),
        task("broken", tool="execute_python", inputs={"code": "1/0"}, depends_on=("first",), fallback_strategy="fail"),
    ]
    script.add("planner", {"tasks": tasks, "risks": []})
    with CognitionOS(url, api_key=key) as sdk:
        failed = sdk.runs.wait(sdk.runs.create("Fail once").id, timeout=60)
        assert failed.status == "failed"
        patch = 'broken={"code": "print(\\"mended\\")"}'
        code, output = cognitionos("runs", "retry", failed.id, "--patch", patch, key=key, url=url)
        assert code == 0, output
        assert f"(retry of {failed.id}; 2 tasks copied)" in output  # the plan and first and "mended" in output
        code, output = cognitionos("runs", "retry", failed.id, "--patch", "broken", key=key, url=url)
        assert code == 2 and "TASK=JSON-object" in output


def test_runs_answer_answers_the_question_a_run_asked(
    platform_gateway: ThreadedServer, own_account: tuple[str, str], script: RoleScript
) -> None:
    _, key = own_account
    url = platform_gateway.url
    asking = task("name", tool="ask_user", inputs={"question": "What should the file be called?"})
    script.add("planner", {"tasks": [asking], "risks": []})
    with CognitionOS(url, api_key=key) as sdk:
        run = sdk.runs.create("Ask me first")
        for event in sdk.runs.events(run.id, timeout=60):
            if event.event_type == "input_requested":
                break
        code, output = cognitionos("runs", "answer", run.id, "report.csv", key=key, url=url)
        assert code == 0 and output.strip() == "answered: What should the file be called?"
        done = sdk.runs.wait(run.id, timeout=60)
        (named,) = [t for t in done.tasks if t.task_key == "name"]
        assert (named.output or {}).get("result") == "report.csv"
        code, output = cognitionos("runs", "answer", run.id, "again", key=key, url=url)
        assert code == 1 and "no_question_pending" in output


def test_approving_a_conversations_call_continues_its_turn(
    platform_gateway: ThreadedServer, own_account: tuple[str, str], script: RoleScript
) -> None:
    _, key = own_account
    url = platform_gateway.url
    script.add("assistant", CallTools([("execute_python", {"code": "print(7)"})]), "Seven, as asked.")
    with CognitionOS(url, api_key=key) as sdk:
        conversation = sdk.conversations.create()
        held = sdk.conversations.send(conversation.id, "Print seven", require_approval=["execute_python"])
        (approval,) = held.approvals
        assert approval.conversation_id == conversation.id and held.text == ""
        code, output = cognitionos("approvals", "approve", approval.id, key=key, url=url)
        assert code == 0 and output.splitlines() == [f"approval {approval.id} approved", "assistant: Seven, as asked."]
        assert [m.role for m in sdk.conversations.messages(conversation.id)][-2:] == ["tool", "assistant"]
