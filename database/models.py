"""The whole CognitionOS schema. Alembic migrations under database/migrations own the DDL.

Columns named `metadata` in SQL are mapped as `meta` in Python: `metadata` is reserved by SQLAlchemy's
declarative base.
"""

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR, UUID
from sqlalchemy.orm import Mapped, mapped_column

from database.base import Base, Timestamps, UUIDPrimaryKey

EMBEDDING_DIMENSIONS = 384  # local MiniLM-L6; other models get their own column/index via a re-embed migration


class BinaryVector(Vector):
    """A pgvector column whose values go to the driver as they are, for the binary codec that shared.db registers
    on every connection (instead of being formatted as text first)."""

    cache_ok = True

    def bind_processor(self, dialect: Any) -> None:
        return None


def _fk(target: str, *, ondelete: str = "CASCADE", nullable: bool = False, index: bool = True) -> Any:
    return mapped_column(UUID(as_uuid=True), ForeignKey(target, ondelete=ondelete), nullable=nullable, index=index)


def _json_object(name: str | None = None) -> Any:
    """A JSONB object column that is never NULL; `name` when the column's name differs from the attribute's."""
    if name is None:
        return mapped_column(JSONB, nullable=False, default=dict, server_default="{}")
    return mapped_column(name, JSONB, nullable=False, default=dict, server_default="{}")


def _json_list() -> Any:
    return mapped_column(JSONB, nullable=False, default=list, server_default="[]")


TEAM_ROLES = ("owner", "member", "viewer")


def _team(ondelete: str = "RESTRICT") -> Any:
    """The team a row belongs to (shared with its members); NULL: its owner's alone. A team that still owns rows
    cannot be deleted."""
    return mapped_column(UUID(as_uuid=True), ForeignKey("teams.id", ondelete=ondelete), nullable=True, index=True)


class Organization(UUIDPrimaryKey, Timestamps, Base):
    """Owns teams. Every user has a personal one, made on first use; its owner makes its teams."""

    __tablename__ = "organizations"
    __table_args__ = (
        Index("uq_organizations_personal_owner", "owner_id", unique=True, postgresql_where=text("personal")),
    )

    name: Mapped[str] = mapped_column(String(100), nullable=False)
    owner_id: Mapped[uuid.UUID] = _fk("users.id", index=False)
    personal: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default="false")


class Team(UUIDPrimaryKey, Timestamps, Base):
    """Members share the agents, templates, schedules, MCP servers, files, memories and runs that belong to it."""

    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    organization_id: Mapped[uuid.UUID] = _fk("organizations.id", index=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)


class TeamMember(Base):
    """A user's role in a team: owner (manages members), member (reads and changes), viewer (reads)."""

    __tablename__ = "team_members"
    __table_args__ = (CheckConstraint(f"role IN {TEAM_ROLES}", name="team_role_known"),)

    team_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class TeamInvitation(UUIDPrimaryKey, Base):
    """An owner's invitation of a user to a team with a role, pending until the user accepts or declines it."""

    __tablename__ = "team_invitations"
    __table_args__ = (
        CheckConstraint(f"role IN {TEAM_ROLES}", name="invitation_role_known"),
        CheckConstraint("status IN ('pending', 'accepted', 'declined', 'revoked')", name="invitation_status_known"),
        Index(
            "uq_team_invitations_pending",
            "team_id",
            "user_id",
            unique=True,
            postgresql_where=text("status = 'pending'"),
        ),
    )

    team_id: Mapped[uuid.UUID] = _fk("teams.id", index=False)
    user_id: Mapped[uuid.UUID] = _fk("users.id")
    invited_by: Mapped[uuid.UUID | None] = _fk("users.id", ondelete="SET NULL", nullable=True, index=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending", server_default="pending")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class User(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('admin', 'user', 'agent')", name="role_known"),)

    username: Mapped[str] = mapped_column(String(64), nullable=False)
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    full_name: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), nullable=False, default="user", server_default="user")
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, server_default="true")
    failed_login_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    meta: Mapped[dict[str, Any]] = _json_object("metadata")


# Case-insensitive uniqueness: "Alice" and "alice" are the same account.
Index("uq_users_username_lower", func.lower(User.username), unique=True)
Index("uq_users_email_lower", func.lower(User.email), unique=True)


