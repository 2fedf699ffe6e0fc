"""organisations, teams, their members and invitations; agents, templates, schedules, MCP servers, files,
memories, runs and API keys may belong to a team; the ledger records a call's team; budgets for teams

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TEAM_ROLES = ("owner", "member", "viewer")
TEAM_OWNED = ("agents", "runs", "templates", "schedules", "memories", "files", "mcp_servers")


def _times() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("owner_id", sa.UUID(), nullable=False),
        sa.Column("personal", sa.Boolean(), server_default="false", nullable=False),
        *_times(),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_organizations_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
    )
    op.create_index(
        "uq_organizations_personal_owner",
        "organizations",
        ["owner_id"],
        unique=True,
        postgresql_where=sa.text("personal"),
    )
    op.create_table(
        "teams",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("organization_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        *_times(),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_teams_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("organization_id", "name", name=op.f("uq_teams_organization_id")),
    )
    op.create_table(
        "team_members",
        sa.Column("team_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(f"role IN {TEAM_ROLES}", name=op.f("ck_team_members_team_role_known")),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_team_members_team_id_teams"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_team_members_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("team_id", "user_id", name=op.f("pk_team_members")),
    )
    op.create_index(op.f("ix_team_members_user_id"), "team_members", ["user_id"])
    op.create_table(
        "team_invitations",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("team_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("invited_by", sa.UUID(), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(f"role IN {TEAM_ROLES}", name=op.f("ck_team_invitations_invitation_role_known")),
        sa.CheckConstraint(
            "status IN ('pending', 'accepted', 'declined', 'revoked')",
            name=op.f("ck_team_invitations_invitation_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_team_invitations_team_id_teams"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_team_invitations_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["invited_by"], ["users.id"], name=op.f("fk_team_invitations_invited_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team_invitations")),
    )
    op.create_index(op.f("ix_team_invitations_user_id"), "team_invitations", ["user_id"])
    op.create_index(
        "uq_team_invitations_pending",
        "team_invitations",
        ["team_id", "user_id"],
        unique=True,
        postgresql_where=sa.text("status = 'pending'"),
    )
    for table in (*TEAM_OWNED, "api_keys"):
        op.add_column(table, sa.Column("team_id", sa.UUID(), nullable=True))
        # A deleted team takes its keys with it; any other row it still owns stops the deletion.
        ondelete = "CASCADE" if table == "api_keys" else "RESTRICT"
        op.create_foreign_key(op.f(f"fk_{table}_team_id_teams"), table, "teams", ["team_id"], ["id"], ondelete=ondelete)
        op.create_index(op.f(f"ix_{table}_team_id"), table, ["team_id"])
    op.add_column("llm_usage", sa.Column("team_id", sa.UUID(), nullable=True))
    op.create_index(op.f("ix_llm_usage_team_id"), "llm_usage", ["team_id"])
    op.drop_constraint(op.f("ck_budgets_scope_known"), "budgets", type_="check")
    op.create_check_constraint(op.f("ck_budgets_scope_known"), "budgets", "scope IN ('user', 'run', 'team')")


def downgrade() -> None:
    op.execute("DELETE FROM budgets WHERE scope = 'team'")
    op.drop_constraint(op.f("ck_budgets_scope_known"), "budgets", type_="check")
    op.create_check_constraint(op.f("ck_budgets_scope_known"), "budgets", "scope IN ('user', 'run')")
    op.drop_index(op.f("ix_llm_usage_team_id"), table_name="llm_usage")
    op.drop_column("llm_usage", "team_id")
    for table in (*TEAM_OWNED, "api_keys"):
        op.drop_index(op.f(f"ix_{table}_team_id"), table_name=table)
        op.drop_constraint(op.f(f"fk_{table}_team_id_teams"), table, type_="foreignkey")
        op.drop_column(table, "team_id")
    op.drop_table("team_invitations")
    op.drop_table("team_members")
    op.drop_table("teams")
    op.drop_table("organizations")
