"""approvals of a conversation's tool calls: run and task optional, conversation and tool call id

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 02:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column("approvals", "run_id", existing_type=sa.UUID(), nullable=True)
    op.alter_column("approvals", "task_id", existing_type=sa.UUID(), nullable=True)
    op.add_column("approvals", sa.Column("conversation_id", sa.UUID(), nullable=True))
    op.add_column("approvals", sa.Column("tool_call_id", sa.String(length=128), nullable=True))
    op.create_foreign_key(
        op.f("fk_approvals_conversation_id_conversations"),
        "approvals",
        "conversations",
        ["conversation_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_index(op.f("ix_approvals_conversation_id"), "approvals", ["conversation_id"])
    op.create_check_constraint(
        op.f("ck_approvals_approval_of_a_task_or_a_chat"),
        "approvals",
        "(run_id IS NOT NULL AND task_id IS NOT NULL) OR (conversation_id IS NOT NULL AND tool_call_id IS NOT NULL)",
    )


def downgrade() -> None:
    op.execute("DELETE FROM approvals WHERE run_id IS NULL OR task_id IS NULL")
    op.drop_constraint(op.f("ck_approvals_approval_of_a_task_or_a_chat"), "approvals", type_="check")
    op.drop_index(op.f("ix_approvals_conversation_id"), table_name="approvals")
    op.drop_constraint(op.f("fk_approvals_conversation_id_conversations"), "approvals", type_="foreignkey")
    op.drop_column("approvals", "tool_call_id")
    op.drop_column("approvals", "conversation_id")
    op.alter_column("approvals", "task_id", existing_type=sa.UUID(), nullable=False)
    op.alter_column("approvals", "run_id", existing_type=sa.UUID(), nullable=False)
