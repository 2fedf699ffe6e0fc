"""Webhooks: deliveries written with the event that causes them (an outbox), sent signed per the Standard Webhooks
specification, retried with backoff until delivered or dead; refused for private addresses; secrets shown once."""

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook as Verifier

from services.agent_orchestrator.config import OrchestratorSettings
from services.agent_orchestrator.main import create_app
from tests.support import ThreadedServer, assert_error, eventually, free_port, serving, settings_environment
from tests.support.automation import Automation
from tests.support.platform import Platform, RunsClient, task
from tests.support.users import make_user, signed_client
from tests.support.webhook_receiver import Receiver, webhook_receiver

ROOT = Path(__file__).parents[2]


def dispatching(platform: Platform, **overrides: Any) -> OrchestratorSettings:
    """An orchestrator that sends deliveries at once and retries fast (its worker idle: the suite's runs runs)."""
    values: dict[str, Any] = {
        "webhooks_enabled": True,
        "worker_enabled": False,
        "webhook_poll_seconds": 0.05,
        "webhook_backoff_base_seconds": 0.01,
        "webhook_backoff_max_seconds": 0.05,
        "webhook_max_attempts": 3,
        **overrides,
    }
    return platform.orchestrator_settings(**values)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as running:
        yield running


@pytest.fixture
def dispatcher(platform: Platform) -> Iterator[ThreadedServer]:
    with serving(create_app(dispatching(platform))) as server:
        yield server


def subscribe(automation: Automation, url: str, *types: str) -> dict[str, Any]:
    return automation.post("/webhooks", {"url": url, "event_types": list(types or ["run.succeeded"])})


def deliveries(automation: Automation, hook: dict[str, Any]) -> list[dict[str, Any]]:
    return list(automation.get(f"/webhooks/{hook['id']}/deliveries")["items"])


def one_delivery(automation: Automation, hook: dict[str, Any], status: str) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        found = deliveries(automation, hook)
        return found[0] if len(found) == 1 and found[0]["status"] == status else None

    return eventually(reached, failure=lambda: str(deliveries(automation, hook)))


def run_once(automation: Automation, runs: RunsClient) -> dict[str, Any]:
    """A template's run (one noop task, no LLM call), finished."""
    template = automation.template()
    started = automation.post(f"/templates/{template['id']}/runs", {}, status=202)
    done = runs.wait(started["id"])
    assert done["status"] == "succeeded", done
    return done


def verified(receiver: Receiver, secret: str, index: int = 0) -> dict[str, Any]:
    """The standardwebhooks library checks the received message's signature, as a receiver would."""
    message = receiver.received[index]
    payload: dict[str, Any] = Verifier(secret).verify(message.body, message.headers)
    return payload


def test_a_receiver_gets_run_succeeded_once_signed(
    automation: Automation, runs: RunsClient, receiver: Receiver, dispatcher: ThreadedServer
) -> None:
    hook = subscribe(automation, receiver.url, "run.succeeded", "run.failed")
    run = run_once(automation, runs)
    delivered = one_delivery(automation, hook, "delivered")
    assert delivered["attempts"] == 1 and delivered["last_status_code"] == 200
    payload = verified(receiver, hook["secret"])
    assert payload["type"] == "run.succeeded" and payload["data"]["run_id"] == run["id"]
    assert (
        len(receiver.received) == 1
        and receiver.received[0].headers["webhook-id"] == f"msg_{delivered['id'].replace('-', '')}"
    )
    with pytest.raises(Exception, match="signature"):
        Verifier("whsec_" + "A" * 32).verify(receiver.received[0].body, receiver.received[0].headers)


def test_500_twice_then_200_is_delivered_on_the_third_attempt(
    automation: Automation, runs: RunsClient, receiver: Receiver, dispatcher: ThreadedServer
) -> None:
    hook = subscribe(automation, receiver.answer(500, 500).url)
    run_once(automation, runs)
    delivered = one_delivery(automation, hook, "delivered")
    assert delivered["attempts"] == 3 and delivered["last_status_code"] == 200
    ids = {m.headers["webhook-id"] for m in receiver.received}
    assert len(receiver.received) == 3 and len(ids) == 1  # one message, sent three times
    verified(receiver, hook["secret"], 2)


