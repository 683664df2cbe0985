"""Throttles: sign_in_failures (failed dashboard sign-ins in a sliding window, per username and per
client address), upload_quotas (one lock row per student and coursework) and upload_attempts
(every counted upload attempt, refused ones included, for the hourly upload limit).

Revision ID: 0008_httplimits
Revises: 0007_token_views
Create Date: 2026-12-04 22:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_httplimits"
down_revision: str | None = "0007_token_views"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sign_in_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_failures")),
    )
    op.create_index("ix_sign_in_failures_username_at", "sign_in_failures", ["username", "at"], unique=False)
    op.create_index("ix_sign_in_failures_address_at", "sign_in_failures", ["address", "at"], unique=False)
    op.create_index("ix_sign_in_failures_at", "sign_in_failures", ["at"], unique=False)
    op.create_table(
        "upload_quotas",
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("coursework_id", sa.Integer(), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["coursework_id"],
            ["courseworks.id"],
            name=op.f("fk_upload_quotas_coursework_id_courseworks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["student_id"], ["students.id"], name=op.f("fk_upload_quotas_student_id_students"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("student_id", "coursework_id", name=op.f("pk_upload_quotas")),
    )
    op.create_table(
        "upload_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("coursework_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["coursework_id"],
            ["courseworks.id"],
            name=op.f("fk_upload_attempts_coursework_id_courseworks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["student_id"], ["students.id"], name=op.f("fk_upload_attempts_student_id_students"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upload_attempts")),
    )
    op.create_index(
        "ix_upload_attempts_student_coursework_at",
        "upload_attempts",
        ["student_id", "coursework_id", "at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_upload_attempts_student_coursework_at", table_name="upload_attempts")
    op.drop_table("upload_attempts")
    op.drop_table("upload_quotas")
    op.drop_index("ix_sign_in_failures_at", table_name="sign_in_failures")
    op.drop_index("ix_sign_in_failures_address_at", table_name="sign_in_failures")
    op.drop_index("ix_sign_in_failures_username_at", table_name="sign_in_failures")
    op.drop_table("sign_in_failures")
