"""approvals of tool calls, approval policies on agents and runs, and run lineage (retry and fork)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json_list(name: str) -> sa.Column:
    return sa.Column(name, postgresql.JSONB(), nullable=False, server_default="[]")


def upgrade() -> None:
    op.add_column("agents", _json_list("approval_tools"))
    op.add_column("runs", _json_list("require_approval"))
    op.add_column("runs", sa.Column("parent_run_id", sa.UUID(), nullable=True))
    op.add_column("runs", sa.Column("origin", sa.String(length=16), nullable=True))
    op.create_foreign_key(
        op.f("fk_runs_parent_run_id_runs"), "runs", "runs", ["parent_run_id"], ["id"], ondelete="SET NULL"
    )
    op.create_index(op.f("ix_runs_parent_run_id"), "runs", ["parent_run_id"])
    op.create_table(
        "approvals",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("run_id", sa.UUID(), nullable=False),
        sa.Column("task_id", sa.UUID(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("tool", sa.String(length=128), nullable=False),
        sa.Column("parameters", postgresql.JSONB(), nullable=False, server_default="{}"),
        sa.Column("parameters_hash", sa.String(length=64), nullable=False),
        sa.Column("context", postgresql.JSONB(), nullable=False, server_default="{}"),
        sa.Column("status", sa.String(length=16), nullable=False, server_default="pending"),
        sa.Column("edited_parameters", postgresql.JSONB(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.UUID(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected', 'expired', 'cancelled')",
            name=op.f("ck_approvals_approval_status_known"),
        ),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_approvals_run_id_runs"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name=op.f("fk_approvals_task_id_tasks"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_approvals_user_id_users"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["users.id"], name=op.f("fk_approvals_decided_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approvals")),
        sa.UniqueConstraint("task_id", "attempt", "parameters_hash", name=op.f("uq_approvals_task_id")),
    )
    op.create_index(op.f("ix_approvals_run_id"), "approvals", ["run_id"])
    op.create_index(op.f("ix_approvals_task_id"), "approvals", ["task_id"])
    op.create_index("ix_approvals_user_status", "approvals", ["user_id", "status"])


def downgrade() -> None:
    op.drop_table("approvals")
    op.drop_index(op.f("ix_runs_parent_run_id"), table_name="runs")
    op.drop_constraint(op.f("fk_runs_parent_run_id_runs"), "runs", type_="foreignkey")
    op.drop_column("runs", "origin")
    op.drop_column("runs", "parent_run_id")
    op.drop_column("runs", "require_approval")
    op.drop_column("agents", "approval_tools")