def test_a_dead_receiver_is_marked_dead_and_redeliver_sends_it_again(
    automation: Automation, runs: RunsClient, receiver: Receiver, dispatcher: ThreadedServer
) -> None:
    hook = subscribe(automation, receiver.answer(503, 503, 503).url)
    run_once(automation, runs)
    dead = one_delivery(automation, hook, "dead")
    assert dead["attempts"] == 3 and dead["last_status_code"] == 503 and dead["last_error"] == "HTTP 503"
    again = automation.post(f"/webhooks/{hook['id']}/deliveries/{dead['id']}/redeliver", {}, status=202)
    assert again["status"] == "pending" and again["attempts"] == 0
    delivered = one_delivery(automation, hook, "delivered")
    assert delivered["id"] == dead["id"] and delivered["attempts"] == 1 and len(receiver.received) == 4


def test_a_refused_connection_is_retried_then_dead(
    automation: Automation, runs: RunsClient, dispatcher: ThreadedServer
) -> None:
    hook = subscribe(automation, f"http://127.0.0.1:{free_port()}/nobody")
    run_once(automation, runs)
    dead = one_delivery(automation, hook, "dead")
    assert dead["attempts"] == 3 and dead["last_status_code"] is None and "Connect" in dead["last_error"]


def test_a_test_ping_is_delivered_and_logged(
    automation: Automation, receiver: Receiver, dispatcher: ThreadedServer
) -> None:
    hook = subscribe(automation, receiver.url)
    ping = automation.post(f"/webhooks/{hook['id']}/ping", {}, status=202)
    assert ping["event_type"] == "webhook.ping"
    one_delivery(automation, hook, "delivered")
    assert verified(receiver, hook["secret"])["type"] == "webhook.ping"


def test_a_run_carries_a_one_off_webhook(
    automation: Automation, runs: RunsClient, receiver: Receiver, dispatcher: ThreadedServer
) -> None:
    template = automation.template()
    started = automation.post(f"/templates/{template['id']}/runs", {"webhook": receiver.url}, status=202)
    secret = started["webhook_secret"]
    assert secret.startswith("whsec_") and started["webhook_url"] == receiver.url
    runs.wait(started["id"])
    eventually(lambda: receiver.received)
    assert verified(receiver, secret)["data"]["run_id"] == started["id"]
    assert runs.get(started["id"])["webhook_secret"] is None
    plain = runs.start(goal="A goal with a hook", webhook=f"http://127.0.0.1:{free_port()}/x")
    assert plain["webhook_secret"].startswith("whsec_")
    runs.http.post(runs.url(f"/runs/{plain['id']}/cancel"))


def test_a_killed_orchestrator_still_delivers_after_restart(
    automation: Automation, runs: RunsClient, receiver: Receiver, platform: Platform
) -> None:
    """The run ends; a dispatcher takes its delivery and is killed -9 while sending it; a restarted one sends it
    once its lease runs out, as the same message."""
    settings = dispatching(platform, webhook_timeout_seconds=1.0)
    env = {**os.environ, **settings_environment(settings)}
    command = [sys.executable, "-m", "uvicorn", "services.agent_orchestrator.main:create_app", "--factory"]
    hook = subscribe(automation, receiver.answer("hang").url)
    victim = subprocess.Popen([*command, "--port", str(free_port())], env=env, start_new_session=True)
    try:
        run_once(automation, runs)
        eventually(lambda: receiver.received, timeout=60)  # it is sending
    finally:
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait()
    assert deliveries(automation, hook)[0]["status"] == "pending"
    with serving(create_app(settings)):
        delivered = one_delivery(automation, hook, "delivered")
    assert delivered["attempts"] == 2 and len({m.headers["webhook-id"] for m in receiver.received}) == 1
    verified(receiver, hook["secret"], 1)


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.7/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:8080/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://192.168.1.1/hook",
        "ftp://example.com/hook",
    ],
)
def test_ssrf_a_private_address_webhook_is_refused(automation: Automation, runs: RunsClient, url: str) -> None:
    answer = automation.http.post(runs.url("/webhooks"), json={"url": url, "event_types": ["run.failed"]})
    assert_error(answer, 422)
    template = automation.template()
    one_off = automation.http.post(runs.url(f"/templates/{template['id']}/runs"), json={"webhook": url})
    assert_error(one_off, 422)


