"""Tutorials: a coursework of weight 0 is unassessed, so the weight check allows 0.

Revision ID: 0017_tutorials
Revises: 0014_overview_changes
Create Date: 2026-12-05 07:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0017_tutorials"
down_revision: str | None = "0016_exam_marks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # batch mode: SQLite cannot alter a constraint, so the table is copied with the new one.
    with op.batch_alter_table("courseworks", schema=None) as batch_op:
        batch_op.drop_constraint("weight_range", type_="check")
        batch_op.create_check_constraint("weight_range", "weight >= 0 AND weight <= 1")


def downgrade() -> None:
    # The old check refuses weight 0: the tutorials' rows (and what hangs off them) would block it.
    # Refuse plainly rather than delete a term's practice submissions.
    bind = op.get_bind()
    count = bind.exec_driver_sql("SELECT count(*) FROM courseworks WHERE weight = 0").scalar()
    if count:
        raise RuntimeError(
            f"{count} unassessed coursework(s) (weight 0) exist; the schema before 0017 cannot hold them. "
            "Remove them first."
        )
    with op.batch_alter_table("courseworks", schema=None) as batch_op:
        batch_op.drop_constraint("weight_range", type_="check")
        batch_op.create_check_constraint("weight_range", "weight > 0 AND weight <= 1")
