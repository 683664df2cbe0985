"""Exam marks and the module mark's release: ``exam_marks`` (one current mark per student, 0..100)
and ``module_releases`` (the lecturer's release of module marks to students).

Revision ID: 0016
Revises: 0014_overview_changes
Create Date: 2026-12-05 07:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_exam_marks"
down_revision: str | None = "0015_extensions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "exam_marks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("mark", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("imported_by_id", sa.Integer(), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("mark >= 0 AND mark <= 100", name=op.f("ck_exam_marks_mark_range")),
        sa.ForeignKeyConstraint(["imported_by_id"], ["users.id"], name=op.f("fk_exam_marks_imported_by_id_users")),
        sa.ForeignKeyConstraint(["student_id"], ["students.id"], name=op.f("fk_exam_marks_student_id_students")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exam_marks")),
        sa.UniqueConstraint("student_id", name=op.f("uq_exam_marks_student_id")),
    )
    op.create_table(
        "module_releases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("released_by_id", sa.Integer(), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["released_by_id"], ["users.id"], name=op.f("fk_module_releases_released_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_module_releases")),
    )


def downgrade() -> None:
    op.drop_table("module_releases")
    op.drop_table("exam_marks")