class UserSession(UUIDPrimaryKey, Base):
    """One row per issued refresh token; a login starts a family, each refresh adds a row to it."""

    __tablename__ = "sessions"

    user_id: Mapped[uuid.UUID] = _fk("users.id")
    family_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)
    refresh_jti: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    replaced_by_jti: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_reason: Mapped[str | None] = mapped_column(String(64))


class ApiKey(UUIDPrimaryKey, Base):
    __tablename__ = "api_keys"

    user_id: Mapped[uuid.UUID] = _fk("users.id")
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    scopes: Mapped[list[str]] = _json_list()
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # LiteLLM-style virtual key limits, each optional: spend cap over the key's life, requests and tokens per minute,
    # and the models it may use (names or aliases; null: any).
    max_budget_usd: Mapped[Decimal | None] = mapped_column(Numeric(12, 6))
    rpm_limit: Mapped[int | None] = mapped_column(Integer)
    tpm_limit: Mapped[int | None] = mapped_column(Integer)
    allowed_models: Mapped[list[str] | None] = mapped_column(JSONB)
    # The tools it may use (built-in names, MCP tools by name or pattern; null: any), for its calls and its runs'.
    allowed_tools: Mapped[list[str] | None] = mapped_column(JSONB)
    # A key bound to a team reaches that team's resources only, and only while its user is a member.
    team_id: Mapped[uuid.UUID | None] = _team(ondelete="CASCADE")  # its keys go with a deleted team


class Agent(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "agents"
    __table_args__ = (UniqueConstraint("name"),)

    name: Mapped[str] = mapped_column(String(100), nullable=False)
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    capabilities: Mapped[list[str]] = _json_list()
    allowed_tools: Mapped[list[str]] = _json_list()
    model: Mapped[str | None] = mapped_column(String(128))
    temperature: Mapped[float] = mapped_column(Float, nullable=False, default=0.2, server_default="0.2")
    max_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=1024, server_default="1024")
    system_prompt: Mapped[str | None] = mapped_column(Text)
    # Tools (names or fnmatch patterns such as "mcp__*") whose calls by this agent wait for a person's approval.
    approval_tools: Mapped[list[str]] = _json_list()
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, server_default="true")
    owner_id: Mapped[uuid.UUID | None] = _fk("users.id", ondelete="SET NULL", nullable=True)
    meta: Mapped[dict[str, Any]] = _json_object("metadata")
    team_id: Mapped[uuid.UUID | None] = _team()


class Plan(UUIDPrimaryKey, Timestamps, Base):
    """A validated DAG of tasks produced by the planner for a goal."""

    __tablename__ = "plans"

    user_id: Mapped[uuid.UUID] = _fk("users.id")
    goal: Mapped[str] = mapped_column(Text, nullable=False)
    context: Mapped[dict[str, Any]] = _json_object()
    dag: Mapped[dict[str, Any]] = _json_object()
    risks: Mapped[list[Any]] = _json_list()
    prompt_version: Mapped[str | None] = mapped_column(String(32))
    model_used: Mapped[str | None] = mapped_column(String(128))
    parent_plan_id: Mapped[uuid.UUID | None] = _fk("plans.id", ondelete="SET NULL", nullable=True)


