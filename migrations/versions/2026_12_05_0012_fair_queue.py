"""Fair queue: superseded runs, and the worker registry.

``grading_runs.status`` may be ``superseded`` (a newer submission of the same student replaced the
run while it waited; ``superseded_by_id`` names that submission). ``worker_registrations``: each
worker's host, pid, queues and concurrency, with its last heartbeat, so queue positions get ETAs and
a queue with work and no live worker is reported.

Revision ID: 0012_fair_queue
Revises: 0011_artifact_items
Create Date: 2026-12-05 04:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012_fair_queue"
down_revision: str | None = "0011_artifact_items"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = ("queued", "running", "graded", "error", "cancelled")
NEW_STATUSES = (*OLD_STATUSES, "superseded")


def _status_check(statuses: tuple[str, ...]) -> str:
    return "status IN (" + ", ".join(f"'{s}'" for s in statuses) + ")"


def upgrade() -> None:
    with op.batch_alter_table("grading_runs", schema=None) as batch_op:
        batch_op.drop_constraint("run_status", type_="check")
        batch_op.create_check_constraint("run_status", _status_check(NEW_STATUSES))
        batch_op.add_column(sa.Column("superseded_by_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_grading_runs_superseded_by_id_submissions"), "submissions", ["superseded_by_id"], ["id"]
        )
    op.create_table(
        "worker_registrations",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column(
            "queues", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_worker_registrations")),
    )
    with op.batch_alter_table("worker_registrations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_worker_registrations_last_seen_at"), ["last_seen_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("worker_registrations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_worker_registrations_last_seen_at"))
    op.drop_table("worker_registrations")
    # The old schema has no such status; back in the queue one could collide with its newer live run.
    op.execute("UPDATE grading_runs SET status = 'cancelled' WHERE status = 'superseded'")
    with op.batch_alter_table("grading_runs", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_grading_runs_superseded_by_id_submissions"), type_="foreignkey")
        batch_op.drop_column("superseded_by_id")
        batch_op.drop_constraint("run_status", type_="check")
        batch_op.create_check_constraint("run_status", _status_check(OLD_STATUSES))
