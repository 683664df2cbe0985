"""Rendered notebooks: ``grading_runs.rendered_notebook_key``, the blob of the student's notebook as
they submitted it (their own outputs), rendered and sanitised once at grading time for markers
(``grader/notebooks/render.py``). Null: not rendered (older runs, or the notebook was unreadable).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 17:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("grading_runs") as batch:
        batch.add_column(sa.Column("rendered_notebook_key", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("grading_runs") as batch:
        batch.drop_column("rendered_notebook_key")
