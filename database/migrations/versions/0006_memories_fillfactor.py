"""memories: fillfactor 50, so access bookkeeping and dedup merges update rows in place (HOT)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 19:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A memory row is ~1.8 kB (its vector is 1.5 kB), so a full page holds four and has no room for a new version:
    # every access-count update then added an entry to every index, an HNSW search included. At 50 a page holds
    # two rows and room for both to change in the same bookkeeping UPDATE (70 left room for one: rows stored
    # together, read together, moved). Applies to pages written from now on; `VACUUM FULL memories` rewrites the rest.
    op.execute("ALTER TABLE memories SET (fillfactor = 50)")


def downgrade() -> None:
    op.execute("ALTER TABLE memories RESET (fillfactor)")