class Run(UUIDPrimaryKey, Timestamps, Base):
    """One durable execution of a plan."""

    __tablename__ = "runs"
    __table_args__ = (
        Index(
            "uq_runs_user_idempotency_key",
            "user_id",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
    )

    user_id: Mapped[uuid.UUID] = _fk("users.id")
    plan_id: Mapped[uuid.UUID | None] = _fk("plans.id", ondelete="SET NULL", nullable=True)
    # The conversation that started this run: its outcome is posted there as a message.
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("conversations.id", ondelete="SET NULL", use_alter=True),  # conversations also point at runs
        nullable=True,
        index=True,
    )
    goal: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(
        String(32), nullable=False, default="pending", server_default="pending", index=True
    )
    budget_usd: Mapped[Decimal | None] = mapped_column(Numeric(12, 6))
    spent_usd: Mapped[Decimal] = mapped_column(Numeric(12, 6), nullable=False, default=0, server_default="0")
    max_parallel: Mapped[int] = mapped_column(Integer, nullable=False, default=4, server_default="4")
    summarize: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, server_default="true")
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The API key that started the run: its model allowlist, token and budget limits apply to every task's calls.
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    # How the result was checked, once the run succeeded: tested, reviewed or unverified (verification.py).
    verification: Mapped[str | None] = mapped_column(String(16))
    # Tools (names or patterns, "*" for all) whose calls in this run wait for the owner's approval.
    require_approval: Mapped[list[str]] = _json_list()
    # The run this one retries or forks (`origin`): its succeeded tasks were copied, not run again.
    parent_run_id: Mapped[uuid.UUID | None] = _fk("runs.id", ondelete="SET NULL", nullable=True)
    origin: Mapped[str | None] = mapped_column(String(16))
    # An eval's run (hidden from the run list; its memories live in the eval's own scope).
    eval_id: Mapped[uuid.UUID | None] = _fk("evals.id", ondelete="SET NULL", nullable=True)
    # Overrides for every LLM call of the run: the model, the executor's prompt version, the executor agent.
    model: Mapped[str | None] = mapped_column(String(128))
    prompt_version: Mapped[str | None] = mapped_column(String(16))
    agent: Mapped[str | None] = mapped_column(String(100))
    # The user's files the run's code reads at /work/inputs: [{id, name, media_type, size, head}] as they were when
    # the run started (the planner and the executor are told of them).
    input_files: Mapped[list[Any]] = _json_list()
    # The template (and its version) the run was made from, and the schedule that fired it.
    template_id: Mapped[uuid.UUID | None] = _fk("templates.id", ondelete="SET NULL", nullable=True, index=False)
    template_version: Mapped[int | None] = mapped_column(Integer)
    schedule_id: Mapped[uuid.UUID | None] = _fk("schedules.id", ondelete="SET NULL", nullable=True)
    # A one-off webhook told of this run's end (its secret kept encrypted, shown once when the run was made).
    webhook_url: Mapped[str | None] = mapped_column(Text)
    webhook_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    team_id: Mapped[uuid.UUID | None] = _team()


