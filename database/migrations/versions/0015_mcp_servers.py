"""mcp_servers: the users' MCP servers, whose tools join the tool list; longer tool names; executor may use them

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 02:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mcp_servers",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("owner_id", sa.UUID(), nullable=True),
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("transport", sa.String(length=16), nullable=False, server_default="streamable_http"),
        sa.Column("headers_encrypted", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default="true"),
        sa.Column("tools", postgresql.JSONB(), nullable=False, server_default="[]"),
        sa.Column("tools_refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("transport IN ('streamable_http', 'sse')", name=op.f("ck_mcp_servers_mcp_transport_known")),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_mcp_servers_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mcp_servers")),
    )
    op.create_index(
        "uq_mcp_servers_owner_name",
        "mcp_servers",
        ["owner_id", "name"],
        unique=True,
        postgresql_where=sa.text("owner_id IS NOT NULL"),
    )
    op.create_index(
        "uq_mcp_servers_shared_name", "mcp_servers", ["name"], unique=True, postgresql_where=sa.text("owner_id IS NULL")
    )
    op.alter_column("tool_executions", "tool_name", existing_type=sa.String(length=64), type_=sa.String(length=160))
    # The built-in executor may use the users' MCP tools (each call waits for approval by default).
    op.execute(
        """UPDATE agents SET allowed_tools = allowed_tools || '["mcp__*"]'::jsonb
        WHERE owner_id IS NULL AND name = 'executor' AND NOT allowed_tools ? 'mcp__*'"""
    )


def downgrade() -> None:
    op.execute(
        "UPDATE agents SET allowed_tools = allowed_tools - 'mcp__*' WHERE owner_id IS NULL AND name = 'executor'"
    )
    op.alter_column("tool_executions", "tool_name", existing_type=sa.String(length=160), type_=sa.String(length=64))
    op.drop_index("uq_mcp_servers_shared_name", table_name="mcp_servers")
    op.drop_index("uq_mcp_servers_owner_name", table_name="mcp_servers")
    op.drop_table("mcp_servers")
