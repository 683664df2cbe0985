"""Run artifacts: the PNGs hidden tests draw (the judge's ``artifacts`` fixture), kept per run.

run_artifacts (run, name, title, media type, the blob key, its sha256 and size), written in the
transaction that records the run's result; deleted with the run.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 14:05:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "run_artifacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("blob_key", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["grading_runs.id"], name=op.f("fk_run_artifacts_run_id_grading_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_artifacts")),
        sa.UniqueConstraint("run_id", "name", name=op.f("uq_run_artifacts_run_id_name")),
    )


def downgrade() -> None:
    op.drop_table("run_artifacts")