def test_the_secret_is_never_returned_after_creation(automation: Automation, runs: RunsClient) -> None:
    hook = subscribe(automation, "http://127.0.0.1:9/hook", "run.failed")
    secret = hook["secret"]
    assert secret.startswith("whsec_")
    url = runs.url(f"/webhooks/{hook['id']}")
    for answer in (
        automation.http.get(url),
        automation.http.get(runs.url("/webhooks")),
        automation.http.patch(url, json={"description": "changed"}),
        automation.http.post(f"{url}/ping"),
        automation.http.get(f"{url}/deliveries"),
    ):
        assert answer.is_success and secret not in answer.text and "secret_encrypted" not in answer.text
        assert json.loads(answer.text).get("secret") is None


def test_another_user_gets_404_on_every_webhook_route(automation: Automation, platform: Platform) -> None:
    hook = subscribe(automation, "http://127.0.0.1:9/hook", "run.failed")
    delivery = automation.post(f"/webhooks/{hook['id']}/ping", {}, status=202)
    with signed_client(make_user(platform.database_url)) as stranger:
        base = automation.runs.url(f"/webhooks/{hook['id']}")
        for answer in (
            stranger.get(base),
            stranger.patch(base, json={"enabled": False}),
            stranger.delete(base),
            stranger.get(f"{base}/deliveries"),
            stranger.post(f"{base}/deliveries/{delivery['id']}/redeliver"),
            stranger.post(f"{base}/ping"),
        ):
            assert_error(answer, 404, "webhook_not_found")


def test_the_documented_receiver_verifies_and_prints_each_event_once(
    automation: Automation, runs: RunsClient, dispatcher: ThreadedServer, tmp_path: Path
) -> None:
    """examples/webhook_receiver.py, run as docs/automation.md says: a signed delivery is printed; a forged one 401."""
    port = free_port()
    hook = subscribe(automation, f"http://127.0.0.1:{port}/", "run.succeeded")
    env = {**os.environ, "COGNITIONOS_WEBHOOK_SECRET": hook["secret"]}
    out, err = tmp_path / "out", tmp_path / "err"
    with out.open("w") as stdout, err.open("w") as stderr:
        receiver = subprocess.Popen(
            [sys.executable, str(ROOT / "examples" / "webhook_receiver.py"), str(port)],
            env=env,
            stdout=stdout,
            stderr=stderr,
        )
        try:
            eventually(lambda: "listening" in out.read_text())
            run = run_once(automation, runs)
            one_delivery(automation, hook, "delivered")
            forged = httpx.post(
                f"http://127.0.0.1:{port}/",
                content=b'{"type": "run.succeeded"}',
                headers={"webhook-id": "msg_x", "webhook-timestamp": "1", "webhook-signature": "v1,Zm9yZ2Vk"},
            )
            assert forged.status_code == 401
        finally:
            receiver.terminate()
            receiver.wait()
    [line] = out.read_text().splitlines()[1:]
    kind, message_id, data = line.split(" ", 2)
    assert kind == "run.succeeded" and message_id.startswith("msg_") and json.loads(data)["run_id"] == run["id"]
    assert "refused" in err.read_text()


def test_a_run_waiting_for_a_person_and_its_cancellation_are_told(automation: Automation, runs: RunsClient) -> None:
    asking = task("ask", tool="ask_user", inputs={"question": "Which city?"})
    gated = task("fetch", tool="http_request", inputs={"url": "https://example.com/", "method": "GET"})
    template = automation.template(plan=[asking, gated], require_approval=["http_request"])
    hook = subscribe(automation, "http://127.0.0.1:9/hook", "run.waiting", "approval.requested", "run.cancelled")
    muted = subscribe(automation, "http://127.0.0.1:9/muted", "run.waiting")
    assert automation.http.patch(runs.url(f"/webhooks/{muted['id']}"), json={"enabled": False}).is_success
    started = automation.post(f"/templates/{template['id']}/runs", {}, status=202)
    runs.wait(started["id"], until=lambda r: r["status"] == "waiting")

    def told() -> list[str]:
        return sorted(d["event_type"] for d in deliveries(automation, hook))

    eventually(lambda: told() == ["approval.requested", "run.waiting", "run.waiting"], failure=lambda: str(told()))
    assert runs.http.post(runs.url(f"/runs/{started['id']}/cancel")).is_success
    eventually(lambda: "run.cancelled" in told())
    assert all(d["payload"]["run_id"] == started["id"] for d in deliveries(automation, hook))
    assert deliveries(automation, muted) == []
