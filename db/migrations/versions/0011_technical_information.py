"""technical information: documents, applicability, versions, texts per language, the
full-text index, the reading record and SERMI approvals

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.base
from db.document_search import create_index_statements, drop_index_statements, run_statements

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tech_documents",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("doc_type", sa.String(length=32), nullable=False),
        sa.Column("system_group", sa.String(length=32), nullable=False),
        sa.Column("security_related", sa.Boolean(), nullable=False),
        sa.Column("action_id", sa.String(length=20), nullable=True),
        sa.Column("created_at", db.base.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tech_documents")),
    )
    with op.batch_alter_table("tech_documents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tech_documents_doc_type"), ["doc_type"])
        batch_op.create_index(batch_op.f("ix_tech_documents_system_group"), ["system_group"])
        batch_op.create_index(batch_op.f("ix_tech_documents_action_id"), ["action_id"])

    op.create_table(
        "tech_document_applicability",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.String(length=40), nullable=False),
        sa.Column("series", sa.String(length=20), nullable=False),
        sa.Column("type_code", sa.String(length=20), nullable=True),
        sa.Column("produced_from", sa.Date(), nullable=True),
        sa.Column("produced_until", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["tech_documents.id"],
            name=op.f("fk_tech_document_applicability_document_id_tech_documents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tech_document_applicability")),
    )
    with op.batch_alter_table("tech_document_applicability", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tech_document_applicability_document_id"), ["document_id"]
        )
        batch_op.create_index("ix_tech_document_applicability_series_type", ["series", "type_code"])

    op.create_table(
        "tech_document_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("change_note", sa.String(length=500), nullable=False),
        sa.Column("published_at", db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("superseded_by_version", sa.Integer(), nullable=True),
        sa.Column("created_at", db.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["tech_documents.id"],
            name=op.f("fk_tech_document_versions_document_id_tech_documents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tech_document_versions")),
        sa.UniqueConstraint(
            "document_id", "version", name=op.f("uq_tech_document_versions_document_id")
        ),
    )
    with op.batch_alter_table("tech_document_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tech_document_versions_document_id"), ["document_id"])
        batch_op.create_index(batch_op.f("ix_tech_document_versions_state"), ["state"])

    op.create_table(
        "tech_document_texts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("svg", sa.Text(), nullable=True),
        sa.Column("search_tags", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["tech_document_versions.id"],
            name=op.f("fk_tech_document_texts_version_id_tech_document_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tech_document_texts")),
        sa.UniqueConstraint(
            "version_id", "language", name=op.f("uq_tech_document_texts_version_id")
        ),
    )
    with op.batch_alter_table("tech_document_texts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tech_document_texts_version_id"), ["version_id"])

    op.create_table(
        "tech_document_views",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("workshop_id", sa.String(length=64), nullable=True),
        sa.Column("document_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("viewed_at", db.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_tech_document_views_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["workshop_id"],
            ["workshops.id"],
            name=op.f("fk_tech_document_views_workshop_id_workshops"),
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["tech_documents.id"],
            name=op.f("fk_tech_document_views_document_id_tech_documents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tech_document_views")),
    )
    with op.batch_alter_table("tech_document_views", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tech_document_views_user_id"), ["user_id"])
        batch_op.create_index(batch_op.f("ix_tech_document_views_workshop_id"), ["workshop_id"])
        batch_op.create_index(batch_op.f("ix_tech_document_views_document_id"), ["document_id"])
        batch_op.create_index(batch_op.f("ix_tech_document_views_viewed_at"), ["viewed_at"])

    op.create_table(
        "sermi_approvals",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("certificate_reference", sa.String(length=64), nullable=False),
        sa.Column("expires_at", db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_sermi_approvals_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"], ["users.id"], name=op.f("fk_sermi_approvals_recorded_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sermi_approvals")),
    )
    with op.batch_alter_table("sermi_approvals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sermi_approvals_user_id"), ["user_id"])

    # The full-text index: FTS5 on SQLite, tsvector + GIN on PostgreSQL (db.document_search).
    run_statements(op.get_bind(), create_index_statements(op.get_bind().dialect.name))


def downgrade() -> None:
    run_statements(op.get_bind(), drop_index_statements(op.get_bind().dialect.name))
    op.drop_table("sermi_approvals")
    op.drop_table("tech_document_views")
    op.drop_table("tech_document_texts")
    op.drop_table("tech_document_versions")
    op.drop_table("tech_document_applicability")
    op.drop_table("tech_documents")
