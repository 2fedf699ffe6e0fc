"""API key limits (LiteLLM-style virtual keys) and spend per key

An API key may carry a USD budget, requests and tokens per minute and a model allowlist; the ledger records the
key each LLM call was made with, so its spend can be enforced and shown.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 16:34:56.991895
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("max_budget_usd", sa.Numeric(precision=12, scale=6), nullable=True))
    op.add_column("api_keys", sa.Column("rpm_limit", sa.Integer(), nullable=True))
    op.add_column("api_keys", sa.Column("tpm_limit", sa.Integer(), nullable=True))
    op.add_column("api_keys", sa.Column("allowed_models", postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column("llm_usage", sa.Column("api_key_id", sa.UUID(), nullable=True))
    op.create_index(op.f("ix_llm_usage_api_key_id"), "llm_usage", ["api_key_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_llm_usage_api_key_id"), table_name="llm_usage")
    op.drop_column("llm_usage", "api_key_id")
    op.drop_column("api_keys", "allowed_models")
    op.drop_column("api_keys", "tpm_limit")
    op.drop_column("api_keys", "rpm_limit")
    op.drop_column("api_keys", "max_budget_usd")
