"""station tokens

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 19:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("stations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token_digest", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_stations_token_digest"), ["token_digest"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("stations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stations_token_digest"))
        batch_op.drop_column("token_digest")
