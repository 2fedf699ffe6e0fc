"""memory search: full text, checks, expiry index

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 14:27:34.523967
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Frozen here: later changes to the allowed values get a migration of their own.
MEMORY_TYPES = ("working", "short_term", "long_term", "episodic", "semantic", "fact", "pattern", "preference", "skill")
MEMORY_SCOPES = ("global", "user", "task", "session")

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "memories",
        sa.Column(
            "content_tsv",
            postgresql.TSVECTOR(),
            sa.Computed(
                "CASE WHEN is_sensitive THEN ''::tsvector ELSE to_tsvector('english', content) END", persisted=True
            ),
            nullable=False,
        ),
    )
    op.create_index("ix_memories_content_tsv", "memories", ["content_tsv"], unique=False, postgresql_using="gin")
    op.create_index(
        "ix_memories_expires_at",
        "memories",
        ["expires_at"],
        unique=False,
        postgresql_where=sa.text("expires_at IS NOT NULL"),
    )
    op.create_index("ix_memories_user_created", "memories", ["user_id", "created_at", "id"], unique=False)
    op.create_check_constraint(op.f("ck_memories_memory_type_known"), "memories", f"memory_type IN {MEMORY_TYPES}")
    op.create_check_constraint(op.f("ck_memories_scope_known"), "memories", f"scope IN {MEMORY_SCOPES}")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_memories_scope_known"), "memories", type_="check")
    op.drop_constraint(op.f("ck_memories_memory_type_known"), "memories", type_="check")
    op.drop_index("ix_memories_user_created", table_name="memories")
    op.drop_index("ix_memories_expires_at", table_name="memories", postgresql_where=sa.text("expires_at IS NOT NULL"))
    op.drop_index("ix_memories_content_tsv", table_name="memories", postgresql_using="gin")
    op.drop_column("memories", "content_tsv")
