"""The sync and async clients. Operations are built once (calls.py); these classes send them and read event streams."""

import asyncio
import os
import random
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Self, TypeVar
from urllib.parse import unquote

import httpx
from httpx_sse import ServerSentEvent, aconnect_sse, connect_sse

from cognitionos_sdk import calls
from cognitionos_sdk.calls import Call, eval_body
from cognitionos_sdk.errors import raise_for_error
from cognitionos_sdk.types import (
    ApiKey,
    Approval,
    AuditEvent,
    AuditVerification,
    Conversation,
    Eval,
    EvalComparison,
    File,
    Memory,
    MemoryImport,
    Message,
    ModelProgress,
    Organization,
    Page,
    Reply,
    Run,
    RunEvent,
    RunLineage,
    Schedule,
    ScheduleEvent,
    Team,
    TeamInvitation,
    TeamMember,
    Template,
    User,
    Webhook,
    WebhookDelivery,
)

T = TypeVar("T")
# Aliases: inside the resource classes `list` is their own method's name.
Names = list[str]
JsonList = list[dict[str, Any]]
Times = list[datetime]
Found = list[Memory]
Rows = list[dict[str, Any]]  # (a method named list shadows the builtin inside the resources)
Records = list[dict[str, Any]]
Organizations = list[Organization]
TeamList = list[Team]
Members = list[TeamMember]
Invitations = list[TeamInvitation]
DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_MAX_RETRIES = 2
RETRIED_STATUSES = frozenset({429, 503})  # "not now": the request was not acted on
MAX_RETRY_WAIT_SECONDS = 60.0
RECONNECT_SECONDS = 1.0


def _base_url(given: str | None) -> str:
    """COGNITIONOS_BASE_URL, as the openai client names its own; the CLI's COGNITIONOS_URL serves too."""
    environ = os.environ
    return (given or environ.get("COGNITIONOS_BASE_URL") or environ.get("COGNITIONOS_URL") or DEFAULT_URL).rstrip("/")


def _auth_headers(api_key: str | None, token: str | None) -> dict[str, str]:
    api_key = api_key or (None if token else os.environ.get("COGNITIONOS_API_KEY"))
    if api_key:
        return {"X-API-Key": api_key}
    return {"Authorization": f"Bearer {token}"} if token else {}


def _timeout(seconds: float) -> httpx.Timeout:
    return httpx.Timeout(seconds, connect=5.0)


def _retry_wait(response: httpx.Response, attempt: int) -> float:
    """The server's Retry-After when it gave one (capped), else exponential backoff with jitter, as the openai
    client does."""
    try:
        given = float(response.headers["retry-after"])
    except (KeyError, ValueError):
        return min(0.5 * 2**attempt, 8.0) * (0.75 + random.random() / 2)
    return min(max(given, 0.0), MAX_RETRY_WAIT_SECONDS)


def _is_keepalive(sse: ServerSentEvent) -> bool:
    """A comment line (`: keepalive`) with nothing else: httpx-sse hands it on as an event with empty data once an
    event id was seen. Never parsed."""
    return not sse.data


