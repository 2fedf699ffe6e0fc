"""runs: the API key that started a run (its limits follow the run) and the Idempotency-Key it came with

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("api_key_id", sa.UUID(), nullable=True))
    op.add_column("runs", sa.Column("idempotency_key", sa.String(length=255), nullable=True))
    # A retry that reaches the orchestrator again (the gateway lost the first answer) finds the first run.
    op.create_index(
        "uq_runs_user_idempotency_key",
        "runs",
        ["user_id", "idempotency_key"],
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_runs_user_idempotency_key", table_name="runs")
    op.drop_column("runs", "idempotency_key")
    op.drop_column("runs", "api_key_id")