class Template(UUIDPrimaryKey, Timestamps, Base):
    """A named, versioned run configuration: each update adds a version; runs record the one they were made from."""

    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)

    owner_id: Mapped[uuid.UUID] = _fk("users.id", index=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")
    team_id: Mapped[uuid.UUID | None] = _team()


class TemplateVersion(UUIDPrimaryKey, Base):
    __tablename__ = "template_versions"
    __table_args__ = (UniqueConstraint("template_id", "version"),)

    template_id: Mapped[uuid.UUID] = _fk("templates.id", index=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    # goal, parameters, plan, agent, budget_usd, require_approval, files, max_tasks, model, summarize, description
    spec: Mapped[dict[str, Any]] = _json_object()
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Schedule(UUIDPrimaryKey, Timestamps, Base):
    """Fires a template's run at each slot of a cron expression or an interval. Due rows are claimed with
    FOR UPDATE SKIP LOCKED, and `next_slot_at` moves on in the same transaction: each slot fires once."""

    __tablename__ = "schedules"
    __table_args__ = (
        Index("ix_schedules_due", "next_fire_at", postgresql_where=text("NOT paused")),
        CheckConstraint("overlap IN ('skip', 'buffer_one', 'allow_all')", name="schedule_overlap_known"),
        CheckConstraint("(cron IS NULL) <> (interval_seconds IS NULL)", name="schedule_cron_or_interval"),
    )

    owner_id: Mapped[uuid.UUID] = _fk("users.id")
    template_id: Mapped[uuid.UUID] = _fk("templates.id")
    team_id: Mapped[uuid.UUID | None] = _team()
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    parameters: Mapped[dict[str, Any]] = _json_object()
    cron: Mapped[str | None] = mapped_column(String(120))
    interval_seconds: Mapped[int | None] = mapped_column(Integer)
    timezone: Mapped[str] = mapped_column(String(64), nullable=False, default="UTC", server_default="UTC")
    overlap: Mapped[str] = mapped_column(String(16), nullable=False, default="skip", server_default="skip")
    paused: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default="false")
    pause_reason: Mapped[str | None] = mapped_column(Text)
    catchup_window_seconds: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    jitter_seconds: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    next_slot_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_fire_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # the slot plus its jitter
    buffered_slot_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # buffer_one's waiting slot
    consecutive_failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    pause_after_failures: Mapped[int] = mapped_column(Integer, nullable=False, default=3, server_default="3")
    last_fired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ScheduleEvent(Base):
    """What a schedule did: fired a run (`fired`, or `triggered` by hand), skipped a slot, buffered one, paused."""

    __tablename__ = "schedule_events"
    __table_args__ = (Index("ix_schedule_events_schedule", "schedule_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    schedule_id: Mapped[uuid.UUID] = _fk("schedules.id", index=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    slot_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    run_id: Mapped[uuid.UUID | None] = _fk("runs.id", ondelete="SET NULL", nullable=True, index=False)
    message: Mapped[str] = mapped_column(Text, nullable=False, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Webhook(UUIDPrimaryKey, Timestamps, Base):
    """A subscription: these event types of its owner's are delivered to `url`, signed with its secret (kept
    encrypted, shown once) per the Standard Webhooks specification."""

    __tablename__ = "webhooks"

    owner_id: Mapped[uuid.UUID] = _fk("users.id")
    url: Mapped[str] = mapped_column(Text, nullable=False)
    event_types: Mapped[list[Any]] = _json_list()
    secret_encrypted: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, server_default="true")


class WebhookDelivery(UUIDPrimaryKey, Base):
    """One event for one receiver: written in the transaction of the change it reports (an outbox), then sent and
    retried by the dispatcher until delivered or dead. Its id is the message's `webhook-id` on every attempt."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
        Index("ix_webhook_deliveries_webhook", "webhook_id", "created_at"),
        CheckConstraint("status IN ('pending', 'delivered', 'dead')", name="delivery_status_known"),
    )

    webhook_id: Mapped[uuid.UUID | None] = _fk("webhooks.id", nullable=True, index=False)
    run_id: Mapped[uuid.UUID | None] = _fk("runs.id", ondelete="SET NULL", nullable=True, index=False)
    owner_id: Mapped[uuid.UUID] = _fk("users.id", index=False)
    event_type: Mapped[str] = mapped_column(String(64), nullable=False)
    payload: Mapped[dict[str, Any]] = _json_object()
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending", server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


OPEN_TASK_STATUSES = ("pending", "ready", "running", "awaiting_approval", "awaiting_input")


class Task(UUIDPrimaryKey, Timestamps, Base):
    """A node of a run's DAG, claimed by orchestrator workers under a lease."""

    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("run_id", "task_key"),
        Index("ix_tasks_ready", "status", "available_at"),
        # Open tasks only: a lookup of one task by (run_id, task_key) can then take nothing but the unique index,
        # even while the statistics have not seen a new run yet (migration 0023).
        Index(
            "ix_tasks_run_id_status",
            "run_id",
            "status",
            postgresql_where=text(f"status IN {OPEN_TASK_STATUSES}"),
        ),
        # What a claim reads, in the order it takes them, even before the statistics have seen a new run (0024).
        Index("ix_tasks_claimable", "run_id", "available_at", postgresql_where=text("status IN ('ready', 'running')")),
        # A finished task's dependents, found without reading every pending task of the run (promote_ready).
        Index(
            "ix_tasks_pending_depends_on",
            "depends_on",
            postgresql_using="gin",
            postgresql_where=text("status = 'pending'"),
            postgresql_with={"fastupdate": "off"},  # a new run's tasks are found at once (migration 0023)
        ),
    )

    # No index of its own: (run_id, task_key) and (run_id, status) serve it (migration 0023).
    run_id: Mapped[uuid.UUID] = _fk("runs.id", index=False)
    task_key: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    agent_role: Mapped[str] = mapped_column(String(32), nullable=False)
    tool: Mapped[str | None] = mapped_column(String(64))
    inputs: Mapped[dict[str, Any]] = _json_object()
    depends_on: Mapped[list[str]] = _json_list()
    status: Mapped[str] = mapped_column(String(32), nullable=False, default="pending", server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    max_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=3, server_default="3")
    fallback_strategy: Mapped[str | None] = mapped_column(String(32))
    output: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    available_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Approval(UUIDPrimaryKey, Timestamps, Base):
    """A tool call held for a person's decision: a run's task's (which waits without a lease; once decided it is
    claimed again and the call runs with the approved, possibly edited, parameters, or the rejection fails the
    attempt), or a conversation's (the turn ends; resuming it runs or declines the call)."""

    __tablename__ = "approvals"
    __table_args__ = (
        UniqueConstraint("task_id", "attempt", "parameters_hash"),
        Index("ix_approvals_user_status", "user_id", "status"),
        CheckConstraint(
            "status IN ('pending', 'approved', 'rejected', 'expired', 'cancelled')", name="approval_status_known"
        ),
        CheckConstraint(
            "(run_id IS NOT NULL AND task_id IS NOT NULL) "
            "OR (conversation_id IS NOT NULL AND tool_call_id IS NOT NULL)",
            name="approval_of_a_task_or_a_chat",
        ),
    )

    run_id: Mapped[uuid.UUID | None] = _fk("runs.id", nullable=True)
    task_id: Mapped[uuid.UUID | None] = _fk("tasks.id", nullable=True)
    conversation_id: Mapped[uuid.UUID | None] = _fk("conversations.id", nullable=True)
    tool_call_id: Mapped[str | None] = mapped_column(String(128))
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    user_id: Mapped[uuid.UUID] = _fk("users.id", index=False)
    tool: Mapped[str] = mapped_column(String(128), nullable=False)
    parameters: Mapped[dict[str, Any]] = _json_object()
    parameters_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    # What the agent said with the call (its notes, the result it expects), shown to whoever decides.
    context: Mapped[dict[str, Any]] = _json_object()
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending", server_default="pending")
    edited_parameters: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    note: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[uuid.UUID | None] = _fk("users.id", ondelete="SET NULL", nullable=True, index=False)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class Eval(UUIDPrimaryKey, Timestamps, Base):
    """A suite of cases run on two arms (a full agent run, one bare completion) and checked in the sandbox."""

    __tablename__ = "evals"
    __table_args__ = (
        CheckConstraint("status IN ('running', 'succeeded', 'failed', 'cancelled')", name="eval_status_known"),
        Index("ix_evals_user_created", "user_id", "created_at"),
    )

    user_id: Mapped[uuid.UUID] = _fk("users.id", index=False)
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    suite: Mapped[str] = mapped_column(String(128), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="running", server_default="running")
    # What the result depends on: model, agent, prompt version, arms, commit, the suite's digest, --limit.
    config: Mapped[dict[str, Any]] = _json_object()
    concurrency: Mapped[int] = mapped_column(Integer, nullable=False, default=2, server_default="2")
    case_count: Mapped[int] = mapped_column(Integer, nullable=False)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class EvalResult(UUIDPrimaryKey, Timestamps, Base):
    """One case on one arm: pending, then claimed under a lease by an orchestrator process, then passed or
    failed with what the check saw."""

    __tablename__ = "eval_results"
    __table_args__ = (
        UniqueConstraint("eval_id", "case_id", "arm"),
        CheckConstraint("arm IN ('agent', 'baseline')", name="eval_arm_known"),
        CheckConstraint(
            "status IN ('pending', 'running', 'passed', 'failed', 'cancelled')", name="eval_result_status_known"
        ),
        Index("ix_eval_results_eval_status", "eval_id", "status", "position"),
    )

    eval_id: Mapped[uuid.UUID] = _fk("evals.id", index=False)
    case_id: Mapped[str] = mapped_column(String(128), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    arm: Mapped[str] = mapped_column(String(16), nullable=False)
    case: Mapped[dict[str, Any]] = _json_object()
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending", server_default="pending")
    run_id: Mapped[uuid.UUID | None] = _fk("runs.id", ondelete="SET NULL", nullable=True, index=False)
    cost_usd: Mapped[Decimal] = mapped_column(Numeric(12, 6), nullable=False, default=0, server_default="0")
    tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    wall_ms: Mapped[int | None] = mapped_column(Integer)
    # Why it passed or failed: the check's exit code and output, the run's status, the code that was checked.
    detail: Mapped[dict[str, Any]] = _json_object()
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TaskExecutionLog(Base):
    """Every step of a run, in order; the run's event stream (SSE ids are these ids)."""

    __tablename__ = "task_execution_logs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    run_id: Mapped[uuid.UUID] = _fk("runs.id")
    task_id: Mapped[uuid.UUID | None] = _fk("tasks.id", ondelete="SET NULL", nullable=True)
    event_type: Mapped[str] = mapped_column(String(64), nullable=False)
    level: Mapped[str] = mapped_column(String(16), nullable=False, default="info", server_default="info")
    message: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = _json_object()
    cost_usd: Mapped[Decimal | None] = mapped_column(Numeric(12, 6))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


MEMORY_TYPES = ("working", "short_term", "long_term", "episodic", "semantic", "fact", "pattern", "preference", "skill")
MEMORY_SCOPES = ("global", "user", "task", "session", "eval")


class Memory(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "memories"
    __table_args__ = (
        CheckConstraint("confidence >= 0 AND confidence <= 1", name="confidence_range"),
        CheckConstraint(f"memory_type IN {MEMORY_TYPES}", name="memory_type_known"),
        CheckConstraint(f"scope IN {MEMORY_SCOPES}", name="scope_known"),
        Index("ix_memories_user_scope", "user_id", "scope", "memory_type"),
        Index("ix_memories_content_tsv", "content_tsv", postgresql_using="gin"),
        Index("ix_memories_expires_at", "expires_at", postgresql_where=text("expires_at IS NOT NULL")),
        Index("ix_memories_user_created", "user_id", "created_at", "id"),
        Index(
            "ix_memories_embedding_hnsw",
            "embedding",
            postgresql_using="hnsw",
            postgresql_with={"m": 16, "ef_construction": 64},
            postgresql_ops={"embedding": "vector_cosine_ops"},
        ),
        # Room for a new row version on the same page: bookkeeping and dedup merges are HOT updates (migration 0006).
        {"postgresql_with": {"fillfactor": 50}},
    )

    user_id: Mapped[uuid.UUID] = _fk("users.id")
    agent_id: Mapped[uuid.UUID | None] = _fk("agents.id", ondelete="SET NULL", nullable=True)
    session_id: Mapped[str | None] = mapped_column(String(128), index=True)
    run_id: Mapped[uuid.UUID | None] = _fk("runs.id", ondelete="SET NULL", nullable=True)
    content: Mapped[str] = mapped_column(Text, nullable=False)  # Fernet ciphertext when is_sensitive
    # Full-text side of hybrid search; empty for sensitive rows so ciphertext is never indexed as words.
    content_tsv: Mapped[Any] = mapped_column(
        TSVECTOR,
        Computed("CASE WHEN is_sensitive THEN ''::tsvector ELSE to_tsvector('english', content) END", persisted=True),
    )
    memory_type: Mapped[str] = mapped_column(String(32), nullable=False)
    scope: Mapped[str] = mapped_column(String(16), nullable=False, default="user", server_default="user")
    embedding: Mapped[list[float] | None] = mapped_column(BinaryVector(EMBEDDING_DIMENSIONS))
    embedding_model: Mapped[str | None] = mapped_column(String(128))
    meta: Mapped[dict[str, Any]] = _json_object("metadata")
    source: Mapped[str | None] = mapped_column(String(255))
    confidence: Mapped[float] = mapped_column(Float, nullable=False, default=1.0, server_default="1.0")
    is_sensitive: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default="false")
    access_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    accessed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    team_id: Mapped[uuid.UUID | None] = _team()


class ToolExecution(UUIDPrimaryKey, Base):
    __tablename__ = "tool_executions"

    tool_name: Mapped[str] = mapped_column(String(160), nullable=False, index=True)
    user_id: Mapped[uuid.UUID | None] = _fk("users.id", ondelete="SET NULL", nullable=True)
    agent_id: Mapped[uuid.UUID | None] = _fk("agents.id", ondelete="SET NULL", nullable=True)
    task_id: Mapped[uuid.UUID | None] = _fk("tasks.id", ondelete="SET NULL", nullable=True)
    parameters: Mapped[dict[str, Any]] = _json_object()
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class StoredFile(UUIDPrimaryKey, Base):
    """A file a user uploaded (`input`) or a run's code left in /work/outputs (`output`). Its bytes live in the
    file storage (services/tool_runner/storage.py) under their SHA-256: rows with equal content share one blob."""

    __tablename__ = "files"
    __table_args__ = (
        Index("ix_files_owner_created", "owner_id", "created_at", "id"),
        Index("ix_files_expires_at", "expires_at", postgresql_where=text("expires_at IS NOT NULL")),
        CheckConstraint("kind IN ('input', 'output')", name="file_kind_known"),
        CheckConstraint("size > 0", name="file_not_empty"),
    )

    owner_id: Mapped[uuid.UUID] = _fk("users.id", index=False)
    run_id: Mapped[uuid.UUID | None] = _fk("runs.id", ondelete="SET NULL", nullable=True)
    task_id: Mapped[uuid.UUID | None] = _fk("tasks.id", ondelete="SET NULL", nullable=True, index=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    media_type: Mapped[str] = mapped_column(String(255), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    team_id: Mapped[uuid.UUID | None] = _team()


class McpServer(UUIDPrimaryKey, Timestamps, Base):
    """A user's MCP server (or a shared one, registered by an admin): its tools join the tool list as
    mcp__<name>__<tool>. Headers (credentials) are kept encrypted and never returned."""

    __tablename__ = "mcp_servers"
    __table_args__ = (
        Index(
            "uq_mcp_servers_owner_name", "owner_id", "name", unique=True, postgresql_where=text("owner_id IS NOT NULL")
        ),
        Index("uq_mcp_servers_shared_name", "name", unique=True, postgresql_where=text("owner_id IS NULL")),
        CheckConstraint("transport IN ('streamable_http', 'sse')", name="mcp_transport_known"),
    )

    owner_id: Mapped[uuid.UUID | None] = _fk("users.id", nullable=True, index=False)
    name: Mapped[str] = mapped_column(String(20), nullable=False)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    transport: Mapped[str] = mapped_column(
        String(16), nullable=False, default="streamable_http", server_default="streamable_http"
    )
    headers_encrypted: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, server_default="true")
    tools: Mapped[list[Any]] = _json_list()  # [{name, description, input_schema}] as the server listed them
    tools_refreshed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    team_id: Mapped[uuid.UUID | None] = _team()


class Conversation(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_user_id_created_at", "user_id", "created_at", "id"),)

    user_id: Mapped[uuid.UUID] = _fk("users.id")
    run_id: Mapped[uuid.UUID | None] = _fk("runs.id", ondelete="SET NULL", nullable=True)
    title: Mapped[str | None] = mapped_column(String(255))
    agent: Mapped[str | None] = mapped_column(String(100))
    system_prompt: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String(128))
    # Older history, summarised once it no longer fits the prompt, and how many messages the summary covers.
    summary: Mapped[str | None] = mapped_column(Text)
    summarized_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    meta: Mapped[dict[str, Any]] = _json_object("metadata")


class Message(UUIDPrimaryKey, Base):
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_conversation_id_created_at", "conversation_id", "created_at", "id"),)

    conversation_id: Mapped[uuid.UUID] = _fk("conversations.id")
    role: Mapped[str] = mapped_column(String(16), nullable=False)  # user, assistant or tool
    content: Mapped[str] = mapped_column(Text, nullable=False)
    agent_id: Mapped[uuid.UUID | None] = _fk("agents.id", ondelete="SET NULL", nullable=True)
    tokens: Mapped[int | None] = mapped_column(Integer)
    tool_calls: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    tool_call_id: Mapped[str | None] = mapped_column(String(128))
    run_id: Mapped[uuid.UUID | None] = _fk("runs.id", ondelete="SET NULL", nullable=True)
    model: Mapped[str | None] = mapped_column(String(128))
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    cost_usd: Mapped[Decimal | None] = mapped_column(Numeric(12, 6))
    latency_ms: Mapped[float | None] = mapped_column(Float)
    meta: Mapped[dict[str, Any]] = _json_object("metadata")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class MemoryHistory(UUIDPrimaryKey, Base):
    """Every change to a memory (Mem0's history): what changed, when, and from which conversation message.
    Plain ids, no foreign keys: the history outlives the memory it describes."""

    __tablename__ = "memory_history"

    memory_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    event: Mapped[str] = mapped_column(String(16), nullable=False)  # ADD, UPDATE, MERGE or DELETE
    old_content: Mapped[str | None] = mapped_column(Text)
    new_content: Mapped[str | None] = mapped_column(Text)
    source_message_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class MemoryImport(UUIDPrimaryKey, Timestamps, Base):
    """A bulk import of memories: rows are staged (memory_import_rows) in chunks, then committed in one transaction.
    status: open (taking rows), committing (queued or loading), indexing (loaded; the vector index is being
    rebuilt in bulk), done, failed."""

    __tablename__ = "memory_imports"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'committing', 'indexing', 'done', 'failed')", name="status_known"),
        Index("ix_memory_imports_committing", "status", postgresql_where=text("status = 'committing'")),
    )

    user_id: Mapped[uuid.UUID] = _fk("users.id")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="open", server_default="open")
    rows_staged: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    imported: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    deduplicated: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    index_rebuilt: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default="false")
    error: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MemoryImportRow(Base):
    """A staged memory of an import, already validated, embedded and (if sensitive) encrypted; memory_id is the id it
    will have. No foreign keys: a staged row refers to nothing until it is committed."""

    __tablename__ = "memory_import_rows"

    import_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("memory_imports.id", ondelete="CASCADE"), primary_key=True
    )
    ordinal: Mapped[int] = mapped_column(Integer, primary_key=True)
    memory_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    agent_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    session_id: Mapped[str | None] = mapped_column(String(128))
    run_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    source_message_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    content: Mapped[str] = mapped_column(Text, nullable=False)
    memory_type: Mapped[str] = mapped_column(String(32), nullable=False)
    scope: Mapped[str] = mapped_column(String(16), nullable=False)
    embedding: Mapped[list[float]] = mapped_column(BinaryVector(EMBEDDING_DIMENSIONS), nullable=False)
    meta: Mapped[dict[str, Any]] = _json_object("metadata")
    source: Mapped[str | None] = mapped_column(String(255))
    confidence: Mapped[float] = mapped_column(Float, nullable=False)
    is_sensitive: Mapped[bool] = mapped_column(Boolean, nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ApiUsage(Base):
    """One row per request through the gateway (who called what, how it went)."""

    __tablename__ = "api_usage"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    # Plain ids, no foreign keys: rows are written in batches and one stale id must not sink a batch.
    user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    method: Mapped[str] = mapped_column(String(8), nullable=False)
    path: Mapped[str] = mapped_column(String(512), nullable=False)
    status_code: Mapped[int] = mapped_column(Integer, nullable=False)
    duration_ms: Mapped[float] = mapped_column(Float, nullable=False)
    request_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False, index=True
    )


