"""Model verdicts: the pre-check's verdict on a model file, by (sha256, verdict version), reused instead
of loading the same bytes again (``grader.grading.model_verdicts``).

Chained onto 0011 on this branch so that its history is whole; the fair queue's 0012 comes first on
main (down_revision "0012_fair_queue" there).

Revision ID: 0013_model_verdicts
Revises: 0012_fair_queue
Create Date: 2026-12-05 04:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_model_verdicts"
down_revision: str | None = "0012_fair_queue"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "model_verdicts",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("loads", sa.Boolean(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=True),
        sa.Column("parameters", sa.BigInteger(), nullable=True),
        sa.Column("tensors", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", "version", name=op.f("pk_model_verdicts")),
    )


def downgrade() -> None:
    op.drop_table("model_verdicts")
