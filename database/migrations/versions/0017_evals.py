"""evals and their results; runs of an eval, and a run's model, prompt version and executor agent; the eval
memory scope

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCOPES_BEFORE = ("global", "user", "task", "session")
SCOPES = (*SCOPES_BEFORE, "eval")


def _times() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "evals",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("api_key_id", sa.UUID(), nullable=True),
        sa.Column("suite", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False, server_default="running"),
        sa.Column("config", postgresql.JSONB(), nullable=False, server_default="{}"),
        sa.Column("concurrency", sa.Integer(), nullable=False, server_default="2"),
        sa.Column("case_count", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        *_times(),
        sa.CheckConstraint(
            "status IN ('running', 'succeeded', 'failed', 'cancelled')", name=op.f("ck_evals_eval_status_known")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_evals_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evals")),
    )
    op.create_index("ix_evals_user_created", "evals", ["user_id", "created_at"])
    op.create_table(
        "eval_results",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("eval_id", sa.UUID(), nullable=False),
        sa.Column("case_id", sa.String(length=128), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("arm", sa.String(length=16), nullable=False),
        sa.Column("case", postgresql.JSONB(), nullable=False, server_default="{}"),
        sa.Column("status", sa.String(length=16), nullable=False, server_default="pending"),
        sa.Column("run_id", sa.UUID(), nullable=True),
        sa.Column("cost_usd", sa.Numeric(12, 6), nullable=False, server_default="0"),
        sa.Column("tokens", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("wall_ms", sa.Integer(), nullable=True),
        sa.Column("detail", postgresql.JSONB(), nullable=False, server_default="{}"),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        *_times(),
        sa.CheckConstraint("arm IN ('agent', 'baseline')", name=op.f("ck_eval_results_eval_arm_known")),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'passed', 'failed', 'cancelled')",
            name=op.f("ck_eval_results_eval_result_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["eval_id"], ["evals.id"], name=op.f("fk_eval_results_eval_id_evals"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_eval_results_run_id_runs"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eval_results")),
        sa.UniqueConstraint("eval_id", "case_id", "arm", name=op.f("uq_eval_results_eval_id")),
    )
    op.create_index("ix_eval_results_eval_status", "eval_results", ["eval_id", "status", "position"])
    op.add_column("runs", sa.Column("eval_id", sa.UUID(), nullable=True))
    op.add_column("runs", sa.Column("model", sa.String(length=128), nullable=True))
    op.add_column("runs", sa.Column("prompt_version", sa.String(length=16), nullable=True))
    op.add_column("runs", sa.Column("agent", sa.String(length=100), nullable=True))
    op.create_foreign_key(op.f("fk_runs_eval_id_evals"), "runs", "evals", ["eval_id"], ["id"], ondelete="SET NULL")
    op.create_index(op.f("ix_runs_eval_id"), "runs", ["eval_id"])
    op.drop_constraint(op.f("ck_memories_scope_known"), "memories", type_="check")
    op.create_check_constraint(op.f("ck_memories_scope_known"), "memories", f"scope IN {SCOPES}")


def downgrade() -> None:
    op.execute("DELETE FROM memories WHERE scope = 'eval'")
    op.drop_constraint(op.f("ck_memories_scope_known"), "memories", type_="check")
    op.create_check_constraint(op.f("ck_memories_scope_known"), "memories", f"scope IN {SCOPES_BEFORE}")
    op.drop_index(op.f("ix_runs_eval_id"), table_name="runs")
    op.drop_constraint(op.f("fk_runs_eval_id_evals"), "runs", type_="foreignkey")
    for column in ("agent", "prompt_version", "model", "eval_id"):
        op.drop_column("runs", column)
    op.drop_table("eval_results")
    op.drop_table("evals")
