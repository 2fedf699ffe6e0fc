"""api_keys.allowed_tools: the tools a key may use (built-in names, MCP tools by name or pattern; null: any)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 03:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("allowed_tools", postgresql.JSONB(), nullable=True))


def downgrade() -> None:
    op.drop_column("api_keys", "allowed_tools")
