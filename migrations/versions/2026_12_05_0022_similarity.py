"""Similarity: the archive of earlier years' notebooks (their code cells) per coursework.

Revision ID: 0022_similarity
Revises: 0021_oidc
Create Date: 2026-12-05 11:15:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0022_similarity"
down_revision: str | None = "0021_oidc"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "similarity_archive",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("coursework_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column(
            "cells", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["coursework_id"], ["courseworks.id"], name=op.f("fk_similarity_archive_coursework_id_courseworks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_similarity_archive")),
        sa.UniqueConstraint(
            "coursework_id", "year", "sha256", name=op.f("uq_similarity_archive_coursework_id_year_sha256")
        ),
    )
    with op.batch_alter_table("similarity_archive", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_similarity_archive_coursework_id"), ["coursework_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("similarity_archive", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_similarity_archive_coursework_id"))
    op.drop_table("similarity_archive")
