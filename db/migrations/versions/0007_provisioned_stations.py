"""stations provisioned before a workshop claims them

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 14:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A station's worker may be set up (token issued, polling through the gateway) before a
    # workshop claims the station: `make dev`'s demo-1, or a PC the portal prepares.
    with op.batch_alter_table("stations", schema=None) as batch_op:
        batch_op.alter_column("workshop_id", existing_type=sa.String(length=64), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM stations WHERE workshop_id IS NULL")
    with op.batch_alter_table("stations", schema=None) as batch_op:
        batch_op.alter_column("workshop_id", existing_type=sa.String(length=64), nullable=False)
