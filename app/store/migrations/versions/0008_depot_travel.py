"""Each depot names its travel source (a street network, a routing server, straight lines).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("depot") as batch:
        batch.add_column(
            sa.Column("travel", sa.String(length=500), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("depot") as batch:
        batch.drop_column("travel")
