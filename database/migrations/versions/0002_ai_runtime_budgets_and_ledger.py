"""ai runtime budgets and ledger

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 14:12:39.903836
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "budgets",
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("scope_id", sa.String(length=64), nullable=False),
        sa.Column("daily_usd", sa.Numeric(precision=14, scale=6), nullable=True),
        sa.Column("monthly_usd", sa.Numeric(precision=14, scale=6), nullable=True),
        sa.Column("total_usd", sa.Numeric(precision=14, scale=6), nullable=True),
        sa.Column("daily_tokens", sa.BigInteger(), nullable=True),
        sa.Column("monthly_tokens", sa.BigInteger(), nullable=True),
        sa.Column("total_tokens", sa.BigInteger(), nullable=True),
        sa.Column("policy", sa.String(length=16), server_default="reject", nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("policy IN ('reject', 'downgrade')", name=op.f("ck_budgets_policy_known")),
        sa.CheckConstraint("scope IN ('user', 'run')", name=op.f("ck_budgets_scope_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budgets")),
        sa.UniqueConstraint("scope", "scope_id", name=op.f("uq_budgets_scope")),
    )
    op.add_column("llm_usage", sa.Column("prompt_version", sa.String(length=64), nullable=True))
    op.add_column("llm_usage", sa.Column("request_id", sa.String(length=128), nullable=True))
    op.add_column("llm_usage", sa.Column("error", sa.Text(), nullable=True))
    op.drop_index(op.f("ix_llm_usage_agent_id"), table_name="llm_usage")
    op.drop_index(op.f("ix_llm_usage_task_id"), table_name="llm_usage")
    op.drop_constraint(op.f("fk_llm_usage_run_id_runs"), "llm_usage", type_="foreignkey")
    op.drop_constraint(op.f("fk_llm_usage_task_id_tasks"), "llm_usage", type_="foreignkey")
    op.drop_constraint(op.f("fk_llm_usage_user_id_users"), "llm_usage", type_="foreignkey")
    op.drop_constraint(op.f("fk_llm_usage_agent_id_agents"), "llm_usage", type_="foreignkey")


def downgrade() -> None:
    op.create_foreign_key(
        op.f("fk_llm_usage_agent_id_agents"), "llm_usage", "agents", ["agent_id"], ["id"], ondelete="SET NULL"
    )
    op.create_foreign_key(
        op.f("fk_llm_usage_user_id_users"), "llm_usage", "users", ["user_id"], ["id"], ondelete="SET NULL"
    )
    op.create_foreign_key(
        op.f("fk_llm_usage_task_id_tasks"), "llm_usage", "tasks", ["task_id"], ["id"], ondelete="SET NULL"
    )
    op.create_foreign_key(
        op.f("fk_llm_usage_run_id_runs"), "llm_usage", "runs", ["run_id"], ["id"], ondelete="SET NULL"
    )
    op.create_index(op.f("ix_llm_usage_task_id"), "llm_usage", ["task_id"], unique=False)
    op.create_index(op.f("ix_llm_usage_agent_id"), "llm_usage", ["agent_id"], unique=False)
    op.drop_column("llm_usage", "error")
    op.drop_column("llm_usage", "request_id")
    op.drop_column("llm_usage", "prompt_version")
    op.drop_table("budgets")
