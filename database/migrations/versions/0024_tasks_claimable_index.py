"""a run's claimable tasks (ready, or running under a lease that may lapse) are found in the order they are claimed,
by an index of their own

The claim reads a run's ready and running tasks by available_at. While the statistics had not yet seen a new run,
the planner took it for a few rows and read all of its tasks through the unique (run_id, task_key) index to find
them: the first claim of a new 10,000-task run read 9,900 rows it did not want (3.9 ms alone; beside the run's
creation on two cores, 22-28 ms before it started its first task, against 1.5 ms once the statistics had caught
up). This index holds only those tasks, in that order, so the claim takes it whatever the statistics say. The
statement that locks the runs to claim from takes it too: with fresh statistics it read every open task of each
running run to find one that is ready (2.7 ms a claim beside a 10,000-task run, 0.25 ms with this index).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-08 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_tasks_claimable",
        "tasks",
        ["run_id", "available_at"],
        postgresql_where=sa.text("status IN ('ready', 'running')"),
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_claimable", table_name="tasks")
