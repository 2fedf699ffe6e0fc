import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, StringConstraints, model_validator

from services.agent_orchestrator.verification import Verification
from shared.contracts.files import MAX_FILES_PER_RUN
from shared.contracts.tools import AllowedTool

AgentRole = Literal["planner", "executor", "critic", "summarizer"]
ToolPattern = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_*?\[\]-]+$")]
KNOWN_TOOLS = ("execute_python", "http_request", "memory_search", "memory_store", "llm_complete")


class AgentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,63}$")
    role: AgentRole
    description: str | None = Field(default=None, max_length=2000)
    capabilities: list[str] = Field(default_factory=list, max_length=50)
    allowed_tools: list[AllowedTool] = Field(
        default_factory=list,
        description="Built-in tools, and MCP tools by name or pattern (mcp__github__*, or mcp__* for all of them)",
    )
    model: str | None = Field(
        default=None, max_length=128, description="Model or alias for this agent (default: the role's chain)"
    )
    temperature: float = Field(default=0.2, ge=0, le=2)
    max_tokens: int = Field(default=1024, ge=1, le=32_000)
    system_prompt: str | None = Field(default=None, max_length=20_000)
    approval_tools: list[ToolPattern] = Field(
        default_factory=list,
        max_length=50,
        description='Tools (names or patterns, "*" for all) whose calls by this agent wait for the owner\'s approval',
    )
    team_id: uuid.UUID | None = Field(default=None, description="Share it with a team you belong to (owner, member)")


class AgentResponse(AgentCreate):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str  # seeded names need not follow the pattern for new ones
    is_active: bool
    owner_id: uuid.UUID | None
    created_at: datetime


RunStatus = Literal["running", "waiting", "succeeded", "failed", "cancelled"]
TaskStatus = Literal[
    "pending",
    "ready",
    "running",
    "awaiting_approval",
    "awaiting_input",
    "succeeded",
    "failed",
    "skipped",
    "cancelled",
    "superseded",
]
ApprovalStatus = Literal["pending", "approved", "rejected", "expired", "cancelled"]


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    goal: str | None = Field(
        default=None, min_length=3, max_length=4000, description="Planned by the task-planner as the run's first task"
    )
    plan_id: uuid.UUID | None = Field(default=None, description="Run a stored plan instead of planning a goal")
    context: dict[str, Any] = Field(default_factory=dict, description="Given to the planner with the goal")
    max_tasks: int | None = Field(default=None, ge=1, le=50, description="Most tasks the planner may use")
    budget_usd: Decimal | None = Field(
        default=None, gt=0, le=100_000, description="LLM spend cap for the whole run, enforced by the ai-runtime"
    )
    max_parallel: int = Field(default=4, ge=1, le=256, description="Most tasks of this run running at once")
    summarize: bool = Field(
        default=True, description="End with a summarizer that writes the result and stores it in memory"
    )
    require_approval: list[ToolPattern] | Literal["all"] = Field(
        default_factory=list,
        description='Tools whose calls in this run wait for your approval: names or patterns, or "all"',
    )

    model: str | None = Field(
        default=None, max_length=128, description="Every LLM call of the run (planning too) uses this model or alias"
    )
    prompt_version: str | None = Field(
        default=None, pattern=r"^v\d+$", description="The executor's prompt version (default: the newest)"
    )
    agent: str | None = Field(
        default=None, max_length=100, description="Every executor task runs as this agent (yours or a built-in one)"
    )
    files: list[uuid.UUID] = Field(
        default_factory=list,
        max_length=MAX_FILES_PER_RUN,
        description="Your uploaded files (POST /files): the run's code reads them at /work/inputs/<name>, and the "
        "planner and executor are told of them",
    )
    webhook: HttpUrl | None = Field(
        default=None,
        description="A one-off webhook told when this run ends (run.succeeded, run.failed, run.cancelled), signed "
        "with the webhook_secret of the answer",
    )
    team_id: uuid.UUID | None = Field(
        default=None,
        description="A team run: its members see it, its owners and members start and change it; it uses the team's "
        "memories and budget (default: the team of the key, else yours alone)",
    )

    @property
    def approval_patterns(self) -> list[str]:
        return ["*"] if self.require_approval == "all" else list(self.require_approval)

    @model_validator(mode="after")
    def goal_or_plan(self) -> "RunCreate":
        if (self.goal is None) == (self.plan_id is None):
            raise ValueError("give exactly one of goal or plan_id")
        return self


class TaskResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    task_key: str
    name: str
    description: str | None
    agent_role: str
    tool: str | None
    depends_on: list[str]
    status: TaskStatus
    attempts: int
    max_attempts: int
    fallback_strategy: str | None
    inputs: dict[str, Any]
    output: dict[str, Any] | None
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None