def _past(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline


def _wait_timeout(run_id: str, timeout: float | None) -> TimeoutError:
    return TimeoutError(f"run {run_id} did not end within {timeout} s; it goes on: follow it again with its id")


# --- sync ---------------------------------------------------------------------------------------------


class CognitionOS:
    """`CognitionOS(url, api_key=...)` or `CognitionOS(url).sign_in(username, password)`."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        token: str | None = None,
        timeout: float = 60.0,
        max_retries: int = DEFAULT_MAX_RETRIES,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """`base_url` and `api_key` default to COGNITIONOS_BASE_URL and COGNITIONOS_API_KEY; a 429 or 503 is retried
        up to `max_retries` times, after the server's Retry-After."""
        self.max_retries = max_retries
        self._http = httpx.Client(
            base_url=_base_url(base_url),
            headers=_auth_headers(api_key, token),
            timeout=_timeout(timeout),
            transport=transport,
        )
        self.runs = Runs(self)
        self.files = Files(self)
        self.templates = Templates(self)
        self.schedules = Schedules(self)
        self.webhooks = Webhooks(self)
        self.audit = Audit(self)
        self.teams = Teams(self)
        self.evals = Evals(self)
        self.approvals = Approvals(self)
        self.memories = Memories(self)
        self.conversations = Conversations(self)
        self.api_keys = ApiKeys(self)
        self.agents = Agents(self)
        self.plans = Plans(self)
        self.tools = Tools(self)
        self.ai = AI(self)
        self.account = Account(self)

    def send(self, call: Call[T]) -> T:
        for attempt in range(self.max_retries + 1):
            response = self._http.send(call.request(self._http))
            if response.status_code not in RETRIED_STATUSES or attempt == self.max_retries:
                break
            time.sleep(_retry_wait(response, attempt))
        return call.result(response)

    def send_page(self, make: Callable[[str | None], Call[Page[T]]], cursor: str | None) -> Page[T]:
        """One page of a list (`make` builds its call from a cursor); iterating it fetches the pages after it."""
        page = self.send(make(cursor))
        page._next_page = lambda after: self.send_page(make, after)
        return page

    def stream(
        self, method: str, path: str, *, json: Any = None, last_event_id: str | None = None
    ) -> Iterator[ServerSentEvent]:
        """Server-sent events as httpx-sse's ServerSentEvent (event, data, id); keepalive comments are skipped."""
        for sse in self._sse(method, path, json=json, last_event_id=last_event_id):
            if not _is_keepalive(sse):
                yield sse

    def _sse(
        self, method: str, path: str, *, json: Any = None, last_event_id: str | None = None
    ) -> Iterator[ServerSentEvent]:
        headers = {"Accept": "text/event-stream", **({"Last-Event-ID": last_event_id} if last_event_id else {})}
        with connect_sse(self._http, method, path, json=json, headers=headers, timeout=_timeout(3600)) as source:
            if not source.response.is_success:
                source.response.read()
                raise_for_error(source.response)
            yield from source.iter_sse()

    def sign_in(self, username: str, password: str) -> User:
        tokens = self.send(calls.login(username, password))
        self._http.headers.pop("X-API-Key", None)  # the gateway would take a key (COGNITIONOS_API_KEY) first
        self._http.headers["Authorization"] = f"Bearer {tokens['access_token']}"
        return self.me()

    def register(self, username: str, email: str, password: str) -> User:
        return self.send(calls.register(username, email, password))

    def me(self) -> User:
        return self.send(calls.me())

    def health(self) -> dict[str, Any]:
        return self.send(calls.health())

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class Runs:
    def __init__(self, client: CognitionOS) -> None:
        self._client = client

    def create(
        self,
        goal: str,
        *,
        budget_usd: float | None = None,
        max_tasks: int | None = None,
        idempotency_key: str | None = None,
        require_approval: list[str] | str | None = None,
        model: str | None = None,
        agent: str | None = None,
        files: list[str] | None = None,
        webhook: str | None = None,
    ) -> Run:
        """`require_approval`: tools whose calls wait for your decision (names, patterns, or "all"). `model`: every
        LLM call of the run uses it; `agent`: every executor task runs as that agent. `files`: ids of your uploaded
        files (`client.files.upload`), which the run's code reads at /work/inputs/<name>. `webhook`: a URL told when
        the run ends, signed with the answer's `webhook_secret`."""
        return self._client.send(
            calls.create_run(
                goal,
                budget_usd=budget_usd,
                max_tasks=max_tasks,
                idempotency_key=idempotency_key,
                require_approval=require_approval,
                model=model,
                agent=agent,
                files=files,
                webhook=webhook,
            )
        )

    def artifacts(self, run_id: str, *, cursor: str | None = None, limit: int = 50) -> Page[File]:
        """The files the run's code left in /work/outputs (download each with `client.files.download`)."""
        return self._client.send_page(lambda c: calls.run_artifacts(run_id, cursor=c, limit=limit), cursor)

    def get(self, run_id: str) -> Run:
        return self._client.send(calls.get_run(run_id))

    def list(self, *, cursor: str | None = None, limit: int = 50) -> Page[Run]:
        return self._client.send_page(lambda c: calls.list_runs(cursor=c, limit=limit), cursor)

    def cancel(self, run_id: str) -> Run:
        return self._client.send(calls.cancel_run(run_id))

    def retry(
        self,
        run_id: str,
        *,
        from_task: str | None = None,
        inputs_patch: dict[str, dict[str, Any]] | None = None,
        budget_usd: float | None = None,
    ) -> Run:
        """A new run that re-runs what did not succeed (and `from_task` with everything downstream); the tasks that
        succeeded are copied with their outputs, at no cost."""
        call = calls.retry_run(run_id, from_task=from_task, inputs_patch=inputs_patch, budget_usd=budget_usd)
        return self._client.send(call)

    def fork(
        self,
        run_id: str,
        *,
        from_task: str | None = None,
        inputs_patch: dict[str, dict[str, Any]] | None = None,
        budget_usd: float | None = None,
    ) -> Run:
        """As retry, from a finished run or one waiting for you, typically with `inputs_patch` per task key."""
        call = calls.fork_run(run_id, from_task=from_task, inputs_patch=inputs_patch, budget_usd=budget_usd)
        return self._client.send(call)

    def lineage(self, run_id: str) -> RunLineage:
        return self._client.send(calls.run_lineage(run_id))

    def approvals(self, run_id: str, *, cursor: str | None = None, limit: int = 50) -> Page[Approval]:
        return self._client.send_page(lambda c: calls.run_approvals(run_id, cursor=c, limit=limit), cursor)

    def answer(self, run_id: str, answer: str, *, approval_id: str | None = None) -> Approval:
        """Answers the question the run asked you (an `input_requested` event); the run goes on with it."""
        return self._client.send(calls.answer_run(run_id, answer=answer, approval_id=approval_id))

    def events(
        self,
        run_id: str,
        *,
        timeout: float | None = None,
        on_progress: Callable[[ModelProgress], None] | None = None,
    ) -> Iterator[RunEvent]:
        """The run's events, live, until it ends. A stream that drops (or ends early) is resumed after the last
        event seen (Last-Event-ID); keepalives are skipped. TimeoutError after `timeout` seconds, if given.
        `on_progress` is told how the run's call to the embedded model stands (waiting, tokens so far) between
        events."""
        deadline = None if timeout is None else time.monotonic() + timeout
        last: str | None = None
        while True:
            try:
                for sse in self._client._sse("GET", calls.run_events_path(run_id), last_event_id=last):
                    if _past(deadline):
                        raise _wait_timeout(run_id, timeout)
                    if _is_keepalive(sse):
                        continue
                    if sse.event == "end":
                        return
                    if sse.event == "progress":
                        if on_progress is not None:
                            on_progress(ModelProgress.model_validate_json(sse.data))
                        continue
                    last = sse.id or last
                    yield RunEvent.model_validate_json(sse.data)
            except httpx.TransportError:
                pass
            if _past(deadline):
                raise _wait_timeout(run_id, timeout)
            time.sleep(RECONNECT_SECONDS)

    def wait(
        self,
        run_id: str,
        *,
        timeout: float | None = None,
        on_progress: Callable[[ModelProgress], None] | None = None,
    ) -> Run:
        """The run once it has ended; TimeoutError after `timeout` seconds (the run goes on)."""
        for _ in self.events(run_id, timeout=timeout, on_progress=on_progress):
            pass
        return self.get(run_id)


class Files:
    """Your files: uploads, which runs read at /work/inputs (`runs.create(files=[...])`), and what runs' code left
    in /work/outputs (`runs.artifacts(run_id)`)."""

    def __init__(self, client: CognitionOS) -> None:
        self._client = client

    def upload(
        self, source: str | os.PathLike[str] | bytes, *, name: str | None = None, media_type: str | None = None
    ) -> File:
        """A path (streamed from disk) or bytes (then give `name`); the media type is guessed from the name."""
        if isinstance(source, bytes):
            return self._client.send(calls.upload_file(source, name=name or "file", media_type=media_type))
        with open(source, "rb") as stream:
            call = calls.upload_file(stream, name=name or Path(source).name, media_type=media_type)
            return self._client.send(call)

    def download(self, file_id: str, path: str | os.PathLike[str] | None = None) -> bytes | Path:
        """The file's bytes, or, given a `path`, streamed to it (a folder: the file's own name inside it)."""
        with self._client._http.stream("GET", calls.file_content_path(file_id)) as response:
            if not response.is_success:
                response.read()
                raise_for_error(response)
            if path is None:
                return response.read()
            target = _download_target(path, response)
            with open(target, "wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
            return target

    def get(self, file_id: str) -> File:
        return self._client.send(calls.get_file(file_id))

    def list(
        self, *, run_id: str | None = None, kind: str | None = None, cursor: str | None = None, limit: int = 50
    ) -> Page[File]:
        """Newest first; `kind`: "input" (uploads) or "output" (runs' artifacts)."""
        make = lambda c: calls.list_files(run_id=run_id, kind=kind, cursor=c, limit=limit)  # noqa: E731
        return self._client.send_page(make, cursor)

    def describe(self, file_ids: Names) -> Rows:
        """The files as a run's planner is told of them (text ones with their first lines)."""
        return [*self._client.send(calls.describe_files(file_ids))["files"]]

    def delete(self, file_id: str) -> None:
        self._client.send(calls.delete_file(file_id))


class Templates:
    """Named, versioned run configurations: a goal with {{parameters}}, optionally a fixed plan (run with no
    planning call), agent, budget, approval policy and files. `run` starts one with parameter values."""

    def __init__(self, client: CognitionOS) -> None:
        self._client = client

    def create(self, name: str, goal: str, **spec: Any) -> Template:
        """`spec`: parameters=[{"name", "type", "default"}], plan=[tasks], agent, model, budget_usd, max_tasks,
        max_parallel, summarize, require_approval, files, description."""
        return self._client.send(calls.create_template({"name": name, "goal": goal, **spec}))

    def list(self, *, cursor: str | None = None, limit: int = 50) -> Page[Template]:
        return self._client.send_page(lambda c: calls.list_templates(cursor=c, limit=limit), cursor)

    def get(self, template_id: str, *, version: int | None = None) -> Template:
        return self._client.send(calls.get_template(template_id, version=version))

    def update(self, template_id: str, goal: str, **spec: Any) -> Template:
        """The whole new spec: a new version (runs already made keep theirs)."""
        return self._client.send(calls.update_template(template_id, {"goal": goal, **spec}))

    def delete(self, template_id: str) -> None:
        self._client.send(calls.delete_template(template_id))

    def run(
        self,
        template_id: str,
        parameters: dict[str, Any] | None = None,
        *,
        version: int | None = None,
        webhook: str | None = None,
    ) -> Run:
        call = calls.run_template(template_id, parameters=parameters or {}, version=version, webhook=webhook)
        return self._client.send(call)


class Schedules:
    """A template fired on a cron expression (five fields, in a time zone) or an interval."""

    def __init__(self, client: CognitionOS) -> None:
        self._client = client

    def create(self, name: str, template_id: str, **fields: Any) -> Schedule:
        """`fields`: cron or interval_seconds, timezone, parameters, overlap (skip, buffer_one, allow_all), paused,
        catchup_window_seconds, jitter_seconds, pause_after_failures."""
        return self._client.send(calls.create_schedule({"name": name, "template_id": template_id, **fields}))

    def list(self, *, cursor: str | None = None, limit: int = 50) -> Page[Schedule]:
        return self._client.send_page(lambda c: calls.list_schedules(cursor=c, limit=limit), cursor)

    def get(self, schedule_id: str) -> Schedule:
        return self._client.send(calls.get_schedule(schedule_id))

    def update(self, schedule_id: str, **changes: Any) -> Schedule:
        return self._client.send(calls.update_schedule(schedule_id, changes))

    def pause(self, schedule_id: str) -> Schedule:
        return self.update(schedule_id, paused=True)

    def resume(self, schedule_id: str) -> Schedule:
        return self.update(schedule_id, paused=False)

    def delete(self, schedule_id: str) -> None:
        self._client.send(calls.delete_schedule(schedule_id))

    def trigger(self, schedule_id: str) -> Run:
        return self._client.send(calls.trigger_schedule(schedule_id))

    def next(self, schedule_id: str, count: int = 5) -> Times:
        """The next fire times (slots before jitter), in UTC."""
        times = self._client.send(calls.next_fire_times(schedule_id, count=count))["times"]
        return [datetime.fromisoformat(t) for t in times]

    def runs(self, schedule_id: str, *, cursor: str | None = None, limit: int = 50) -> Page[ScheduleEvent]:
        """What it did, newest first: runs fired or triggered (with their status), slots skipped or buffered, pauses."""
        return self._client.send_page(lambda c: calls.schedule_events(schedule_id, cursor=c, limit=limit), cursor)


class Webhooks:
    """Subscriptions: run.succeeded, run.failed, run.cancelled, run.waiting, approval.requested, artifact.created,
    schedule.paused sent to a URL, signed per the Standard Webhooks specification."""

    def __init__(self, client: CognitionOS) -> None:
        self._client = client

    def create(self, url: str, event_types: Names, *, description: str | None = None) -> Webhook:
        """The answer's `secret` is shown this once: the receiver verifies signatures with it."""
        body = {"url": url, "event_types": event_types, **({"description": description} if description else {})}
        return self._client.send(calls.create_webhook(body))

    def list(self, *, cursor: str | None = None, limit: int = 50) -> Page[Webhook]:
        return self._client.send_page(lambda c: calls.list_webhooks(cursor=c, limit=limit), cursor)

    def get(self, webhook_id: str) -> Webhook:
        return self._client.send(calls.get_webhook(webhook_id))

    def update(self, webhook_id: str, **changes: Any) -> Webhook:
        """`changes`: url, event_types, description, enabled."""
        return self._client.send(calls.update_webhook(webhook_id, changes))

    def delete(self, webhook_id: str) -> None:
        self._client.send(calls.delete_webhook(webhook_id))

    def deliveries(self, webhook_id: str, *, cursor: str | None = None, limit: int = 50) -> Page[WebhookDelivery]:
        return self._client.send_page(lambda c: calls.webhook_deliveries(webhook_id, cursor=c, limit=limit), cursor)

    def redeliver(self, webhook_id: str, delivery_id: str) -> WebhookDelivery:
        return self._client.send(calls.redeliver(webhook_id, delivery_id))

    def ping(self, webhook_id: str) -> WebhookDelivery:
        return self._client.send(calls.ping_webhook(webhook_id))


class Audit:
    """The audit log (admin): who did what administrative action, to what, in which request; one hash chain."""

    def __init__(self, client: CognitionOS) -> None:
        self._client = client

    def events(self, *, cursor: str | None = None, limit: int = 100, **filters: Any) -> Page[AuditEvent]:
        """Newest first; `filters`: action (or a prefix ending in *), actor_user_id, target_type, target_id,
        since, until."""
        return self._client.send_page(lambda c: calls.audit_events(filters=filters, cursor=c, limit=limit), cursor)

    def export(self, **filters: Any) -> Iterator[AuditEvent]:
        """Every matching event, oldest first, streamed (JSON lines)."""
        with self._client._http.stream("GET", calls.audit_export_path(), params=filters) as response:
            if not response.is_success:
                response.read()
                raise_for_error(response)
            for line in response.iter_lines():
                if line:
                    yield AuditEvent.model_validate_json(line)

    def verify(self) -> AuditVerification:
        """Walks the chain: ok, how many rows were checked, and the first that does not hash to what it says."""
        return self._client.send(calls.verify_audit())


class Teams:
    """Organisations and teams: members share a team's runs, templates, schedules, agents, MCP servers, files and
    memories; owners manage members, members change things, viewers read."""

    def __init__(self, client: CognitionOS) -> None:
        self._client = client

    def organizations(self) -> Organizations:
        return self._client.send(calls.list_organizations())

    def create_organization(self, name: str) -> Organization:
        return self._client.send(calls.create_organization(name))

    def list(self) -> TeamList:
        return self._client.send(calls.list_teams())

    def create(self, name: str, *, organization_id: str | None = None) -> Team:
        """In an organisation you own (default: your personal one); you are its owner."""
        return self._client.send(calls.create_team(name, organization_id=organization_id))

    def get(self, team_id: str) -> Team:
        return self._client.send(calls.get_team(team_id))

    def delete(self, team_id: str) -> None:
        self._client.send(calls.delete_team(team_id))

    def members(self, team_id: str) -> Members:
        return self._client.send(calls.team_members(team_id))

    def set_role(self, team_id: str, user_id: str, role: str) -> TeamMember:
        return self._client.send(calls.change_member_role(team_id, user_id, role))

    def remove(self, team_id: str, user_id: str) -> None:
        """Owners remove anyone; your own id leaves the team."""
        self._client.send(calls.remove_member(team_id, user_id))

    def invite(self, team_id: str, username: str, *, role: str = "member") -> TeamInvitation:
        return self._client.send(calls.invite(team_id, username, role))

    def invitations(self, team_id: str | None = None) -> Invitations:
        """A team's pending invitations (owners), or, without a team, yours."""
        return self._client.send(calls.team_invitations(team_id) if team_id else calls.my_invitations())

    def withdraw(self, team_id: str, invitation_id: str) -> None:
        self._client.send(calls.withdraw_invitation(team_id, invitation_id))

    def accept(self, invitation_id: str) -> None:
        self._client.send(calls.accept_invitation(invitation_id))

    def decline(self, invitation_id: str) -> None:
        self._client.send(calls.decline_invitation(invitation_id))


class Evals:
    """Suites of goals run on two arms, a full agent run and one bare completion of the same model, each checked
    by code in the sandbox: `create` starts one (it runs in the background), `wait` follows it."""

    def __init__(self, client: CognitionOS) -> None:
        self._client = client

    def create(
        self,
        suite: str,
        *,
        cases: list[dict[str, Any]] | None = None,
        model: str | None = None,
        agent: str | None = None,
        prompt_version: str | None = None,
        arms: list[str] | None = None,
        limit: int | None = None,
        concurrency: int | None = None,
        budget_usd: float | None = None,
    ) -> Eval:
        """`suite`: smoke or humaneval, or the name of your own `cases` (a suite file's lines, as dicts)."""
        body = eval_body(
            suite,
            cases=cases,
            model=model,
            agent=agent,
            prompt_version=prompt_version,
            arms=arms,
            limit=limit,
            concurrency=concurrency,
            budget_usd=budget_usd,
        )
        return self._client.send(calls.create_eval(body))

    def get(self, eval_id: str) -> Eval:
        return self._client.send(calls.get_eval(eval_id))

    def list(self, *, cursor: str | None = None, limit: int = 20) -> Page[Eval]:
        return self._client.send_page(lambda c: calls.list_evals(cursor=c, limit=limit), cursor)

    def cancel(self, eval_id: str) -> Eval:
        return self._client.send(calls.cancel_eval(eval_id))

    def compare(self, a: str, b: str) -> EvalComparison:
        """How eval b differs from a: each arm's change in rate with its 95% interval, and the cases that changed."""
        return self._client.send(calls.compare_evals(a, b))

    def wait(
        self,
        eval_id: str,
        *,
        timeout: float | None = None,
        poll_seconds: float = 2.0,
        on_progress: Callable[[Eval], None] | None = None,
    ) -> Eval:
        """The eval once finished (`on_progress` sees each poll); TimeoutError after `timeout` s (it goes on)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            current = self.get(eval_id)
            if on_progress is not None:
                on_progress(current)
            if current.finished:
                return current
            if _past(deadline):
                raise TimeoutError(f"eval {eval_id} still running after {timeout} s")
            time.sleep(poll_seconds)


class Approvals:
    """Tool calls held for your decision (runs started with `require_approval`, or agents with approval_tools)."""

    def __init__(self, client: CognitionOS) -> None:
        self._client = client

    def list(self, *, status: str = "pending", cursor: str | None = None, limit: int = 50) -> Page[Approval]:
        """Your inbox across runs: pending ones by default; `status="any"` for every one."""
        return self._client.send_page(lambda c: calls.list_approvals(status=status, cursor=c, limit=limit), cursor)

    def get(self, approval_id: str) -> Approval:
        return self._client.send(calls.get_approval(approval_id))

    def approve(
        self, approval_id: str, *, parameters: dict[str, Any] | None = None, note: str | None = None
    ) -> Approval:
        """The call runs once, with `parameters` instead of the agent's when given (the same tool)."""
        return self._client.send(
            calls.decide_approval(approval_id, decision="approve", parameters=parameters, note=note)
        )

    def reject(self, approval_id: str, *, note: str | None = None) -> Approval:
        """The call never runs; the task fails and its fallback (skip, replan, fail) applies."""
        return self._client.send(calls.decide_approval(approval_id, decision="reject", parameters=None, note=note))


class Memories:
    def __init__(self, client: CognitionOS) -> None:
        self._client = client

    def create(
        self,
        content: str,
        *,
        memory_type: str = "fact",
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Memory:
        call = calls.create_memory(
            content, memory_type=memory_type, metadata=metadata or {}, idempotency_key=idempotency_key
        )
        return self._client.send(call)

    def search(self, query: str, *, k: int = 10, hybrid: bool = False) -> Found:
        return self._client.send(calls.search_memories(query, k=k, hybrid=hybrid))

    def list(self, *, cursor: str | None = None, limit: int = 50) -> Page[Memory]:
        return self._client.send_page(lambda c: calls.list_memories(cursor=c, limit=limit), cursor)

    def get(self, memory_id: str) -> Memory:
        return self._client.send(calls.get_memory(memory_id))

    def delete(self, memory_id: str) -> None:
        self._client.send(calls.delete_memory(memory_id))

    def history(self, memory_id: str) -> Records:
        return self._client.send(calls.memory_history(memory_id))

    def update(self, memory_id: str, **changes: Any) -> Memory:
        """content, memory_type, metadata, confidence, expires_at (each change is kept in its history)."""
        return self._client.send(calls.update_memory(memory_id, changes))

    def delete_matching(self, **filters: Any) -> int:
        """Deletes your memories matching the filters (memory_type, scope, session_id, ...); at least one is needed."""
        return int(self._client.send(calls.delete_memories(filters))["deleted"])

    def create_many(self, memories: Rows) -> Found:
        return self._client.send(calls.create_memories(memories))

    def import_body(self, lines: bytes) -> MemoryImport:
        """One body of JSON lines, opened, staged and committed in one call (import_lines splits big files)."""
        return self._client.send(calls.import_memories_at_once(lines))

    def cancel_import(self, import_id: str) -> None:
        self._client.send(calls.cancel_import(import_id))

    def reembed(self) -> dict[str, Any]:
        """Admin: re-embeds memories stored with another embedding model."""
        return self._client.send(calls.reembed_memories())

    def import_lines(self, lines: Iterable[str | bytes], *, poll_seconds: float = 0.5) -> MemoryImport:
        """Bulk import of JSON lines (each the body of `create`, `embedding` optional), uploaded in chunks and
        committed in one transaction; returns once the import is done or failed."""
        job = self._client.send(calls.open_import())
        for first_line, chunk in calls.import_chunks(lines):
            self._client.send(calls.stage_import_rows(job.id, chunk, first_line=first_line))
        job = self._client.send(calls.commit_import(job.id))
        while job.status not in calls.IMPORT_FINISHED:
            time.sleep(poll_seconds)
            job = self._client.send(calls.get_import(job.id))
        return job


class Conversations:
    def __init__(self, client: CognitionOS) -> None:
        self._client = client

    def create(
        self, *, title: str | None = None, system_prompt: str | None = None, model: str | None = None
    ) -> Conversation:
        return self._client.send(calls.create_conversation(title=title, system_prompt=system_prompt, model=model))

    def list(self, *, cursor: str | None = None, limit: int = 50) -> Page[Conversation]:
        return self._client.send_page(lambda c: calls.list_conversations(cursor=c, limit=limit), cursor)

    def get(self, conversation_id: str) -> Conversation:
        return self._client.send(calls.get_conversation(conversation_id))

    def update(self, conversation_id: str, **changes: Any) -> Conversation:
        """title, system_prompt, model."""
        return self._client.send(calls.update_conversation(conversation_id, changes))

    def delete(self, conversation_id: str) -> None:
        self._client.send(calls.delete_conversation(conversation_id))

    def send(
        self,
        conversation_id: str,
        content: str,
        *,
        tools: Names | None = None,
        require_approval: Names | str | None = None,
    ) -> Reply:
        """`require_approval`: tools whose calls wait for you (the reply's `approvals`); then `resume`."""
        call = calls.send_message(conversation_id, content, tools=tools, require_approval=require_approval)
        return self._client.send(call)

    def resume(self, conversation_id: str) -> Reply:
        """Goes on with a turn that ended at held tool calls, once each is approved or rejected."""
        return self._client.send(calls.resume_conversation(conversation_id))

    def stream(
        self, conversation_id: str, content: str, *, tools: Names | None = None
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """The reply as it is written: (event, data) for message, delta, tool_call, tool_result, ..., done."""
        body = calls.send_message(conversation_id, content, tools=tools)
        for sse in self._client.stream("POST", body.path, json={**body.json, "stream": True}):
            yield sse.event, sse.json()

    def messages(self, conversation_id: str, *, cursor: str | None = None, limit: int = 100) -> Page[Message]:
        return self._client.send_page(lambda c: calls.list_messages(conversation_id, cursor=c, limit=limit), cursor)


class ApiKeys:
    def __init__(self, client: CognitionOS) -> None:
        self._client = client

    def create(
        self,
        name: str,
        *,
        expires_in_days: int | None = None,
        allowed_tools: Names | None = None,
        scopes: Names | None = None,
        team_id: str | None = None,
    ) -> ApiKey:
        """`allowed_tools`: the tools the key may use, directly and in its runs (mcp__server__* patterns too).
        `scopes`: what it may do (runs:read, memories:write, files:*, admin...); none: all you may. `team_id`: a team
        of yours the key is bound to (it reaches that team's resources only)."""
        call = calls.create_api_key(
            name, expires_in_days=expires_in_days, allowed_tools=allowed_tools, scopes=scopes, team_id=team_id
        )
        return self._client.send(call)

    def list(self, *, cursor: str | None = None, limit: int = 50) -> Page[ApiKey]:
        return self._client.send_page(lambda c: calls.list_api_keys(cursor=c, limit=limit), cursor)

    def revoke(self, key_id: str) -> ApiKey:
        return self._client.send(calls.revoke_api_key(key_id))


# --- async ---------------------------------------------------------------------------------------------


class Agents:
    def __init__(self, client: CognitionOS) -> None:
        self._client = client

    def list(self, *, cursor: str | None = None, limit: int = 50) -> Page[dict[str, Any]]:
        return self._client.send_page(lambda c: calls.list_agents(cursor=c, limit=limit), cursor)

    def get(self, name: str) -> dict[str, Any]:
        return self._client.send(calls.get_agent(name))

    def create(self, definition: dict[str, Any]) -> dict[str, Any]:
        """Registers an agent of yours: name, role, model, system_prompt, allowed_tools, ... (see the API docs)."""
        return self._client.send(calls.create_agent(definition))


class Plans:
    def __init__(self, client: CognitionOS) -> None:
        self._client = client

    def create(
        self, goal: str, *, max_tasks: int | None = None, context: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return self._client.send(calls.create_plan(goal, max_tasks=max_tasks, context=context))

    def get(self, plan_id: str) -> dict[str, Any]:
        return self._client.send(calls.get_plan(plan_id))

    def replan(
        self, plan_id: str, *, failed_task_id: str, error: str, succeeded_task_ids: list[str] | None = None
    ) -> dict[str, Any]:
        call = calls.replan(
            plan_id, failed_task_id=failed_task_id, error=error, succeeded_task_ids=succeeded_task_ids or []
        )
        return self._client.send(call)


class Tools:
    def __init__(self, client: CognitionOS) -> None:
        self._client = client

    def list(self) -> list[dict[str, Any]]:
        return self._client.send(calls.list_tools())

    def execute(
        self, tool_name: str, parameters: dict[str, Any], *, timeout_seconds: float | None = None
    ) -> dict[str, Any]:
        return self._client.send(calls.execute_tool(tool_name, parameters, timeout_seconds=timeout_seconds))

    def register_mcp_server(
        self,
        name: str,
        url: str,
        *,
        transport: str = "streamable_http",
        headers: dict[str, str] | None = None,
        shared: bool = False,
    ) -> dict[str, Any]:
        """Connects to the server and lists its tools, which then run as mcp__<name>__<tool>."""
        call = calls.register_mcp_server(name, url, transport=transport, headers=headers, shared=shared)
        return self._client.send(call)

    def mcp_servers(self) -> JsonList:
        return self._client.send(calls.list_mcp_servers())

    def mcp_server(self, server_id: str) -> dict[str, Any]:
        return self._client.send(calls.get_mcp_server(server_id))

    def refresh_mcp_server(self, server_id: str) -> dict[str, Any]:
        return self._client.send(calls.refresh_mcp_server(server_id))

    def delete_mcp_server(self, server_id: str) -> None:
        self._client.send(calls.delete_mcp_server(server_id))


class AI:
    """The LLM gateway's own API (for the OpenAI and Anthropic dialects, use their official SDKs at /v1)."""

    def __init__(self, client: CognitionOS) -> None:
        self._client = client

    def models(self) -> dict[str, Any]:
        return self._client.send(calls.list_models())

    def complete(
        self, prompt: str, *, role: str | None = None, model: str | None = None, max_tokens: int | None = None
    ) -> dict[str, Any]:
        return self._client.send(calls.complete(prompt, role=role, model=model, max_tokens=max_tokens))

    def embed(self, texts: list[str], *, model: str | None = None) -> dict[str, Any]:
        return self._client.send(calls.embed(texts, model=model))

    def spend(self, *, group_by: str = "model", since: str | None = None, team_id: str | None = None) -> dict[str, Any]:
        """Your spend, or (`team_id`) a team's you belong to, by its members."""
        return self._client.send(calls.spend(group_by=group_by, since=since, team_id=team_id))

    def budget(self, *, team_id: str | None = None) -> dict[str, Any] | None:
        return self._client.send(calls.budget(team_id=team_id))

    def set_budget(self, scope: str, scope_id: str, limits: dict[str, Any]) -> dict[str, Any]:
        """Admin: a user's, a run's or a team's budget (daily_usd, monthly_usd, total_usd, ..._tokens, policy)."""
        return self._client.send(calls.set_budget(scope, scope_id, limits))

    def get_budget(self, scope: str, scope_id: str) -> dict[str, Any]:
        return self._client.send(calls.get_budget(scope, scope_id))

    def everyones_spend(self, *, group_by: str = "user", since: str | None = None) -> dict[str, Any]:
        """Admin: every user's spend."""
        return self._client.send(calls.admin_spend(group_by=group_by, since=since))


class Account:
    """Your sign-in and, for admins, the users."""

    def __init__(self, client: CognitionOS) -> None:
        self._client = client

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        return self._client.send(calls.refresh(refresh_token))

    def logout(self, refresh_token: str | None = None) -> None:
        self._client.send(calls.logout(refresh_token))

    def change_password(self, current: str, new: str) -> None:
        self._client.send(calls.change_password(current, new))

    def users(self, *, cursor: str | None = None, limit: int = 50) -> Page[User]:
        return self._client.send_page(lambda c: calls.list_users(cursor=c, limit=limit), cursor)

    def set_role(self, user_id: str, role: str) -> User:
        return self._client.send(calls.set_role(user_id, role))

    def set_active(self, user_id: str, *, active: bool) -> User:
        return self._client.send(calls.set_active(user_id, active=active))


class AsyncCognitionOS:
    """The same client for asyncio: every method awaits; streams are async iterators."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        token: str | None = None,
        timeout: float = 60.0,
        max_retries: int = DEFAULT_MAX_RETRIES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.max_retries = max_retries
        self._http = httpx.AsyncClient(
            base_url=_base_url(base_url),
            headers=_auth_headers(api_key, token),
            timeout=_timeout(timeout),
            transport=transport,
        )
        self.runs = AsyncRuns(self)
        self.files = AsyncFiles(self)
        self.templates = AsyncTemplates(self)
        self.schedules = AsyncSchedules(self)
        self.webhooks = AsyncWebhooks(self)
        self.audit = AsyncAudit(self)
        self.teams = AsyncTeams(self)
        self.evals = AsyncEvals(self)
        self.approvals = AsyncApprovals(self)
        self.memories = AsyncMemories(self)
        self.conversations = AsyncConversations(self)
        self.api_keys = AsyncApiKeys(self)
        self.agents = AsyncAgents(self)
        self.plans = AsyncPlans(self)
        self.tools = AsyncTools(self)
        self.ai = AsyncAI(self)
        self.account = AsyncAccount(self)

    async def send(self, call: Call[T]) -> T:
        for attempt in range(self.max_retries + 1):
            response = await self._http.send(call.request(self._http))
            if response.status_code not in RETRIED_STATUSES or attempt == self.max_retries:
                break
            await asyncio.sleep(_retry_wait(response, attempt))
        return call.result(response)

    async def send_page(self, make: Callable[[str | None], Call[Page[T]]], cursor: str | None) -> Page[T]:
        """One page of a list; `async for` over it fetches the pages after it."""
        page = await self.send(make(cursor))
        page._next_page_async = lambda after: self.send_page(make, after)
        return page

    async def stream(
        self, method: str, path: str, *, json: Any = None, last_event_id: str | None = None
    ) -> AsyncIterator[ServerSentEvent]:
        async for sse in self._sse(method, path, json=json, last_event_id=last_event_id):
            if not _is_keepalive(sse):
                yield sse

    async def _sse(
        self, method: str, path: str, *, json: Any = None, last_event_id: str | None = None
    ) -> AsyncIterator[ServerSentEvent]:
        headers = {"Accept": "text/event-stream", **({"Last-Event-ID": last_event_id} if last_event_id else {})}
        async with aconnect_sse(self._http, method, path, json=json, headers=headers, timeout=_timeout(3600)) as source:
            if not source.response.is_success:
                await source.response.aread()
                raise_for_error(source.response)
            async for sse in source.aiter_sse():
                yield sse

    async def sign_in(self, username: str, password: str) -> User:
        tokens = await self.send(calls.login(username, password))
        self._http.headers.pop("X-API-Key", None)
        self._http.headers["Authorization"] = f"Bearer {tokens['access_token']}"
        return await self.send(calls.me())

    async def register(self, username: str, email: str, password: str) -> User:
        return await self.send(calls.register(username, email, password))

    async def me(self) -> User:
        return await self.send(calls.me())

    async def health(self) -> dict[str, Any]:
        return await self.send(calls.health())

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()


class AsyncRuns:
    def __init__(self, client: AsyncCognitionOS) -> None:
        self._client = client

    async def create(
        self,
        goal: str,
        *,
        budget_usd: float | None = None,
        max_tasks: int | None = None,
        idempotency_key: str | None = None,
        require_approval: list[str] | str | None = None,
        model: str | None = None,
        agent: str | None = None,
        files: list[str] | None = None,
        webhook: str | None = None,
    ) -> Run:
        call = calls.create_run(
            goal,
            budget_usd=budget_usd,
            max_tasks=max_tasks,
            idempotency_key=idempotency_key,
            require_approval=require_approval,
            model=model,
            agent=agent,
            files=files,
            webhook=webhook,
        )
        return await self._client.send(call)

    async def artifacts(self, run_id: str, *, cursor: str | None = None, limit: int = 50) -> Page[File]:
        return await self._client.send_page(lambda c: calls.run_artifacts(run_id, cursor=c, limit=limit), cursor)

    async def get(self, run_id: str) -> Run:
        return await self._client.send(calls.get_run(run_id))

    async def list(self, *, cursor: str | None = None, limit: int = 50) -> Page[Run]:
        return await self._client.send_page(lambda c: calls.list_runs(cursor=c, limit=limit), cursor)

    async def cancel(self, run_id: str) -> Run:
        return await self._client.send(calls.cancel_run(run_id))

    async def retry(
        self,
        run_id: str,
        *,
        from_task: str | None = None,
        inputs_patch: dict[str, dict[str, Any]] | None = None,
        budget_usd: float | None = None,
    ) -> Run:
        """See Runs.retry."""
        call = calls.retry_run(run_id, from_task=from_task, inputs_patch=inputs_patch, budget_usd=budget_usd)
        return await self._client.send(call)

    async def fork(
        self,
        run_id: str,
        *,
        from_task: str | None = None,
        inputs_patch: dict[str, dict[str, Any]] | None = None,
        budget_usd: float | None = None,
    ) -> Run:
        """See Runs.fork."""
        call = calls.fork_run(run_id, from_task=from_task, inputs_patch=inputs_patch, budget_usd=budget_usd)
        return await self._client.send(call)

    async def lineage(self, run_id: str) -> RunLineage:
        return await self._client.send(calls.run_lineage(run_id))

    async def approvals(self, run_id: str, *, cursor: str | None = None, limit: int = 50) -> Page[Approval]:
        return await self._client.send_page(lambda c: calls.run_approvals(run_id, cursor=c, limit=limit), cursor)

    async def answer(self, run_id: str, answer: str, *, approval_id: str | None = None) -> Approval:
        """See Runs.answer."""
        return await self._client.send(calls.answer_run(run_id, answer=answer, approval_id=approval_id))

    async def events(
        self,
        run_id: str,
        *,
        timeout: float | None = None,
        on_progress: Callable[[ModelProgress], None] | None = None,
    ) -> AsyncIterator[RunEvent]:
        """The run's events, live, until it ends; see Runs.events."""
        deadline = None if timeout is None else time.monotonic() + timeout
        last: str | None = None
        while True:
            try:
                async for sse in self._client._sse("GET", calls.run_events_path(run_id), last_event_id=last):
                    if _past(deadline):
                        raise _wait_timeout(run_id, timeout)
                    if _is_keepalive(sse):
                        continue
                    if sse.event == "end":
                        return
                    if sse.event == "progress":
                        if on_progress is not None:
                            on_progress(ModelProgress.model_validate_json(sse.data))
                        continue
                    last = sse.id or last
                    yield RunEvent.model_validate_json(sse.data)
            except httpx.TransportError:
                pass
            if _past(deadline):
                raise _wait_timeout(run_id, timeout)
            await asyncio.sleep(RECONNECT_SECONDS)

    async def wait(
        self,
        run_id: str,
        *,
        timeout: float | None = None,
        on_progress: Callable[[ModelProgress], None] | None = None,
    ) -> Run:
        """The run once it has ended; TimeoutError after `timeout` seconds (the run goes on)."""
        async for _ in self.events(run_id, timeout=timeout, on_progress=on_progress):
            pass
        return await self.get(run_id)


class AsyncFiles:
    def __init__(self, client: AsyncCognitionOS) -> None:
        self._client = client

    async def upload(
        self, source: str | os.PathLike[str] | bytes, *, name: str | None = None, media_type: str | None = None
    ) -> File:
        if isinstance(source, bytes):
            return await self._client.send(calls.upload_file(source, name=name or "file", media_type=media_type))
        with open(source, "rb") as stream:
            call = calls.upload_file(stream, name=name or Path(source).name, media_type=media_type)
            return await self._client.send(call)

    async def download(self, file_id: str, path: str | os.PathLike[str] | None = None) -> bytes | Path:
        async with self._client._http.stream("GET", calls.file_content_path(file_id)) as response:
            if not response.is_success:
                await response.aread()
                raise_for_error(response)
            if path is None:
                return await response.aread()
            target = _download_target(path, response)
            with open(target, "wb") as out:
                async for chunk in response.aiter_bytes():
                    out.write(chunk)
            return target

    async def get(self, file_id: str) -> File:
        return await self._client.send(calls.get_file(file_id))

    async def list(
        self, *, run_id: str | None = None, kind: str | None = None, cursor: str | None = None, limit: int = 50
    ) -> Page[File]:
        make = lambda c: calls.list_files(run_id=run_id, kind=kind, cursor=c, limit=limit)  # noqa: E731
        return await self._client.send_page(make, cursor)

    async def describe(self, file_ids: Names) -> Rows:
        return [*(await self._client.send(calls.describe_files(file_ids)))["files"]]

    async def delete(self, file_id: str) -> None:
        await self._client.send(calls.delete_file(file_id))


class AsyncTemplates:
    def __init__(self, client: AsyncCognitionOS) -> None:
        self._client = client

    async def create(self, name: str, goal: str, **spec: Any) -> Template:
        return await self._client.send(calls.create_template({"name": name, "goal": goal, **spec}))

    async def list(self, *, cursor: str | None = None, limit: int = 50) -> Page[Template]:
        return await self._client.send_page(lambda c: calls.list_templates(cursor=c, limit=limit), cursor)

    async def get(self, template_id: str, *, version: int | None = None) -> Template:
        return await self._client.send(calls.get_template(template_id, version=version))

    async def update(self, template_id: str, goal: str, **spec: Any) -> Template:
        return await self._client.send(calls.update_template(template_id, {"goal": goal, **spec}))

    async def delete(self, template_id: str) -> None:
        await self._client.send(calls.delete_template(template_id))

    async def run(
        self,
        template_id: str,
        parameters: dict[str, Any] | None = None,
        *,
        version: int | None = None,
        webhook: str | None = None,
    ) -> Run:
        call = calls.run_template(template_id, parameters=parameters or {}, version=version, webhook=webhook)
        return await self._client.send(call)


class AsyncSchedules:
    def __init__(self, client: AsyncCognitionOS) -> None:
        self._client = client

    async def create(self, name: str, template_id: str, **fields: Any) -> Schedule:
        return await self._client.send(calls.create_schedule({"name": name, "template_id": template_id, **fields}))

    async def list(self, *, cursor: str | None = None, limit: int = 50) -> Page[Schedule]:
        return await self._client.send_page(lambda c: calls.list_schedules(cursor=c, limit=limit), cursor)

    async def get(self, schedule_id: str) -> Schedule:
        return await self._client.send(calls.get_schedule(schedule_id))

    async def update(self, schedule_id: str, **changes: Any) -> Schedule:
        return await self._client.send(calls.update_schedule(schedule_id, changes))

    async def pause(self, schedule_id: str) -> Schedule:
        return await self.update(schedule_id, paused=True)

    async def resume(self, schedule_id: str) -> Schedule:
        return await self.update(schedule_id, paused=False)

    async def delete(self, schedule_id: str) -> None:
        await self._client.send(calls.delete_schedule(schedule_id))

    async def trigger(self, schedule_id: str) -> Run:
        return await self._client.send(calls.trigger_schedule(schedule_id))

    async def next(self, schedule_id: str, count: int = 5) -> Times:
        times = (await self._client.send(calls.next_fire_times(schedule_id, count=count)))["times"]
        return [datetime.fromisoformat(t) for t in times]

    async def runs(self, schedule_id: str, *, cursor: str | None = None, limit: int = 50) -> Page[ScheduleEvent]:
        return await self._client.send_page(lambda c: calls.schedule_events(schedule_id, cursor=c, limit=limit), cursor)


class AsyncWebhooks:
    def __init__(self, client: AsyncCognitionOS) -> None:
        self._client = client

    async def create(self, url: str, event_types: Names, *, description: str | None = None) -> Webhook:
        body = {"url": url, "event_types": event_types, **({"description": description} if description else {})}
        return await self._client.send(calls.create_webhook(body))

    async def list(self, *, cursor: str | None = None, limit: int = 50) -> Page[Webhook]:
        return await self._client.send_page(lambda c: calls.list_webhooks(cursor=c, limit=limit), cursor)

    async def get(self, webhook_id: str) -> Webhook:
        return await self._client.send(calls.get_webhook(webhook_id))

    async def update(self, webhook_id: str, **changes: Any) -> Webhook:
        return await self._client.send(calls.update_webhook(webhook_id, changes))

    async def delete(self, webhook_id: str) -> None:
        await self._client.send(calls.delete_webhook(webhook_id))

    async def deliveries(self, webhook_id: str, *, cursor: str | None = None, limit: int = 50) -> Page[WebhookDelivery]:
        return await self._client.send_page(
            lambda c: calls.webhook_deliveries(webhook_id, cursor=c, limit=limit), cursor
        )

    async def redeliver(self, webhook_id: str, delivery_id: str) -> WebhookDelivery:
        return await self._client.send(calls.redeliver(webhook_id, delivery_id))

    async def ping(self, webhook_id: str) -> WebhookDelivery:
        return await self._client.send(calls.ping_webhook(webhook_id))


class AsyncAudit:
    def __init__(self, client: AsyncCognitionOS) -> None:
        self._client = client

    async def events(self, *, cursor: str | None = None, limit: int = 100, **filters: Any) -> Page[AuditEvent]:
        return await self._client.send_page(
            lambda c: calls.audit_events(filters=filters, cursor=c, limit=limit), cursor
        )

    async def export(self, **filters: Any) -> AsyncIterator[AuditEvent]:
        async with self._client._http.stream("GET", calls.audit_export_path(), params=filters) as response:
            if not response.is_success:
                await response.aread()
                raise_for_error(response)
            async for line in response.aiter_lines():
                if line:
                    yield AuditEvent.model_validate_json(line)

    async def verify(self) -> AuditVerification:
        return await self._client.send(calls.verify_audit())


class AsyncTeams:
    def __init__(self, client: AsyncCognitionOS) -> None:
        self._client = client

    async def organizations(self) -> Organizations:
        return await self._client.send(calls.list_organizations())

    async def create_organization(self, name: str) -> Organization:
        return await self._client.send(calls.create_organization(name))

    async def list(self) -> TeamList:
        return await self._client.send(calls.list_teams())

    async def create(self, name: str, *, organization_id: str | None = None) -> Team:
        """In an organisation you own (default: your personal one); you are its owner."""
        return await self._client.send(calls.create_team(name, organization_id=organization_id))

    async def get(self, team_id: str) -> Team:
        return await self._client.send(calls.get_team(team_id))

    async def delete(self, team_id: str) -> None:
        await self._client.send(calls.delete_team(team_id))

    async def members(self, team_id: str) -> Members:
        return await self._client.send(calls.team_members(team_id))

    async def set_role(self, team_id: str, user_id: str, role: str) -> TeamMember:
        return await self._client.send(calls.change_member_role(team_id, user_id, role))

    async def remove(self, team_id: str, user_id: str) -> None:
        """Owners remove anyone; your own id leaves the team."""
        await self._client.send(calls.remove_member(team_id, user_id))

    async def invite(self, team_id: str, username: str, *, role: str = "member") -> TeamInvitation:
        return await self._client.send(calls.invite(team_id, username, role))

    async def invitations(self, team_id: str | None = None) -> Invitations:
        """A team's pending invitations (owners), or, without a team, yours."""
        return await self._client.send(calls.team_invitations(team_id) if team_id else calls.my_invitations())

    async def withdraw(self, team_id: str, invitation_id: str) -> None:
        await self._client.send(calls.withdraw_invitation(team_id, invitation_id))

    async def accept(self, invitation_id: str) -> None:
        await self._client.send(calls.accept_invitation(invitation_id))

    async def decline(self, invitation_id: str) -> None:
        await self._client.send(calls.decline_invitation(invitation_id))


class AsyncEvals:
    def __init__(self, client: AsyncCognitionOS) -> None:
        self._client = client

    async def create(
        self,
        suite: str,
        *,
        cases: list[dict[str, Any]] | None = None,
        model: str | None = None,
        agent: str | None = None,
        prompt_version: str | None = None,
        arms: list[str] | None = None,
        limit: int | None = None,
        concurrency: int | None = None,
        budget_usd: float | None = None,
    ) -> Eval:
        body = eval_body(
            suite,
            cases=cases,
            model=model,
            agent=agent,
            prompt_version=prompt_version,
            arms=arms,
            limit=limit,
            concurrency=concurrency,
            budget_usd=budget_usd,
        )
        return await self._client.send(calls.create_eval(body))

    async def get(self, eval_id: str) -> Eval:
        return await self._client.send(calls.get_eval(eval_id))

    async def list(self, *, cursor: str | None = None, limit: int = 20) -> Page[Eval]:
        return await self._client.send_page(lambda c: calls.list_evals(cursor=c, limit=limit), cursor)

    async def cancel(self, eval_id: str) -> Eval:
        return await self._client.send(calls.cancel_eval(eval_id))

    async def compare(self, a: str, b: str) -> EvalComparison:
        return await self._client.send(calls.compare_evals(a, b))

    async def wait(self, eval_id: str, *, timeout: float | None = None, poll_seconds: float = 2.0) -> Eval:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not (current := await self.get(eval_id)).finished:
            if _past(deadline):
                raise TimeoutError(f"eval {eval_id} still running after {timeout} s")
            await asyncio.sleep(poll_seconds)
        return current


class AsyncApprovals:
    """See Approvals."""

    def __init__(self, client: AsyncCognitionOS) -> None:
        self._client = client

    async def list(self, *, status: str = "pending", cursor: str | None = None, limit: int = 50) -> Page[Approval]:
        return await self._client.send_page(
            lambda c: calls.list_approvals(status=status, cursor=c, limit=limit), cursor
        )

    async def get(self, approval_id: str) -> Approval:
        return await self._client.send(calls.get_approval(approval_id))

    async def approve(
        self, approval_id: str, *, parameters: dict[str, Any] | None = None, note: str | None = None
    ) -> Approval:
        return await self._client.send(
            calls.decide_approval(approval_id, decision="approve", parameters=parameters, note=note)
        )

    async def reject(self, approval_id: str, *, note: str | None = None) -> Approval:
        return await self._client.send(
            calls.decide_approval(approval_id, decision="reject", parameters=None, note=note)
        )


class AsyncMemories:
    def __init__(self, client: AsyncCognitionOS) -> None:
        self._client = client

    async def create(
        self,
        content: str,
        *,
        memory_type: str = "fact",
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Memory:
        call = calls.create_memory(
            content, memory_type=memory_type, metadata=metadata or {}, idempotency_key=idempotency_key
        )
        return await self._client.send(call)

    async def search(self, query: str, *, k: int = 10, hybrid: bool = False) -> Found:
        return await self._client.send(calls.search_memories(query, k=k, hybrid=hybrid))

    async def list(self, *, cursor: str | None = None, limit: int = 50) -> Page[Memory]:
        return await self._client.send_page(lambda c: calls.list_memories(cursor=c, limit=limit), cursor)

    async def get(self, memory_id: str) -> Memory:
        return await self._client.send(calls.get_memory(memory_id))

    async def delete(self, memory_id: str) -> None:
        await self._client.send(calls.delete_memory(memory_id))

    async def history(self, memory_id: str) -> Records:
        return await self._client.send(calls.memory_history(memory_id))

    async def update(self, memory_id: str, **changes: Any) -> Memory:
        """content, memory_type, metadata, confidence, expires_at (each change is kept in its history)."""
        return await self._client.send(calls.update_memory(memory_id, changes))

    async def delete_matching(self, **filters: Any) -> int:
        """Deletes your memories matching the filters (memory_type, scope, session_id, ...); at least one is needed."""
        return int((await self._client.send(calls.delete_memories(filters)))["deleted"])

    async def create_many(self, memories: Rows) -> Found:
        return await self._client.send(calls.create_memories(memories))

    async def import_body(self, lines: bytes) -> MemoryImport:
        """One body of JSON lines, opened, staged and committed in one call (import_lines splits big files)."""
        return await self._client.send(calls.import_memories_at_once(lines))

    async def cancel_import(self, import_id: str) -> None:
        await self._client.send(calls.cancel_import(import_id))

    async def reembed(self) -> dict[str, Any]:
        """Admin: re-embeds memories stored with another embedding model."""
        return await self._client.send(calls.reembed_memories())

    async def import_lines(self, lines: Iterable[str | bytes], *, poll_seconds: float = 0.5) -> MemoryImport:
        """Bulk import of JSON lines; see Memories.import_lines."""
        job = await self._client.send(calls.open_import())
        for first_line, chunk in calls.import_chunks(lines):
            await self._client.send(calls.stage_import_rows(job.id, chunk, first_line=first_line))
        job = await self._client.send(calls.commit_import(job.id))
        while job.status not in calls.IMPORT_FINISHED:
            await asyncio.sleep(poll_seconds)
            job = await self._client.send(calls.get_import(job.id))
        return job


class AsyncConversations:
    def __init__(self, client: AsyncCognitionOS) -> None:
        self._client = client

    async def create(
        self, *, title: str | None = None, system_prompt: str | None = None, model: str | None = None
    ) -> Conversation:
        call = calls.create_conversation(title=title, system_prompt=system_prompt, model=model)
        return await self._client.send(call)

    async def list(self, *, cursor: str | None = None, limit: int = 50) -> Page[Conversation]:
        return await self._client.send_page(lambda c: calls.list_conversations(cursor=c, limit=limit), cursor)

    async def get(self, conversation_id: str) -> Conversation:
        return await self._client.send(calls.get_conversation(conversation_id))

    async def update(self, conversation_id: str, **changes: Any) -> Conversation:
        """title, system_prompt, model."""
        return await self._client.send(calls.update_conversation(conversation_id, changes))

    async def delete(self, conversation_id: str) -> None:
        await self._client.send(calls.delete_conversation(conversation_id))

    async def send(
        self,
        conversation_id: str,
        content: str,
        *,
        tools: Names | None = None,
        require_approval: Names | str | None = None,
    ) -> Reply:
        call = calls.send_message(conversation_id, content, tools=tools, require_approval=require_approval)
        return await self._client.send(call)

    async def resume(self, conversation_id: str) -> Reply:
        return await self._client.send(calls.resume_conversation(conversation_id))

    async def stream(
        self, conversation_id: str, content: str, *, tools: Names | None = None
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        body = calls.send_message(conversation_id, content, tools=tools)
        async for sse in self._client.stream("POST", body.path, json={**body.json, "stream": True}):
            yield sse.event, sse.json()

    async def messages(self, conversation_id: str, *, cursor: str | None = None, limit: int = 100) -> Page[Message]:
        return await self._client.send_page(
            lambda c: calls.list_messages(conversation_id, cursor=c, limit=limit), cursor
        )


class AsyncApiKeys:
    def __init__(self, client: AsyncCognitionOS) -> None:
        self._client = client

    async def create(
        self,
        name: str,
        *,
        expires_in_days: int | None = None,
        allowed_tools: Names | None = None,
        scopes: Names | None = None,
        team_id: str | None = None,
    ) -> ApiKey:
        call = calls.create_api_key(
            name, expires_in_days=expires_in_days, allowed_tools=allowed_tools, scopes=scopes, team_id=team_id
        )
        return await self._client.send(call)

    async def list(self, *, cursor: str | None = None, limit: int = 50) -> Page[ApiKey]:
        return await self._client.send_page(lambda c: calls.list_api_keys(cursor=c, limit=limit), cursor)

    async def revoke(self, key_id: str) -> ApiKey:
        return await self._client.send(calls.revoke_api_key(key_id))


class AsyncAgents:
    def __init__(self, client: AsyncCognitionOS) -> None:
        self._client = client

    async def list(self, *, cursor: str | None = None, limit: int = 50) -> Page[dict[str, Any]]:
        return await self._client.send_page(lambda c: calls.list_agents(cursor=c, limit=limit), cursor)

    async def get(self, name: str) -> dict[str, Any]:
        return await self._client.send(calls.get_agent(name))

    async def create(self, definition: dict[str, Any]) -> dict[str, Any]:
        """Registers an agent of yours: name, role, model, system_prompt, allowed_tools, ... (see the API docs)."""
        return await self._client.send(calls.create_agent(definition))


class AsyncPlans:
    def __init__(self, client: AsyncCognitionOS) -> None:
        self._client = client

    async def create(
        self, goal: str, *, max_tasks: int | None = None, context: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return await self._client.send(calls.create_plan(goal, max_tasks=max_tasks, context=context))

    async def get(self, plan_id: str) -> dict[str, Any]:
        return await self._client.send(calls.get_plan(plan_id))

    async def replan(
        self, plan_id: str, *, failed_task_id: str, error: str, succeeded_task_ids: list[str] | None = None
    ) -> dict[str, Any]:
        call = calls.replan(
            plan_id, failed_task_id=failed_task_id, error=error, succeeded_task_ids=succeeded_task_ids or []
        )
        return await self._client.send(call)


class AsyncTools:
    def __init__(self, client: AsyncCognitionOS) -> None:
        self._client = client

    async def list(self) -> list[dict[str, Any]]:
        return await self._client.send(calls.list_tools())

    async def execute(
        self, tool_name: str, parameters: dict[str, Any], *, timeout_seconds: float | None = None
    ) -> dict[str, Any]:
        return await self._client.send(calls.execute_tool(tool_name, parameters, timeout_seconds=timeout_seconds))

    async def register_mcp_server(
        self,
        name: str,
        url: str,
        *,
        transport: str = "streamable_http",
        headers: dict[str, str] | None = None,
        shared: bool = False,
    ) -> dict[str, Any]:
        call = calls.register_mcp_server(name, url, transport=transport, headers=headers, shared=shared)
        return await self._client.send(call)

    async def mcp_servers(self) -> JsonList:
        return await self._client.send(calls.list_mcp_servers())

    async def mcp_server(self, server_id: str) -> dict[str, Any]:
        return await self._client.send(calls.get_mcp_server(server_id))

    async def refresh_mcp_server(self, server_id: str) -> dict[str, Any]:
        return await self._client.send(calls.refresh_mcp_server(server_id))

    async def delete_mcp_server(self, server_id: str) -> None:
        await self._client.send(calls.delete_mcp_server(server_id))


class AsyncAI:
    """The LLM gateway's own API (for the OpenAI and Anthropic dialects, use their official SDKs at /v1)."""

    def __init__(self, client: AsyncCognitionOS) -> None:
        self._client = client

    async def models(self) -> dict[str, Any]:
        return await self._client.send(calls.list_models())

    async def complete(
        self, prompt: str, *, role: str | None = None, model: str | None = None, max_tokens: int | None = None
    ) -> dict[str, Any]:
        return await self._client.send(calls.complete(prompt, role=role, model=model, max_tokens=max_tokens))

    async def embed(self, texts: list[str], *, model: str | None = None) -> dict[str, Any]:
        return await self._client.send(calls.embed(texts, model=model))

    async def spend(
        self, *, group_by: str = "model", since: str | None = None, team_id: str | None = None
    ) -> dict[str, Any]:
        return await self._client.send(calls.spend(group_by=group_by, since=since, team_id=team_id))

    async def budget(self, *, team_id: str | None = None) -> dict[str, Any] | None:
        return await self._client.send(calls.budget(team_id=team_id))

    async def set_budget(self, scope: str, scope_id: str, limits: dict[str, Any]) -> dict[str, Any]:
        """Admin: a user's, a run's or a team's budget (daily_usd, monthly_usd, total_usd, ..._tokens, policy)."""
        return await self._client.send(calls.set_budget(scope, scope_id, limits))

    async def get_budget(self, scope: str, scope_id: str) -> dict[str, Any]:
        return await self._client.send(calls.get_budget(scope, scope_id))

    async def everyones_spend(self, *, group_by: str = "user", since: str | None = None) -> dict[str, Any]:
        """Admin: every user's spend."""
        return await self._client.send(calls.admin_spend(group_by=group_by, since=since))


class AsyncAccount:
    """Your sign-in and, for admins, the users."""

    def __init__(self, client: AsyncCognitionOS) -> None:
        self._client = client

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        return await self._client.send(calls.refresh(refresh_token))

    async def logout(self, refresh_token: str | None = None) -> None:
        await self._client.send(calls.logout(refresh_token))

    async def change_password(self, current: str, new: str) -> None:
        await self._client.send(calls.change_password(current, new))

    async def users(self, *, cursor: str | None = None, limit: int = 50) -> Page[User]:
        return await self._client.send_page(lambda c: calls.list_users(cursor=c, limit=limit), cursor)

    async def set_role(self, user_id: str, role: str) -> User:
        return await self._client.send(calls.set_role(user_id, role))

    async def set_active(self, user_id: str, *, active: bool) -> User:
        return await self._client.send(calls.set_active(user_id, active=active))


def _download_target(path: str | os.PathLike[str], response: httpx.Response) -> Path:
    """`path`, or, when it is a folder, the file's own name (from Content-Disposition) inside it."""
    target = Path(path)
    if not target.is_dir():
        return target
    disposition = response.headers.get("content-disposition", "")
    _, _, encoded = disposition.partition("filename*=UTF-8''")
    name = Path(unquote(encoded)).name if encoded else ""
    return target / (name or "download")
