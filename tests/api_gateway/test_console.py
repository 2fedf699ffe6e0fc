"""The web console in a real browser: headless Debian Chromium driven by Playwright, against the gateway in front of
every real service (the fake OpenAI wire server behind the ai-runtime). It signs in, starts a run and watches it reach
`succeeded` live, searches a stored memory, creates and revokes an API key, and saves screenshots.

Screenshots go to the test's own folder; with COGNITIONOS_SCREENSHOTS=docs/screenshots they refresh the README's.
"""

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import get_args

import httpx
import pytest
from redis import Redis

from services.api_gateway.console import ASSETS
from shared.contracts.memory import MemoryType
from shared.redis import run_model_progress_key
from tests.support import ThreadedServer, eventually
from tests.support.platform import CallTools, RoleScript, script_fibonacci_run, script_silent_run, task
from tests.support.users import RegisteredUser, register_and_login

CHROMIUM = "/usr/bin/chromium"
# As the machines here need it: no background connections (this network refuses them), no GPU, no first-run UI.
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _browser_unavailable() -> str | None:
    if not Path(CHROMIUM).exists():
        return "Debian's chromium is not installed (scripts/test.sh installs it when run as root)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    return None


pytestmark = pytest.mark.skipif(bool(_browser_unavailable()), reason=_browser_unavailable() or "")


