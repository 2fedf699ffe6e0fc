"""runs.verification: how a finished run's result was checked (tested, reviewed, unverified)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 21:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("verification", sa.String(length=16), nullable=True))


def downgrade() -> None:
    op.drop_column("runs", "verification")