class LlmUsage(Base):
    """One row per LLM or embedding call: the cost ledger."""

    __tablename__ = "llm_usage"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    # Plain ids, no foreign keys: the ledger must never lose a row because a referenced row is missing.
    user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    agent_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    run_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    task_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    team_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    model: Mapped[str] = mapped_column(String(128), nullable=False)
    provider: Mapped[str] = mapped_column(String(32), nullable=False)
    operation: Mapped[str] = mapped_column(String(16), nullable=False, default="complete", server_default="complete")
    prompt_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    completion_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    cost_usd: Mapped[Decimal] = mapped_column(Numeric(14, 8), nullable=False, default=0, server_default="0")
    latency_ms: Mapped[float] = mapped_column(Float, nullable=False, default=0, server_default="0")
    cached: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default="false")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="success", server_default="success")
    prompt_version: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(128))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False, index=True
    )


class Budget(UUIDPrimaryKey, Timestamps, Base):
    """Spending limits for a user (per day/month) or a run (in total). Spend itself is counted in llm_usage."""

    __tablename__ = "budgets"
    __table_args__ = (
        UniqueConstraint("scope", "scope_id"),
        CheckConstraint("scope IN ('user', 'run', 'team')", name="scope_known"),
        CheckConstraint("policy IN ('reject', 'downgrade')", name="policy_known"),
    )

    scope: Mapped[str] = mapped_column(String(16), nullable=False)
    scope_id: Mapped[str] = mapped_column(String(64), nullable=False)
    daily_usd: Mapped[Decimal | None] = mapped_column(Numeric(14, 6))
    monthly_usd: Mapped[Decimal | None] = mapped_column(Numeric(14, 6))
    total_usd: Mapped[Decimal | None] = mapped_column(Numeric(14, 6))
    daily_tokens: Mapped[int | None] = mapped_column(BigInteger)
    monthly_tokens: Mapped[int | None] = mapped_column(BigInteger)
    total_tokens: Mapped[int | None] = mapped_column(BigInteger)
    policy: Mapped[str] = mapped_column(String(16), nullable=False, default="reject", server_default="reject")


class AuditEvent(Base):
    """One administrative action, written in the transaction of the change (shared/audit.py). Rows form a hash chain
    (`hash` = SHA-256 of `prev_hash` and the row's canonical JSON), extended under a database lock so every process
    extends one chain; a trigger refuses UPDATE and DELETE (migration 0020)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)  # the chain's position
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, index=True)
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    actor_username: Mapped[str | None] = mapped_column(String(64))
    actor_role: Mapped[str | None] = mapped_column(String(16))
    actor_key_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    request_id: Mapped[str | None] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    target_type: Mapped[str] = mapped_column(String(32), nullable=False)
    target_id: Mapped[str] = mapped_column(String(128), nullable=False)
    details: Mapped[dict[str, Any]] = _json_object()
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)


class AuditAnchor(Base):
    """Where the chain starts: the id and hash of the last row purged by retention (0 and 64 zeros before any)."""

    __tablename__ = "audit_anchor"
    __table_args__ = (CheckConstraint("singleton", name="one_row"),)

    singleton: Mapped[bool] = mapped_column(Boolean, primary_key=True, default=True)
    last_purged_id: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
    last_purged_hash: Mapped[str] = mapped_column(String(64), nullable=False)
