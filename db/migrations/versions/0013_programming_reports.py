"""programming reports: the signed proof of each ended programming session, kept as signed

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.base

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "programming_reports",
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("workshop_id", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("signed_at", db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("document", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_programming_reports")),
    )
    with op.batch_alter_table("programming_reports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_programming_reports_workshop_id"), ["workshop_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("programming_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_programming_reports_workshop_id"))
    op.drop_table("programming_reports")
