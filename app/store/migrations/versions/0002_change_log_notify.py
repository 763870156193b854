"""The change log rings a bell: every transaction that writes it NOTIFYs other workstations.

PostgreSQL only (a statement-level trigger calling ``pg_notify('dispatch_change', '')`` at
COMMIT; PostgreSQL folds the repeated notifications of one transaction into one). The
notification only wakes followers, which then read the change log from their cursor.
Nothing on SQLite: a single workstation's database has no one to wake.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here (the channel name is part of the wire between workstations).
CHANNEL = "dispatch_change"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION dispatch_change_notify() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', '');
            RETURN NULL;
        END $$
        """
    )
    # Databases followed by an earlier version may have the trigger already.
    op.execute("DROP TRIGGER IF EXISTS change_log_notify ON change_log")
    op.execute(
        "CREATE TRIGGER change_log_notify AFTER INSERT ON change_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION dispatch_change_notify()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS change_log_notify ON change_log")
    op.execute("DROP FUNCTION IF EXISTS dispatch_change_notify()")