def expect(locator):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("COGNITIONOS_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def console_user(platform_gateway: ThreadedServer, unique: str) -> RegisteredUser:
    with httpx.Client(base_url=platform_gateway.url, timeout=30) as client:
        return register_and_login(client, unique)


class Dialogs:
    """Answers the console's confirmations (accepted unless told otherwise) and remembers what they asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.accept = True

    def __call__(self, dialog) -> None:  # type: ignore[no-untyped-def]
        self.asked.append(dialog.message)
        if self.accept:
            dialog.accept()
        else:
            dialog.dismiss()


@pytest.fixture
def dialogs() -> Dialogs:
    return Dialogs()


def signed_in_page(browser, base_url: str, user: RegisteredUser, *, width: int = 1280, dialogs: Dialogs | None = None):  # type: ignore[no-untyped-def]
    """A fresh browser context at `width` px, signed in through the console's own form; page errors are kept in
    `page.errors`."""
    context = browser.new_context(viewport={"width": width, "height": 860}, base_url=base_url)
    signed_in = context.new_page()
    signed_in.errors = []
    signed_in.on("pageerror", lambda error: signed_in.errors.append(str(error)))
    # The browser's own line for a 4xx answer is not a console error: the pages that expect one assert it.
    signed_in.on(
        "console",
        lambda m: (
            signed_in.errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    signed_in.on("dialog", dialogs or Dialogs())
    signed_in.goto("/")
    signed_in.fill("input[name=username]", user.username)
    signed_in.fill("input[name=password]", user.password)
    signed_in.click("#sign-in")
    signed_in.wait_for_selector("#start-run")
    return signed_in


@pytest.fixture
def page(browser, platform_gateway: ThreadedServer, console_user: RegisteredUser, dialogs: Dialogs) -> Iterator[object]:  # type: ignore[no-untyped-def]
    signed_in = signed_in_page(browser, platform_gateway.url, console_user, dialogs=dialogs)
    yield signed_in
    signed_in.context.close()
    assert not signed_in.errors, signed_in.errors


def test_the_console_is_served_by_the_gateway_with_a_strict_policy_and_no_cdn(platform_gateway: ThreadedServer) -> None:
    page = httpx.get(f"{platform_gateway.url}/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "connect-src 'self'" in policy
    for name, body in ASSETS.items():
        text = body.decode()
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text, name
    assert sum(len(body) for body in ASSETS.values()) < 200 * 1024  # first load, everything included
    assert httpx.get(f"{platform_gateway.url}/console/../main.py").status_code == 404
    assert httpx.get(f"{platform_gateway.url}/console/secrets.env").status_code == 404


def test_sign_in_is_refused_with_a_wrong_password(browser, platform_gateway: ThreadedServer, console_user) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=platform_gateway.url)
    page = context.new_page()
    page.goto("/")
    page.fill("input[name=username]", console_user.username)
    page.fill("input[name=password]", "not-the-password")
    page.click("#sign-in")
    page.wait_for_selector("#login-error:not(:empty)")
    assert page.locator("#nav").is_hidden()
    context.close()


def test_a_run_started_from_the_console_reaches_succeeded_live(page, script: RoleScript, screenshots: Path) -> None:  # type: ignore[no-untyped-def]
    script_fibonacci_run(script)
    page.fill("textarea[name=goal]", "Write and test a Fibonacci function")
    page.click("#start-run button[type=submit]")
    page.wait_for_selector("#dag svg")
    # the page follows the run over its event stream: no reload, the badge turns to succeeded by itself
    page.wait_for_selector("h1 + .badge[data-status=succeeded]", timeout=60_000)
    page.wait_for_selector("#dag .node[data-task=test][data-status=succeeded]")
    assert page.locator("#run-summary").inner_text().startswith("fib(0..10)")
    assert page.locator("#timeline li").count() >= 5
    page.click("#dag .node[data-task=test]")
    page.wait_for_selector("#task-detail .sandbox-output")
    assert "[0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55]" in page.locator("#task-detail .sandbox-output").inner_text()
    assert "gpt-4o-mini" in page.locator("#task-detail").inner_text()  # the step's LLM call, with its model
    page.click("#task-detail .llm-text summary")  # and what it was asked and answered
    assert "def fib(n): ..." in page.locator("#task-detail .llm-prompt").first.inner_text()
    assert page.locator("#task-detail .llm-completion").first.inner_text().strip()
    assert page.locator("#task-facts").inner_text().endswith(" s")  # how long the task took
    assert not page.locator("#cancel-run").count()
    page.screenshot(path=str(screenshots / "console-run.png"), full_page=True)
    page.goto("/#/runs")
    page.wait_for_selector("#runs .badge[data-status=succeeded]")
    page.goto("/#/spend")
    page.wait_for_selector("#spend-by-model svg")
    assert "gpt-4o-mini" in page.locator("#spend-by-model").inner_text()
    page.screenshot(path=str(screenshots / "console-spend.png"), full_page=True)


def test_a_run_with_a_step_silent_longer_than_the_keepalive_reaches_succeeded_live(  # type: ignore[no-untyped-def]
    page, script: RoleScript, redis_url: str
) -> None:
    script_silent_run(script, seconds=8)  # long enough to see what is said while it is silent
    page.fill("textarea[name=goal]", "Take a nap, then say so")
    page.click("#start-run button[type=submit]")
    page.wait_for_url("**/#/runs/*")
    run_id = page.url.rsplit("/", 1)[1]
    # What the ai-runtime says while the run's call waits in the embedded model's lane (tests/ai_runtime shows it).
    said = {"state": "waiting", "ahead": 2, "tokens": 0, "role": "executor", "task_id": None}
    with Redis.from_url(redis_url) as redis:
        redis.set(run_model_progress_key(run_id), json.dumps(said), ex=60)
    expect(page.locator("#model-progress")).to_have_text("executor: waiting for the model, 2 ahead", timeout=10_000)
    page.wait_for_selector("h1 + .badge[data-status=succeeded]", timeout=60_000)
    assert page.locator("#run-summary").inner_text().startswith("Napped and woke up.")


def test_memory_search_finds_a_stored_memory_and_deletes_it(  # type: ignore[no-untyped-def]
    page, platform_gateway: ThreadedServer, console_user: RegisteredUser, screenshots: Path
) -> None:
    with httpx.Client(base_url=platform_gateway.url, headers=console_user.headers, timeout=30) as client:
        for content in ("The user prefers dark roast coffee", "Deployments happen on Tuesdays"):
            stored = client.post("/api/v1/memories", json={"content": content, "memory_type": "preference"})
            assert stored.status_code == 201, stored.text
    page.goto("/#/memory")
    # the filters offer what the API publishes, not a copy
    expect(page.locator("select[name=memory_type] option")).to_have_count(len(get_args(MemoryType)) + 1)
    options = page.evaluate("[...document.querySelectorAll('select[name=memory_type] option')].map(o => o.value)")
    assert options == ["", *get_args(MemoryType)]
    page.fill("input[name=query]", "what coffee does the user like")
    page.select_option("select[name=mode]", "hybrid")
    page.click("#memory-search button[type=submit]")
    # the list first shown (newest first) gives way to the search's ranking: the coffee preference comes first
    first = page.locator("#memories tr[data-memory]").first
    expect(first).to_contain_text("dark roast", timeout=15_000)
    assert first.locator("td").nth(3).inner_text() != "—"  # with its score
    page.screenshot(path=str(screenshots / "console-memory.png"), full_page=True)
    first.locator("button.danger").click()
    page.wait_for_selector("#toast:has-text('Memory deleted')")
    page.fill("input[name=query]", "")
    page.click("#memory-search button[type=submit]")
    expect(page.locator("#memories tr[data-memory]")).to_have_count(1)


def test_an_api_key_is_created_with_limits_shown_once_and_revoked(  # type: ignore[no-untyped-def]
    page, platform_gateway: ThreadedServer, dialogs: Dialogs
) -> None:
    page.goto("/#/keys")
    page.fill("#create-key input[name=name]", "console-test")
    page.fill("#create-key input[name=max_budget_usd]", "5")
    page.fill("#create-key input[name=rpm_limit]", "60")
    page.fill("#create-key input[name=allowed_models]", "gpt-4o-mini, smollm2-135m-instruct")
    page.fill("#create-key input[name=scopes]", "runs:read memories:*")
    page.click("#create-key button[type=submit]")
    key = page.locator("#new-key").inner_text()
    assert key.startswith("cos_")
    me = httpx.get(f"{platform_gateway.url}/api/v1/auth/me", headers={"X-API-Key": key})
    assert me.status_code == 200
    store = httpx.post(f"{platform_gateway.url}/api/v1/files", headers={"X-API-Key": key}, files={"file": ("a", b"a")})
    assert store.status_code == 403 and store.json()["error"]["code"] == "insufficient_scope"
    row = page.locator("#keys tr[data-key=console-test]")
    expect(row.locator(".limits")).to_have_text(
        "$5.00 cap · 60 requests/min · gpt-4o-mini, smollm2-135m-instruct · scopes: runs:read memories:*"
    )
    dialogs.accept = False  # thought better of it: nothing happens
    row.locator("button.danger").click()
    assert dialogs.asked[-1].startswith("Revoke this key?") and row.locator("button.danger").count() == 1
    dialogs.accept = True
    row.locator("button.danger").click()
    page.wait_for_selector("#keys tr[data-key=console-test] .badge[data-status=revoked]")
    assert httpx.get(f"{platform_gateway.url}/api/v1/auth/me", headers={"X-API-Key": key}).status_code == 401
    page.goto("/#/runs")
    page.wait_for_selector("#start-run")
    page.goto("/#/keys")
    page.wait_for_selector("#keys tr[data-key=console-test]")
    assert key not in page.content() and page.locator("#new-key").count() == 0  # shown once: never again


def test_health_shows_every_service_and_its_circuit(page) -> None:  # type: ignore[no-untyped-def]
    page.goto("/#/health")
    page.wait_for_selector("#services tr[data-service]")
    services = page.locator("#services tr[data-service]")
    assert services.count() == 6
    assert page.locator("#services tr[data-service=memory-service] .badge[data-status=ok]").count() == 1
    assert page.locator("#services tr[data-service=memory-service] .badge[data-status=closed]").count() == 1
    page.wait_for_selector("#providers")
    assert "openai" in page.locator("#providers").inner_text()


def test_a_running_run_is_cancelled_from_its_page(page, script: RoleScript) -> None:  # type: ignore[no-untyped-def]
    script.add(
        "planner",
        {
            "tasks": [task("wait", tool="execute_python", inputs={"code": "import time; time.sleep(30)"})],
            "risks": [],
        },
    )
    page.fill("textarea[name=goal]", "Wait for a long time")
    page.click("#start-run button[type=submit]")
    page.wait_for_selector("#dag .node[data-task=wait][data-status=running]", timeout=30_000)
    page.click("#cancel-run")
    page.wait_for_selector("h1 + .badge[data-status=cancelled]", timeout=30_000)


def test_a_held_call_is_edited_and_approved_from_the_inbox_then_the_run_is_retried(  # type: ignore[no-untyped-def]
    page, platform_gateway: ThreadedServer, console_user: RegisteredUser, script: RoleScript, screenshots: Path
) -> None:
    code = "# the agent's code\nprint('asked for', 6 * 7)"
    script.add("planner", {"tasks": [task("code", tool="execute_python", inputs={"code": code})], "risks": []})
    with httpx.Client(base_url=platform_gateway.url, headers=console_user.headers, timeout=30) as client:
        run = client.post("/api/v1/runs", json={"goal": "Compute, once I agree", "require_approval": "all"}).json()
    page.goto(f"/#/runs/{run['id']}")
    page.wait_for_selector("h1 + .badge[data-status=waiting]", timeout=30_000)
    page.click("#run-waiting a")
    card = page.locator(".approval").first
    card.wait_for()
    assert card.locator("pre.code .tok-comment").inner_text() == "# the agent's code"
    assert card.locator("pre.code .tok-string").first.inner_text() == "'asked for'"
    page.screenshot(path=str(screenshots / "console-approvals.png"), full_page=True)
    card.locator("button.edit").click()
    card.locator("textarea[name=parameters]").fill('{"code": "print(\\"edited\\")"}')
    card.locator("button.edit").click()
    page.wait_for_selector("text=Nothing waits for you.")
    page.goto(f"/#/runs/{run['id']}")
    page.wait_for_selector("h1 + .badge[data-status=succeeded]", timeout=60_000)
    page.click("#dag .node[data-task=code]")
    expect(page.locator("#task-detail")).to_contain_text("edited")
    page.click("#retry-from-task")
    page.wait_for_selector("#run-parent")
    assert run["id"] in page.locator("#run-parent").inner_text()
    page.wait_for_selector("h1 + .badge[data-status=waiting]", timeout=30_000)  # the retry asks again
    page.goto("/#/approvals")
    page.locator(".approval button.reject").first.click()
    page.wait_for_selector("text=Nothing waits for you.")


def test_a_question_a_run_asks_is_answered_from_the_inbox(  # type: ignore[no-untyped-def]
    page, platform_gateway: ThreadedServer, console_user: RegisteredUser, script: RoleScript
) -> None:
    asking = task("city", tool="ask_user", inputs={"question": "Which city?"})
    script.add("planner", {"tasks": [asking], "risks": []})
    with httpx.Client(base_url=platform_gateway.url, headers=console_user.headers, timeout=30) as client:
        run = client.post("/api/v1/runs", json={"goal": "Ask me which city"}).json()
        eventually(lambda: client.get(f"/api/v1/runs/{run['id']}").json()["status"] == "waiting")
    page.goto("/#/approvals")
    page.wait_for_selector(".question .question-text", timeout=30_000)
    assert page.locator(".question .question-text").inner_text() == "Which city?"
    page.fill(".question input[name=answer]", "Lisbon")
    page.click(".question button[type=submit]")
    page.wait_for_selector("text=Nothing waits for you.")
    page.goto(f"/#/runs/{run['id']}")
    page.wait_for_selector("h1 + .badge[data-status=succeeded]", timeout=60_000)


def test_a_conversations_held_call_approved_in_the_inbox_continues_the_chat(  # type: ignore[no-untyped-def]
    page, platform_gateway: ThreadedServer, console_user: RegisteredUser, script: RoleScript
) -> None:
    script.add("assistant", CallTools([("execute_python", {"code": "print(5)"})]), "Five it is.")
    with httpx.Client(base_url=platform_gateway.url, headers=console_user.headers, timeout=30) as client:
        conversation = client.post("/api/v1/conversations", json={}).json()
        held = client.post(
            f"/api/v1/conversations/{conversation['id']}/messages",
            json={"content": "Print five", "require_approval": ["execute_python"]},
        ).json()
        assert len(held["approvals"]) == 1
        page.goto("/#/approvals")
        card = page.locator(".approval").first
        card.wait_for()
        assert card.locator("a").first.inner_text() == "the conversation"
        card.locator("button.approve").click()
        page.wait_for_selector("text=Nothing waits for you.")
        messages = client.get(f"/api/v1/conversations/{conversation['id']}/messages").json()["items"]
    assert [m["role"] for m in messages][-2:] == ["tool", "assistant"] and messages[-1]["content"] == "Five it is."


def test_an_admin_sees_every_users_spend_and_sets_a_budget(  # type: ignore[no-untyped-def]
    browser, platform_gateway: ThreadedServer, console_user: RegisteredUser, admin_headers: dict[str, str]
) -> None:
    from tests.support.settings import ADMIN_PASSWORD

    context = browser.new_context(base_url=platform_gateway.url)
    page = context.new_page()
    page.goto("/")
    page.fill("input[name=username]", "root_admin")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("#sign-in")
    page.wait_for_selector("#start-run")
    page.goto("/#/spend")
    page.wait_for_selector("#admin-spend")
    page.fill("#admin-spend input[name=user_id]", console_user.id)
    page.fill("#admin-spend input[name=daily_usd]", "3.5")
    page.click("#admin-spend button[type=submit]")
    page.wait_for_selector("#toast:has-text('Budget saved')")
    context.close()
    budget = httpx.get(f"{platform_gateway.url}/api/v1/ai/budget", headers=console_user.headers).json()
    assert float(budget["daily_usd"]) == 3.5


def test_a_user_does_not_see_the_admin_view(page) -> None:  # type: ignore[no-untyped-def]
    page.goto("/#/spend")
    page.wait_for_selector("#budget")
    assert page.locator("#admin-spend").count() == 0


def test_the_api_docs_render_offline_in_the_browser(browser, platform_gateway: ThreadedServer) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=platform_gateway.url)
    page = context.new_page()
    outside: list[str] = []
    page.on(
        "request", lambda request: None if request.url.startswith(platform_gateway.url) else outside.append(request.url)
    )
    page.goto("/docs")
    page.wait_for_selector(".swagger-ui .opblock-summary-path[data-path='/api/v1/memories']", timeout=30_000)
    context.close()
    assert not outside


def test_a_conversation_streams_in_the_console(page, script: RoleScript, screenshots: Path) -> None:  # type: ignore[no-untyped-def]
    script.add("assistant", "Green tea suits a quiet afternoon.")
    page.goto("/#/chat")
    page.click("#new-conversation")
    page.wait_for_selector("#chat-form")
    page.fill("#chat-form textarea", "What should I drink this afternoon?")
    page.click("#chat-form button[type=submit]")
    page.wait_for_selector("#turn-cost")
    replies = page.locator("#chat-log .bubble[data-role=assistant] .content")
    expect(replies.last).to_have_text("Green tea suits a quiet afternoon.")
    assert page.locator("#chat-log .bubble[data-role=user]").count() == 1
    page.screenshot(path=str(screenshots / "console-chat.png"), full_page=True)
    page.reload()  # stored: the conversation reads the same from the server
    expect(page.locator("#chat-log .bubble[data-role=assistant] .content").last).to_have_text(
        "Green tea suits a quiet afternoon."
    )


LONG_OUTPUT = "x" * 20_000  # one unbroken 20 kB word


@pytest.mark.parametrize("width", [390, 1280])
def test_no_page_scrolls_sideways_even_with_a_long_output_expanded(  # type: ignore[no-untyped-def]
    browser, platform_gateway: ThreadedServer, console_user: RegisteredUser, script: RoleScript, width: int
) -> None:
    script.add("planner", {"tasks": [task("long", tool="noop", inputs={"blob": LONG_OUTPUT})], "risks": []})
    with httpx.Client(base_url=platform_gateway.url, headers=console_user.headers, timeout=30) as client:
        run = client.post("/api/v1/runs", json={"goal": "Say something very long"}).json()
    page = signed_in_page(browser, platform_gateway.url, console_user, width=width)
    fits = "document.documentElement.scrollWidth <= window.innerWidth"
    page.goto(f"/#/runs/{run['id']}")
    page.wait_for_selector("h1 + .badge[data-status=succeeded]", timeout=60_000)
    page.click("#dag .node[data-task=long]")
    page.click("#task-detail details summary")
    expect(page.locator("#task-detail details pre")).to_contain_text(LONG_OUTPUT[:100])
    assert page.evaluate(fits), page.evaluate("document.documentElement.scrollWidth")
    for hash_ in (
        "#/runs",
        "#/approvals",
        "#/chat",
        "#/templates",
        "#/schedules",
        "#/webhooks",
        "#/memory",
        "#/spend",
        "#/keys",
        "#/health",
        "#/no-such-page",
    ):
        page.goto(f"/{hash_}")
        page.wait_for_selector("main h1")
        assert page.evaluate(fits), (hash_, page.evaluate("document.documentElement.scrollWidth"))
    page.context.close()
    assert not page.errors, page.errors


def test_sign_up_then_sign_in_from_the_console(browser, platform_gateway: ThreadedServer, unique: str) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=platform_gateway.url)
    page = context.new_page()
    page.goto("/")
    page.click("#to-sign-up")
    page.fill("#sign-up input[name=username]", f"newcomer_{unique}")
    page.fill("#sign-up input[name=email]", f"newcomer_{unique}@example.com")
    page.fill("#sign-up input[name=password]", "a-long-enough-password")
    page.click("#create-account")
    page.wait_for_selector("#start-run")
    assert page.locator("#who").inner_text() == f"newcomer_{unique} (user)"
    page.click("#sign-out")
    page.fill("input[name=username]", f"newcomer_{unique}")
    page.fill("input[name=password]", "a-long-enough-password")
    page.click("#sign-in")
    page.wait_for_selector("#start-run")
    context.close()


def test_a_deep_link_is_kept_through_sign_in(  # type: ignore[no-untyped-def]
    browser, platform_gateway: ThreadedServer, console_user: RegisteredUser, script: RoleScript
) -> None:
    script.add("planner", {"tasks": [task("only", tool="noop")], "risks": []})
    with httpx.Client(base_url=platform_gateway.url, headers=console_user.headers, timeout=30) as client:
        run = client.post("/api/v1/runs", json={"goal": "Be linked to"}).json()
    context = browser.new_context(base_url=platform_gateway.url)
    page = context.new_page()
    page.goto(f"/#/runs/{run['id']}")
    page.fill("input[name=username]", console_user.username)
    page.fill("input[name=password]", console_user.password)
    page.click("#sign-in")
    expect(page.locator("main h1").first).to_have_text("Be linked to")
    assert page.url.endswith(f"#/runs/{run['id']}")
    context.close()


def test_unknown_pages_and_missing_runs_say_not_found(page, platform_gateway: ThreadedServer) -> None:  # type: ignore[no-untyped-def]
    page.goto("/#/no-such-page")
    page.wait_for_selector("#not-found")
    page.goto(f"/#/runs/{uuid.uuid4()}")
    expect(page.locator("#not-found")).to_contain_text("No run")
    page.goto("/#/runs/not-a-run-id")
    page.wait_for_selector("#not-found")
    icon = httpx.get(f"{platform_gateway.url}/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"


def test_the_session_survives_a_new_tab_and_no_script_can_read_its_refresh_token(  # type: ignore[no-untyped-def]
    page, platform_gateway: ThreadedServer
) -> None:
    second = page.context.new_page()  # same browser, new tab: its sessionStorage starts empty
    second.goto("/#/keys")
    second.wait_for_selector("#create-key")  # signed in by the refresh cookie, no form
    assert "cos_refresh" not in second.evaluate("document.cookie")  # HttpOnly
    stored = second.evaluate("Object.keys(sessionStorage)")
    assert "cos.token" in stored and not any("refresh" in key for key in stored)
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "cos_refresh"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/api/v1/auth"
    # Another site can make a browser send the cookie, but not with the header the server asks for.
    ridden = httpx.post(f"{platform_gateway.url}/api/v1/auth/refresh", cookies={"cos_refresh": cookie["value"]})
    assert ridden.status_code == 401
    second.click("#sign-out")
    second.wait_for_selector("#sign-in")
    expect(second.locator("#sign-in")).to_be_visible()
    third = page.context.new_page()
    third.goto("/#/keys")
    third.wait_for_selector("#sign-in")  # signing out ended the session for every tab
    second.close()
    third.close()


def test_parallel_calls_with_an_expired_token_renew_it_once_and_keep_the_session(page) -> None:  # type: ignore[no-untyped-def]
    """Each of a page's parallel calls met the expired token and refreshed with the same refresh token, which the
    auth-service takes for a stolen token: it ended the whole session."""
    refreshes: list[str] = []
    page.on("request", lambda request: refreshes.append(request.url) if request.url.endswith("/auth/refresh") else None)
    page.evaluate("sessionStorage.setItem('cos.token', 'expired')")
    page.goto("/#/spend")  # three API calls at once
    page.wait_for_selector("#budget")
    assert len(refreshes) == 1
    page.goto("/#/keys")
    page.wait_for_selector("#create-key")  # the session goes on: nothing took the refresh for a stolen one


PIXEL_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


@pytest.mark.needs_sandbox
def test_a_runs_input_and_outputs_are_listed_previewed_and_downloaded(  # type: ignore[no-untyped-def]
    page, script: RoleScript, tmp_path: Path, screenshots: Path
) -> None:
    data = tmp_path / "cities.csv"
    data.write_text("city,temperature\nParis,21\nLyon,24\n")
    code = (
        "import base64, csv\nrows = list(csv.DictReader(open('/work/inputs/cities.csv')))\n"
        "with open('/work/outputs/hottest.csv', 'w') as f:\n"
        "    f.write('city,temperature\\n' + ''.join(f\"{r['city']},{r['temperature']}\\n\" for r in rows[::-1]))\n"
        f"open('/work/outputs/pixel.png', 'wb').write(base64.b64decode('{PIXEL_PNG}'))"
    )
    script.add("planner", {"tasks": [task("sort", tool="execute_python", inputs={"code": code})], "risks": []})
    page.fill("textarea[name=goal]", "Sort the cities by temperature")
    page.set_input_files("#run-files", str(data))
    page.click("#start-run button[type=submit]")
    page.wait_for_selector("h1 + .badge[data-status=succeeded]", timeout=60_000)
    page.wait_for_selector("#run-inputs li[data-name='cities.csv']")
    page.wait_for_selector("#run-artifacts li[data-name='hottest.csv']")
    csv_row = page.locator("#run-artifacts li[data-name='hottest.csv']")
    csv_row.locator("button.preview").click()
    page.wait_for_selector("#run-artifacts .csv-preview td")
    cells = csv_row.locator(".csv-preview td").all_inner_texts()
    assert cells == ["Lyon", "24", "Paris", "21"]
    image_row = page.locator("#run-artifacts li[data-name='pixel.png']")
    image_row.locator("button.preview").click()
    image = image_row.locator("img.file-image")
    image.wait_for()
    eventually(lambda: image.evaluate("img => img.complete && img.naturalWidth") == 1)
    with page.expect_download() as downloading:
        csv_row.locator("button.download").click()
    download = downloading.value
    assert download.suggested_filename == "hottest.csv"
    assert Path(download.path()).read_text() == "city,temperature\nLyon,24\nParis,21\n"
    page.screenshot(path=str(screenshots / "console-run-files.png"), full_page=True)


def test_a_template_is_run_scheduled_and_its_webhook_log_shown(page, screenshots: Path) -> None:  # type: ignore[no-untyped-def]
    page.goto("/#/templates")
    page.fill("#create-template input[name=name]", "console digest")
    page.fill("#create-template textarea[name=goal]", "Check {{city}} for {{days}} days")
    page.fill("#create-template input[name=parameters]", "city, days:integer=2")
    page.fill("#create-template textarea[name=plan]", json.dumps([task("check", tool="noop", name="Check {{city}}")]))
    page.click("#create-template button[type=submit]")
    row = page.locator("#templates tr[data-template='console digest']")
    row.wait_for()
    expect(row).to_contain_text("days: integer = 2")
    row.locator("input[name=values]").fill("city=Albi, days=5")
    row.locator("button.run-template").click()
    page.wait_for_selector("h1 + .badge[data-status=succeeded]", timeout=60_000)
    expect(page.locator("main")).to_contain_text("Check Albi for 5 days")

    page.goto("/#/schedules")
    page.fill("#create-schedule input[name=name]", "console weekday")
    page.fill("#create-schedule input[name=cron]", "0 9 * * 1-5")
    page.fill("#create-schedule input[name=timezone]", "Europe/Paris")
    page.fill("#create-schedule input[name=values]", "city=Pau")
    page.click("#create-schedule button[type=submit]")
    card = page.locator(".schedule[data-schedule='console weekday']")
    card.wait_for()
    expect(card.locator(".next-times")).to_contain_text("Next:")
    card.locator("button.trigger").click()
    page.wait_for_selector(".schedule[data-schedule='console weekday'] .schedule-events .badge[data-status=triggered]")
    page.locator(".schedule[data-schedule='console weekday'] button.pause").click()
    page.wait_for_selector(".schedule[data-schedule='console weekday'] h2 .badge[data-status=paused]")
    page.screenshot(path=str(screenshots / "console-schedules.png"), full_page=True)

    page.goto("/#/webhooks")
    page.fill("#create-webhook input[name=url]", "http://127.0.0.1:9/hook")
    page.click("#create-webhook button[type=submit]")
    expect(page.locator("#new-secret")).to_contain_text("whsec_")
    hook = page.locator(".webhook[data-webhook='http://127.0.0.1:9/hook']")
    hook.wait_for()
    hook.locator("button.ping").click()
    page.wait_for_selector(".webhook .deliveries tr[data-delivery] .badge[data-status=pending]")
    expect(page.locator(".webhook .deliveries")).to_contain_text("webhook.ping")
    page.reload()  # the secret was shown once: drawn again, the page has it nowhere
    page.wait_for_selector(".webhook .deliveries")
    assert "whsec_" not in page.content()


def test_an_admin_reads_the_audit_log_and_verifies_it(browser, platform_gateway: ThreadedServer, page) -> None:  # type: ignore[no-untyped-def]
    from tests.support.settings import ADMIN_PASSWORD

    page.goto("/#/audit")
    expect(page.locator("main")).to_contain_text("Only an admin reads the audit log")
    assert page.locator("#nav-audit").is_hidden()
    context = browser.new_context(base_url=platform_gateway.url)
    admin = context.new_page()
    admin.goto("/")
    admin.fill("input[name=username]", "root_admin")
    admin.fill("input[name=password]", ADMIN_PASSWORD)
    admin.click("#sign-in")
    admin.wait_for_selector("#start-run")
    admin.click("#nav-audit")
    admin.wait_for_selector("#audit-events")
    admin.fill("#audit-filter input[name=action]", "api_key.*")
    admin.click("#audit-filter button[type=submit]")
    admin.click("#verify-audit")
    expect(admin.locator("#audit-verify")).to_contain_text("intact")
    context.close()


def test_a_team_is_made_joined_and_managed_in_the_console(  # type: ignore[no-untyped-def]
    browser, platform_gateway: ThreadedServer, page, console_user: RegisteredUser, unique: str, screenshots: Path
) -> None:
    with httpx.Client(base_url=platform_gateway.url, timeout=30) as client:
        joiner = register_and_login(client, f"joiner_{unique}")
    page.click("nav a[href='#/teams']")
    page.fill("#create-team input[name=name]", f"console team {unique}")
    page.click("#create-team button[type=submit]")
    card = page.locator(f".team[data-team='console team {unique}']")
    card.wait_for()
    card.locator("form.invite input[name=username]").fill(joiner.username)
    card.locator("form.invite select[name=role]").select_option("viewer")
    card.locator("form.invite button[type=submit]").click()
    expect(page.locator("#toast")).to_contain_text("Invitation sent")

    other = signed_in_page(browser, platform_gateway.url, joiner, width=390)  # a phone
    other.click("nav a[href='#/teams']")
    other.locator(f".invitation[data-team='console team {unique}'] button.accept").click()
    joined = other.locator(f".team[data-team='console team {unique}']")
    joined.wait_for()
    expect(joined.locator("h2 .badge")).to_have_text("viewer")
    assert joined.locator("form.invite").count() == 0  # only owners invite
    assert other.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    other.screenshot(path=str(screenshots / "console-teams-phone.png"), full_page=True)
    assert not other.errors, other.errors
    other.context.close()

    page.reload()
    row = page.locator(f".team[data-team='console team {unique}'] tr[data-member='{joiner.username}']")
    row.wait_for()
    row.locator("select[name=member-role]").select_option("member")
    expect(page.locator("#toast")).to_contain_text("Role changed")
    page.goto("/#/keys")
    page.wait_for_selector("#create-key select[name=team_id]")
    page.fill("#create-key input[name=name]", "team key")
    page.locator("#create-key select[name=team_id]").select_option(label=f"team console team {unique} only")
    page.click("#create-key button[type=submit]")
    expect(page.locator("#new-key")).to_contain_text("cos_")
    expect(page.locator("main")).to_contain_text("team ")
