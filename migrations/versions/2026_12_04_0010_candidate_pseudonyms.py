"""Anonymous marking: candidate_pseudonyms, each student's random label per coursework ("Candidate
041307"), drawn once and kept, in place of a keyed hash of the student's id.

Revision ID: 0010_candidate_pseudonyms
Revises: 0009_webhook_secrets_sealed
Create Date: 2026-12-04 22:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_candidate_pseudonyms"
down_revision: str | None = "0009_webhook_secrets_sealed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "candidate_pseudonyms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("coursework_id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["coursework_id"], ["courseworks.id"], name=op.f("fk_candidate_pseudonyms_coursework_id_courseworks")
        ),
        sa.ForeignKeyConstraint(
            ["student_id"], ["students.id"], name=op.f("fk_candidate_pseudonyms_student_id_students")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_candidate_pseudonyms")),
        sa.UniqueConstraint("coursework_id", "label", name=op.f("uq_candidate_pseudonyms_coursework_id_label")),
        sa.UniqueConstraint(
            "coursework_id", "student_id", name=op.f("uq_candidate_pseudonyms_coursework_id_student_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("candidate_pseudonyms")
