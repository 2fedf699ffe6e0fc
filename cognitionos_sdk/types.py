"""What the API answers, as pydantic models. Unknown fields are kept (`extra="allow"`): a newer server does not break
an older client."""

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, PrivateAttr

T = TypeVar("T")


class Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class Page(Model, Generic[T]):
    """One page of a list; pass `next_cursor` as `cursor=` for the next (None on the last page). Iterating a page
    (`for run in client.runs.list()`, or `async for` with the async client) goes through every item of this page and
    the pages after it, each fetched as the iteration reaches it."""

    items: list[T]
    next_cursor: str | None = None
    _next_page: Callable[[str], "Page[T]"] | None = PrivateAttr(default=None)
    _next_page_async: Callable[[str], Awaitable["Page[T]"]] | None = PrivateAttr(default=None)

    def __iter__(self) -> Iterator[T]:  # type: ignore[override]
        page = self
        while True:
            yield from page.items
            if page.next_cursor is None or page._next_page is None:
                return
            page = page._next_page(page.next_cursor)

    async def __aiter__(self) -> AsyncIterator[T]:
        page = self
        while True:
            for item in page.items:
                yield item
            if page.next_cursor is None or page._next_page_async is None:
                return
            page = await page._next_page_async(page.next_cursor)


class User(Model):
    id: str
    username: str
    email: str
    role: str


class ApiKey(Model):
    id: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    allowed_tools: list[str] | None = None  # the tools it may use (null: any)
    scopes: list[str] = []  # what it may do: runs:read, files:*, admin... (empty: all its user may)
    team_id: str | None = None  # bound to a team: it reaches that team's resources only
    key: str | None = None  # only in the answer that created it


class Task(Model):
    id: str
    task_key: str
    name: str
    status: str
    agent_role: str
    tool: str | None = None
    depends_on: list[str] = []
    output: dict[str, Any] | None = None
    error: str | None = None


class File(Model):
    """An uploaded file (`kind` input) or one a run's code left in /work/outputs (`kind` output, with its run and
    task). Download it with `client.files.download(id)`."""

    id: str
    name: str
    media_type: str
    size: int
    sha256: str
    kind: str
    run_id: str | None = None
    task_id: str | None = None
    created_at: datetime
    expires_at: datetime | None = None


class InputFile(Model):
    id: str
    name: str
    media_type: str
    size: int


class Run(Model):
    id: str
    goal: str
    status: str
    # Once succeeded, how the result was checked: "tested", "reviewed" or "unverified" (see the README).
    verification: str | None = None
    spent_usd: float
    result: dict[str, Any] | None = None
    error: str | None = None
    created_at: datetime
    # The run this one retries or forks ("retry" or "fork" in `origin`).
    parent_run_id: str | None = None
    origin: str | None = None
    require_approval: list[str] = []
    input_files: list[InputFile] = []  # read by its code at /work/inputs/<name>; its outputs: runs.artifacts(id)
    template_id: str | None = None  # made from this template (at template_version), fired by schedule_id
    template_version: int | None = None
    schedule_id: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None  # the one-off webhook's signing secret, in the creation answer only
    tasks: list[Task] = []

    @property
    def finished(self) -> bool:
        return self.status in ("succeeded", "failed", "cancelled")

    @property
    def waiting(self) -> bool:
        """A task waits for a person: an approval in `client.approvals.list()`."""
        return self.status == "waiting"


class EvalArm(Model):
    """One arm of an eval: its success rate over finished cases with a 95% interval (Wilson), cost, tokens, time."""

    arm: str
    total: int
    finished: int
    passed: int
    failed: int
    cancelled: int = 0
    rate: float | None = None
    low: float
    high: float
    cost_usd: float
    tokens: int
    wall_ms_p50: float | None = None
    wall_ms_total: int = 0
    models: list[str] = []


class EvalCaseRow(Model):
    case_id: str
    agent: dict[str, Any] | None = None  # status, run_id, cost_usd, tokens, wall_ms, detail (why)
    baseline: dict[str, Any] | None = None
    disagree: bool = False


class Eval(Model):
    """A suite run on its arms: `arms` per arm (agent, baseline); `cases` in a report (`client.evals.get`)."""

    id: str
    suite: str
    status: str  # running, succeeded, failed, cancelled
    config: dict[str, Any] = {}
    case_count: int
    created_at: datetime
    finished_at: datetime | None = None
    error: str | None = None
    arms: dict[str, EvalArm] = {}
    cases: list[EvalCaseRow] = []
    disagreements: list[str] = []

    @property
    def finished(self) -> bool:
        return self.status != "running"


class EvalComparison(Model):
    a: Eval
    b: Eval
    same_cases: bool
    arms: list[dict[str, Any]] = []  # per arm: a, b, change (b - a) and its 95% interval low, high
    changed: list[dict[str, Any]] = []  # case_id, arm, a, b: the cases whose result differs


class RunLineage(Model):
    run_id: str
    ancestors: list[Run] = []
    children: list[Run] = []


