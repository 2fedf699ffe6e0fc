"""the audit log: append-only rows in one hash chain, a trigger that refuses UPDATE and DELETE, and retention by a
function that moves the chain's anchor

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 12:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64

REFUSE = """
CREATE FUNCTION audit_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('cognitionos.audit_purging', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$
"""

# Retention: rows older than `before` go, and the anchor keeps the id and hash of the last one, where `verify`
# then starts. SECURITY DEFINER: it runs with the owner's rights, so the services' own role needs no DELETE grant.
PURGE = """
CREATE FUNCTION audit_purge(before timestamptz) RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public AS $$
DECLARE
    last_row audit_events%ROWTYPE;
    purged bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('cognitionos.audit_chain'));
    SELECT * INTO last_row FROM audit_events WHERE created_at < before ORDER BY id DESC LIMIT 1;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    PERFORM set_config('cognitionos.audit_purging', 'on', true);
    DELETE FROM audit_events WHERE id <= last_row.id;
    GET DIAGNOSTICS purged = ROW_COUNT;
    PERFORM set_config('cognitionos.audit_purging', 'off', true);
    UPDATE audit_anchor SET last_purged_id = last_row.id, last_purged_hash = last_row.hash;
    RETURN purged;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_user_id", sa.UUID(), nullable=True),
        sa.Column("actor_username", sa.String(length=64), nullable=True),
        sa.Column("actor_role", sa.String(length=16), nullable=True),
        sa.Column("actor_key_id", sa.UUID(), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=False),
        sa.Column("target_id", sa.String(length=128), nullable=False),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index(op.f("ix_audit_events_created_at"), "audit_events", ["created_at"])
    op.create_index(op.f("ix_audit_events_actor_user_id"), "audit_events", ["actor_user_id"])
    op.create_index(op.f("ix_audit_events_action"), "audit_events", ["action"])
    op.create_table(
        "audit_anchor",
        sa.Column("singleton", sa.Boolean(), nullable=False),
        sa.Column("last_purged_id", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("last_purged_hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("singleton", name=op.f("ck_audit_anchor_one_row")),
        sa.PrimaryKeyConstraint("singleton", name=op.f("pk_audit_anchor")),
    )
    op.execute(f"INSERT INTO audit_anchor (singleton, last_purged_id, last_purged_hash) VALUES (true, 0, '{GENESIS}')")
    op.execute(REFUSE)
    op.execute(
        "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change()"
    )
    op.execute(
        "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change()"
    )
    op.execute(PURGE)
    op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM PUBLIC")
    op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON audit_anchor FROM PUBLIC")


def downgrade() -> None:
    op.execute("DROP FUNCTION audit_purge(timestamptz)")
    op.execute("DROP TRIGGER audit_events_no_truncate ON audit_events")
    op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
    op.execute("DROP FUNCTION audit_events_refuse_change()")
    op.drop_table("audit_anchor")
    op.drop_index(op.f("ix_audit_events_action"), table_name="audit_events")
    op.drop_index(op.f("ix_audit_events_actor_user_id"), table_name="audit_events")
    op.drop_index(op.f("ix_audit_events_created_at"), table_name="audit_events")
    op.drop_table("audit_events")
