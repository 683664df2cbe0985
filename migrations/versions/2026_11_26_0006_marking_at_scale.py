"""Marking at scale: comment_bank (comments kept per coursework item), marking_allocations (which
marker marks which student's work), marking_settings (the anonymous-marking switch), and the
lecturer's moderation_samples with their moderation_picks (band, marker, agreed / adjusted).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 18:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "comment_bank",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("coursework_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["coursework_id"], ["courseworks.id"], name=op.f("fk_comment_bank_coursework_id_courseworks")
        ),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_comment_bank_created_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comment_bank")),
    )
    op.create_index("ix_comment_bank_coursework_item", "comment_bank", ["coursework_id", "item_id"], unique=False)
    op.create_table(
        "marking_settings",
        sa.Column("coursework_id", sa.Integer(), nullable=False),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["coursework_id"], ["courseworks.id"], name=op.f("fk_marking_settings_coursework_id_courseworks")
        ),
        sa.ForeignKeyConstraint(["updated_by_id"], ["users.id"], name=op.f("fk_marking_settings_updated_by_id_users")),
        sa.PrimaryKeyConstraint("coursework_id", name=op.f("pk_marking_settings")),
    )
    op.create_table(
        "moderation_samples",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("coursework_id", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("percent", sa.Float(), nullable=False),
        sa.Column("minimum", sa.Integer(), nullable=False),
        sa.Column("drawn_by_id", sa.Integer(), nullable=True),
        sa.Column("drawn_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["coursework_id"], ["courseworks.id"], name=op.f("fk_moderation_samples_coursework_id_courseworks")
        ),
        sa.ForeignKeyConstraint(["drawn_by_id"], ["users.id"], name=op.f("fk_moderation_samples_drawn_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderation_samples")),
    )
    op.create_index(op.f("ix_moderation_samples_coursework_id"), "moderation_samples", ["coursework_id"], unique=False)
    op.create_table(
        "marking_allocations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("coursework_id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("marker_id", sa.Integer(), nullable=False),
        sa.Column("allocated_by_id", sa.Integer(), nullable=True),
        sa.Column("allocated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["allocated_by_id"], ["users.id"], name=op.f("fk_marking_allocations_allocated_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["coursework_id"], ["courseworks.id"], name=op.f("fk_marking_allocations_coursework_id_courseworks")
        ),
        sa.ForeignKeyConstraint(["marker_id"], ["users.id"], name=op.f("fk_marking_allocations_marker_id_users")),
        sa.ForeignKeyConstraint(
            ["student_id"], ["students.id"], name=op.f("fk_marking_allocations_student_id_students")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marking_allocations")),
        sa.UniqueConstraint(
            "coursework_id", "student_id", name=op.f("uq_marking_allocations_coursework_id_student_id")
        ),
    )
    op.create_index(op.f("ix_marking_allocations_marker_id"), "marking_allocations", ["marker_id"], unique=False)
    op.create_table(
        "moderation_picks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sample_id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Uuid(), nullable=False),
        sa.Column("band", sa.String(length=32), nullable=False),
        sa.Column("marker_id", sa.Integer(), nullable=True),
        sa.Column("total_at_draw", sa.Float(), nullable=True),
        sa.Column(
            "outcome",
            sa.Enum(
                "agreed", "adjusted", name="moderation_outcome", native_enum=False, create_constraint=True, length=32
            ),
            nullable=True,
        ),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["decided_by_id"], ["users.id"], name=op.f("fk_moderation_picks_decided_by_id_users")),
        sa.ForeignKeyConstraint(["marker_id"], ["users.id"], name=op.f("fk_moderation_picks_marker_id_users")),
        sa.ForeignKeyConstraint(
            ["sample_id"],
            ["moderation_samples.id"],
            name=op.f("fk_moderation_picks_sample_id_moderation_samples"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["student_id"], ["students.id"], name=op.f("fk_moderation_picks_student_id_students")),
        sa.ForeignKeyConstraint(
            ["submission_id"], ["submissions.id"], name=op.f("fk_moderation_picks_submission_id_submissions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderation_picks")),
        sa.UniqueConstraint("sample_id", "student_id", name=op.f("uq_moderation_picks_sample_id_student_id")),
    )


def downgrade() -> None:
    op.drop_table("moderation_picks")
    op.drop_index(op.f("ix_marking_allocations_marker_id"), table_name="marking_allocations")
    op.drop_table("marking_allocations")
    op.drop_index(op.f("ix_moderation_samples_coursework_id"), table_name="moderation_samples")
    op.drop_table("moderation_samples")
    op.drop_table("marking_settings")
    op.drop_index("ix_comment_bank_coursework_item", table_name="comment_bank")
    op.drop_table("comment_bank")
