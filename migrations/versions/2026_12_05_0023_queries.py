"""Queries after release: ``mark_queries`` (a student's query on one item of their released mark,
and its answer: the scores before and after, the change itself in ``mark_changes``) and
``query_windows`` (how many days after release a coursework takes queries; no row: none).

Revision ID: 0023_queries
Revises: 0022_similarity
Create Date: 2026-12-05 10:58:13.715546
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_queries"
down_revision: str | None = "0022_similarity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "query_windows",
        sa.Column("coursework_id", sa.Integer(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["coursework_id"], ["courseworks.id"], name=op.f("fk_query_windows_coursework_id_courseworks")
        ),
        sa.ForeignKeyConstraint(["updated_by_id"], ["users.id"], name=op.f("fk_query_windows_updated_by_id_users")),
        sa.PrimaryKeyConstraint("coursework_id", name=op.f("pk_query_windows")),
    )
    op.create_table(
        "mark_queries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("coursework_id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Uuid(), nullable=False),
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("open", "answered", name="query_status", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("raised_by_id", sa.Integer(), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("assigned_to_id", sa.Integer(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_by_id", sa.Integer(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("old_score", sa.Float(), nullable=True),
        sa.Column("new_score", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["answered_by_id"], ["users.id"], name=op.f("fk_mark_queries_answered_by_id_users")),
        sa.ForeignKeyConstraint(["assigned_to_id"], ["users.id"], name=op.f("fk_mark_queries_assigned_to_id_users")),
        sa.ForeignKeyConstraint(
            ["coursework_id"], ["courseworks.id"], name=op.f("fk_mark_queries_coursework_id_courseworks")
        ),
        sa.ForeignKeyConstraint(["raised_by_id"], ["users.id"], name=op.f("fk_mark_queries_raised_by_id_users")),
        sa.ForeignKeyConstraint(["student_id"], ["students.id"], name=op.f("fk_mark_queries_student_id_students")),
        sa.ForeignKeyConstraint(
            ["submission_id"], ["submissions.id"], name=op.f("fk_mark_queries_submission_id_submissions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mark_queries")),
    )
    with op.batch_alter_table("mark_queries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mark_queries_assigned_to_id"), ["assigned_to_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_mark_queries_coursework_id"), ["coursework_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_mark_queries_student_id"), ["student_id"], unique=False)
        batch_op.create_index(
            "uq_mark_queries_open_item",
            ["student_id", "coursework_id", "item_id"],
            unique=True,
            postgresql_where=sa.text("status = 'open'"),
            sqlite_where=sa.text("status = 'open'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("mark_queries", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_mark_queries_open_item",
            postgresql_where=sa.text("status = 'open'"),
            sqlite_where=sa.text("status = 'open'"),
        )
        batch_op.drop_index(batch_op.f("ix_mark_queries_student_id"))
        batch_op.drop_index(batch_op.f("ix_mark_queries_coursework_id"))
        batch_op.drop_index(batch_op.f("ix_mark_queries_assigned_to_id"))

    op.drop_table("mark_queries")
    op.drop_table("query_windows")
