"""an index to find a run's pending tasks that depend on the ones just finished, without reading every pending task

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 13:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_tasks_pending_depends_on",
        "tasks",
        ["depends_on"],
        postgresql_using="gin",
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_pending_depends_on", table_name="tasks")