class InputFile(BaseModel):
    id: uuid.UUID
    name: str
    media_type: str
    size: int


class RunResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    goal: str
    plan_id: uuid.UUID | None
    status: RunStatus
    verification: Verification | None = Field(
        default=None,
        description="Once succeeded, how the result was checked: tested (code ran and its checks passed), reviewed "
        "(a critic approved with reasons) or unverified",
    )
    budget_usd: float | None
    spent_usd: float = Field(description="LLM cost of the run so far")
    max_parallel: int
    summarize: bool
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    require_approval: list[str] = Field(default_factory=list, description='Tools gated in this run ("*": all)')
    parent_run_id: uuid.UUID | None = Field(default=None, description="The run this one retries or forks")
    origin: Literal["retry", "fork"] | None = None
    model: str | None = None
    prompt_version: str | None = None
    agent: str | None = None
    eval_id: uuid.UUID | None = Field(default=None, description="The eval that made this run (hidden from the list)")
    team_id: uuid.UUID | None = Field(default=None, description="The team it belongs to (null: its starter's alone)")
    input_files: list[InputFile] = Field(
        default_factory=list,
        description="The files its code reads at /work/inputs (GET /runs/{id}/artifacts: its outputs)",
    )
    template_id: uuid.UUID | None = Field(default=None, description="The template this run was made from")
    template_version: int | None = Field(default=None, description="The template's version when the run was made")
    schedule_id: uuid.UUID | None = Field(default=None, description="The schedule that fired this run")
    webhook_url: str | None = Field(default=None, description="The run's one-off webhook")
    webhook_secret: str | None = Field(
        default=None, description="The one-off webhook's signing secret: shown in the creation answer only"
    )
    tasks: list[TaskResponse] = Field(default_factory=list)


class RunEvent(BaseModel):
    """One step of a run; also the SSE payload (the SSE id is `id`)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    run_id: uuid.UUID
    task_id: uuid.UUID | None
    event_type: str
    level: str
    message: str | None
    data: dict[str, Any]
    cost_usd: float | None
    created_at: datetime


class ApprovalResponse(BaseModel):
    """A tool call held for a person's decision."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    run_id: uuid.UUID | None = Field(description="The run whose task made the call (none for a conversation's)")
    task_id: uuid.UUID | None
    conversation_id: uuid.UUID | None = Field(description="The conversation whose assistant made the call")
    tool_call_id: str | None
    attempt: int
    tool: str
    parameters: dict[str, Any] = Field(description="Exactly what the agent asked to run")
    context: dict[str, Any] = Field(description="What the agent said with the call")
    status: ApprovalStatus
    edited_parameters: dict[str, Any] | None = Field(description="What runs instead, when the approver edited it")
    note: str | None
    decided_by: uuid.UUID | None
    decided_at: datetime | None
    expires_at: datetime
    created_at: datetime


class ApprovalDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]
    tool: str | None = Field(
        default=None, max_length=128, description="Optional: must be the held call's tool (an edit cannot change it)"
    )
    parameters: dict[str, Any] | None = Field(
        default=None, description="Approve these parameters instead of the agent's (the same tool)"
    )
    note: str | None = Field(default=None, max_length=4000)

    @model_validator(mode="after")
    def edits_only_approved_calls(self) -> "ApprovalDecision":
        if self.decision == "reject" and self.parameters is not None:
            raise ValueError("edited parameters come with an approval, not a rejection")
        return self


class RunInput(BaseModel):
    """An answer to a question a run's ask_user task asked."""

    model_config = ConfigDict(extra="forbid")

    answer: str = Field(min_length=1, max_length=20_000)
    approval_id: uuid.UUID | None = Field(
        default=None, description="The question answered (its approval); by default the run's oldest open one"
    )


class RunDerive(BaseModel):
    """A new run from a finished one: what is not re-run is copied with its output (no LLM call, no cost)."""

    model_config = ConfigDict(extra="forbid")

    from_task: str | None = Field(
        default=None, max_length=64, description="Re-run this task and everything downstream of it as well"
    )
    inputs_patch: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        max_length=200,
        description="Per task key, inputs merged into the task's own; a patched task re-runs with its dependents",
    )
    budget_usd: Decimal | None = Field(default=None, gt=0, le=100_000, description="The new run's spend cap")


class RunLineage(BaseModel):
    run_id: uuid.UUID
    ancestors: list[RunResponse] = Field(description="Parent first, then its parent, up to the first run")
    children: list[RunResponse] = Field(description="Runs retried or forked from this one, oldest first")