class Approval(Model):
    """A tool call held for your decision: `parameters` is exactly what the agent asked to run."""

    id: str
    run_id: str | None = None  # a run's task's call, or a conversation's (conversation_id)
    task_id: str | None = None
    conversation_id: str | None = None
    attempt: int
    tool: str
    parameters: dict[str, Any]
    context: dict[str, Any] = {}
    status: str
    edited_parameters: dict[str, Any] | None = None
    note: str | None = None
    decided_at: datetime | None = None
    expires_at: datetime
    created_at: datetime


class RunEvent(Model):
    id: int
    run_id: str
    task_id: str | None = None
    event_type: str
    message: str | None = None
    data: dict[str, Any] = {}
    cost_usd: float | None = None
    created_at: datetime


class ModelProgress(Model):
    """How a run's call to the embedded model stands, between events: `waiting` with `ahead` generations before it,
    or `generating` with `tokens` written so far; `role` is the agent role calling (planner, executor, ...)."""

    event_type: str = "progress"
    run_id: str
    state: str
    ahead: int = 0
    tokens: int = 0
    role: str | None = None
    task_id: str | None = None


class MemoryImport(Model):
    """A bulk import: `status` is open, committing, indexing, done or failed (with `error`)."""

    id: str
    status: str
    rows_staged: int
    imported: int
    deduplicated: int
    index_rebuilt: bool
    error: str | None = None


class Memory(Model):
    id: str
    content: str
    memory_type: str
    scope: str
    metadata: dict[str, Any] = {}
    relevance_score: float | None = None
    created_at: datetime


class Conversation(Model):
    id: str
    title: str | None = None
    summary: str | None = None
    created_at: datetime


class Message(Model):
    id: str
    role: str
    content: str
    tool_calls: list[dict[str, Any]] | None = None
    run_id: str | None = None
    cost_usd: float | None = None
    created_at: datetime


class Reply(Model):
    messages: list[Message]
    usage: dict[str, Any]
    run_id: str | None = None
    # Tool calls held for your decision: the turn ended without a reply; decide them, then `conversations.resume`.
    approvals: list[Approval] = []

    @property
    def text(self) -> str:
        return self.messages[-1].content if self.messages else ""


class Template(Model):
    """A named, versioned run configuration: `spec` holds the goal with its {{parameters}}, and optionally a fixed
    plan, agent, budget, approval policy and input files. Each update is a new version."""

    id: str
    name: str
    version: int
    latest_version: int
    spec: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class Schedule(Model):
    """A template fired at each slot of a cron expression (in `timezone`) or every `interval_seconds`."""

    id: str
    name: str
    template_id: str
    parameters: dict[str, Any] = {}
    cron: str | None = None
    interval_seconds: int | None = None
    timezone: str
    overlap: str
    paused: bool
    pause_reason: str | None = None
    catchup_window_seconds: int
    jitter_seconds: int
    next_slot_at: datetime | None = None
    consecutive_failures: int = 0
    pause_after_failures: int
    last_fired_at: datetime | None = None
    created_at: datetime


class ScheduleEvent(Model):
    """What a schedule did: fired or triggered a run (`run_id`, `run_status`), skipped or buffered a slot, paused."""

    id: int
    kind: str
    slot_at: datetime | None = None
    run_id: str | None = None
    run_status: str | None = None
    message: str = ""
    created_at: datetime


class Webhook(Model):
    """A subscription: the events in `event_types` are sent to `url`, signed per the Standard Webhooks spec with
    `secret` (in the creation answer only: keep it)."""

    id: str
    url: str
    event_types: list[str]
    description: str | None = None
    enabled: bool
    created_at: datetime
    secret: str | None = None


class WebhookDelivery(Model):
    """One message to a webhook: `status` pending, delivered or dead; `id` is its webhook-id header."""

    id: str
    event_type: str
    status: str
    attempts: int
    last_status_code: int | None = None
    last_error: str | None = None
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None = None
    payload: dict[str, Any]


class AuditEvent(Model):
    """One administrative action: who (`actor_*`), in which request, what (`action`, `target_*`, `details` with
    secrets redacted), and its place in the hash chain (`id`, `prev_hash`, `hash`)."""

    id: int
    created_at: datetime
    actor_user_id: str | None = None
    actor_username: str | None = None
    actor_role: str | None = None
    actor_key_id: str | None = None
    request_id: str | None = None
    action: str
    target_type: str
    target_id: str
    details: dict[str, Any] = {}
    prev_hash: str
    hash: str


class AuditVerification(Model):
    ok: bool
    checked: int
    first_broken_id: int | None = None
    reason: str | None = None


class Organization(Model):
    """Owns teams; every user has a personal one (`personal`), made on first use."""

    id: str
    name: str
    owner_id: str
    personal: bool
    created_at: datetime


class Team(Model):
    """A team you are in, and your `role` in it: owner, member or viewer."""

    id: str
    organization_id: str
    name: str
    role: str
    created_at: datetime


class TeamMember(Model):
    user_id: str
    username: str
    role: str
    created_at: datetime


class TeamInvitation(Model):
    """An owner's invitation of a user to a team, with the role they join with once they accept it."""

    id: str
    team_id: str
    team_name: str
    username: str
    role: str
    status: str
    created_at: datetime
    expires_at: datetime
