"""runs.summarize (whether a run ends with a summarizer storing its result in memory); tasks by run and status

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("summarize", sa.Boolean(), server_default="true", nullable=False))
    op.create_index("ix_tasks_run_id_status", "tasks", ["run_id", "status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_tasks_run_id_status", table_name="tasks")
    op.drop_column("runs", "summarize")
