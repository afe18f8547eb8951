"""The access-token signing key leaves the database.

Earlier versions kept it in ``settings`` (name ``secret_key``), in clear: anyone who could
read the database file could mint tokens for every account. It moves to the key file
(``migrate``'s ``key_out``, given by ``bootstrap``), so that tokens already issued keep
working, and is deleted here (on SQLite with ``secure_delete``, and ``bootstrap`` then empties
the WAL; on PostgreSQL the dead row lasts until the table is vacuumed, inside PostgreSQL's own
private data directory). Both happen in the migration's transaction: if the deletion
fails the key is in the file and still in the database, and the next start moves it again
(the key file takes a key it already holds once).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_NAME = "secret_key"


def upgrade() -> None:
    bind = op.get_bind()
    row = bind.execute(
        sa.text("SELECT value FROM settings WHERE name = :name"), {"name": _NAME}
    ).fetchone()
    if row is None:
        return
    key_out = context.config.attributes.get("signing_key_out_of_database")
    if key_out is None:
        raise RuntimeError(
            "the database holds the access-token signing key: migrate it through "
            "switchboard (which moves the key into its key file)"
        )
    key_out(str(row[0]))
    if bind.dialect.name == "sqlite":
        # Overwrite the deleted row's bytes rather than leave them in a free slot of the page
        # (some builds, Debian's among them, do by default; SQLite itself does not). The
        # caller then empties the WAL, which still holds the page as it was.
        bind.exec_driver_sql("PRAGMA secure_delete = ON")
    bind.execute(sa.text("DELETE FROM settings WHERE name = :name"), {"name": _NAME})


def downgrade() -> None:
    # The key stays in its file: an older version would make a new one in the database, and
    # the tokens issued until then stop working.
    pass
