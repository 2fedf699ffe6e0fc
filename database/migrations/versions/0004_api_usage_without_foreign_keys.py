"""api usage without foreign keys

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 15:40:49.557403
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index(op.f("ix_api_usage_api_key_id"), table_name="api_usage")
    op.drop_constraint(op.f("fk_api_usage_api_key_id_api_keys"), "api_usage", type_="foreignkey")
    op.drop_constraint(op.f("fk_api_usage_user_id_users"), "api_usage", type_="foreignkey")


def downgrade() -> None:
    op.create_foreign_key(
        op.f("fk_api_usage_user_id_users"), "api_usage", "users", ["user_id"], ["id"], ondelete="SET NULL"
    )
    op.create_foreign_key(
        op.f("fk_api_usage_api_key_id_api_keys"), "api_usage", "api_keys", ["api_key_id"], ["id"], ondelete="SET NULL"
    )
    op.create_index(op.f("ix_api_usage_api_key_id"), "api_usage", ["api_key_id"], unique=False)
