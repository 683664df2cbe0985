"""A run that fell back to another queue: ``grading_runs.fallback_from`` (the queue it waited on with no
live worker) and ``fell_back_at`` (when the sweeper moved it), for the student's status and the
marker's note.

Revision ID: 0019_fallback_queue
Revises: 0014_overview_changes
Create Date: 2026-12-05 07:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_fallback_queue"
down_revision: str | None = "0018_external_refs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("grading_runs") as batch_op:
        batch_op.add_column(sa.Column("fallback_from", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("fell_back_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("grading_runs") as batch_op:
        batch_op.drop_column("fell_back_at")
        batch_op.drop_column("fallback_from")
