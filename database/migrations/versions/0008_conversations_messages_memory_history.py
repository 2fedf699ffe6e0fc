"""conversations, messages and memory history

Conversations get an agent, a system prompt, a model and a summary of older history; messages carry tool calls,
usage and cost; a run remembers the conversation that started it; memory_history records every change to a memory.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 16:05:13.302718
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "memory_history",
        sa.Column("memory_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("old_content", sa.Text(), nullable=True),
        sa.Column("new_content", sa.Text(), nullable=True),
        sa.Column("source_message_id", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memory_history")),
    )
    op.create_index(op.f("ix_memory_history_memory_id"), "memory_history", ["memory_id"], unique=False)
    op.add_column("conversations", sa.Column("agent", sa.String(length=100), nullable=True))
    op.add_column("conversations", sa.Column("system_prompt", sa.Text(), nullable=True))
    op.add_column("conversations", sa.Column("model", sa.String(length=128), nullable=True))
    op.add_column("conversations", sa.Column("summary", sa.Text(), nullable=True))
    op.add_column("conversations", sa.Column("summarized_count", sa.Integer(), server_default="0", nullable=False))
    op.create_index(
        "ix_conversations_user_id_created_at", "conversations", ["user_id", "created_at", "id"], unique=False
    )
    op.add_column("messages", sa.Column("tool_calls", postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column("messages", sa.Column("tool_call_id", sa.String(length=128), nullable=True))
    op.add_column("messages", sa.Column("run_id", sa.UUID(), nullable=True))
    op.add_column("messages", sa.Column("model", sa.String(length=128), nullable=True))
    op.add_column("messages", sa.Column("prompt_tokens", sa.Integer(), nullable=True))
    op.add_column("messages", sa.Column("completion_tokens", sa.Integer(), nullable=True))
    op.add_column("messages", sa.Column("cost_usd", sa.Numeric(precision=12, scale=6), nullable=True))
    op.add_column("messages", sa.Column("latency_ms", sa.Float(), nullable=True))
    op.add_column(
        "messages", sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False)
    )
    op.create_index(
        "ix_messages_conversation_id_created_at", "messages", ["conversation_id", "created_at", "id"], unique=False
    )
    op.create_index(op.f("ix_messages_run_id"), "messages", ["run_id"], unique=False)
    op.create_foreign_key(op.f("fk_messages_run_id_runs"), "messages", "runs", ["run_id"], ["id"], ondelete="SET NULL")
    op.add_column("runs", sa.Column("conversation_id", sa.UUID(), nullable=True))
    op.create_index(op.f("ix_runs_conversation_id"), "runs", ["conversation_id"], unique=False)
    op.create_foreign_key(
        op.f("fk_runs_conversation_id_conversations"),
        "runs",
        "conversations",
        ["conversation_id"],
        ["id"],
        ondelete="SET NULL",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("fk_runs_conversation_id_conversations"), "runs", type_="foreignkey")
    op.drop_index(op.f("ix_runs_conversation_id"), table_name="runs")
    op.drop_column("runs", "conversation_id")
    op.drop_constraint(op.f("fk_messages_run_id_runs"), "messages", type_="foreignkey")
    op.drop_index(op.f("ix_messages_run_id"), table_name="messages")
    op.drop_index("ix_messages_conversation_id_created_at", table_name="messages")
    op.drop_column("messages", "metadata")
    op.drop_column("messages", "latency_ms")
    op.drop_column("messages", "cost_usd")
    op.drop_column("messages", "completion_tokens")
    op.drop_column("messages", "prompt_tokens")
    op.drop_column("messages", "model")
    op.drop_column("messages", "run_id")
    op.drop_column("messages", "tool_call_id")
    op.drop_column("messages", "tool_calls")
    op.drop_index("ix_conversations_user_id_created_at", table_name="conversations")
    op.drop_column("conversations", "summarized_count")
    op.drop_column("conversations", "summary")
    op.drop_column("conversations", "model")
    op.drop_column("conversations", "system_prompt")
    op.drop_column("conversations", "agent")
    op.drop_index(op.f("ix_memory_history_memory_id"), table_name="memory_history")
    op.drop_table("memory_history")
