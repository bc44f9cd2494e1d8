"""teleservices: signed inbound messages, the teleservice ticket and remote key-read lists, a
car's service partner, remote key reads in the key table

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 18:00:00

(0011 is another branch's; this one is rebased onto it when both land.)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.base

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # One row per accepted message, by its webhook-id: a second delivery is a replay.
    op.create_table(
        "inbound_messages",
        sa.Column("message_id", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("vin", sa.String(length=17), nullable=False),
        sa.Column("received_at", db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("processed_at", db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_inbound_messages")),
    )
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inbound_messages_vin"), ["vin"], unique=False)
    op.create_table(
        "teleservice_tickets",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("workflow_id", sa.String(length=200), nullable=False),
        sa.Column("vin", sa.String(length=17), nullable=False),
        sa.Column("workshop_id", sa.String(length=64), nullable=False),
        sa.Column("item", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("service_level", sa.String(length=16), nullable=False),
        sa.Column("opened_at", db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("appointment_at", db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("close_reason", sa.String(length=32), nullable=True),
        sa.Column("close_detail", sa.String(length=200), nullable=True),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("last_call_at", db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", db.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workshop_id"],
            ["workshops.id"],
            name=op.f("fk_teleservice_tickets_workshop_id_workshops"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teleservice_tickets")),
    )
    with op.batch_alter_table("teleservice_tickets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_teleservice_tickets_vin"), ["vin"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_teleservice_tickets_workshop_id"), ["workshop_id"], unique=False
        )
        batch_op.create_index(
            "ix_teleservice_tickets_workshop_state", ["workshop_id", "state"], unique=False
        )
    op.create_table(
        "remote_key_read_requests",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("workflow_id", sa.String(length=200), nullable=False),
        sa.Column("workshop_id", sa.String(length=64), nullable=False),
        sa.Column("vin", sa.String(length=17), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_at", db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("deadline_at", db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("key_record_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", db.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workshop_id"],
            ["workshops.id"],
            name=op.f("fk_remote_key_read_requests_workshop_id_workshops"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remote_key_read_requests")),
    )
    with op.batch_alter_table("remote_key_read_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_remote_key_read_requests_workshop_id"), ["workshop_id"], unique=False
        )
    with op.batch_alter_table("key_records", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("remote", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("vehicles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("service_partner_id", sa.String(length=64), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_vehicles_service_partner_id_workshops"),
            "workshops",
            ["service_partner_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("vehicles", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_vehicles_service_partner_id_workshops"), type_="foreignkey"
        )
        batch_op.drop_column("service_partner_id")
    with op.batch_alter_table("key_records", schema=None) as batch_op:
        batch_op.drop_column("remote")
    with op.batch_alter_table("remote_key_read_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_remote_key_read_requests_workshop_id"))
    op.drop_table("remote_key_read_requests")
    with op.batch_alter_table("teleservice_tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_teleservice_tickets_workshop_state")
        batch_op.drop_index(batch_op.f("ix_teleservice_tickets_workshop_id"))
        batch_op.drop_index(batch_op.f("ix_teleservice_tickets_vin"))
    op.drop_table("teleservice_tickets")
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbound_messages_vin"))
    op.drop_table("inbound_messages")
