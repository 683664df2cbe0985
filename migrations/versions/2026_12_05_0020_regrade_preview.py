"""Regrade previews: each run records its rubric's digest beside its hidden suite's, and a lecturer's
regrade of a coursework on a fixed suite is staged until applied.

``regrade_previews``: one row per preview (the digests it was made on, who made it, who applied or
discarded it). ``grading_runs.preview_id`` names a preview's runs; ``grading_runs.staged`` is true
while their results must stand for nothing. The live-run unique index gains ``staged``, so a staged
run can wait beside the submission's ordinary one.

Revision ID: 0020_regrade_preview
Revises: 0014_overview_changes
Create Date: 2026-12-05 07:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_regrade_preview"
down_revision: str | None = "0019_fallback_queue"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("status IN ('queued', 'running')")
PENDING = sa.text("status = 'pending'")
STATUSES = ("pending", "applied", "discarded")


def upgrade() -> None:
    op.create_table(
        "regrade_previews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("coursework_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(*STATUSES, name="preview_status", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("hidden_digest", sa.String(length=64), nullable=False),
        sa.Column("rubric_digest", sa.String(length=64), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["coursework_id"], ["courseworks.id"], name=op.f("fk_regrade_previews_coursework_id_courseworks")
        ),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_regrade_previews_created_by_id_users")),
        sa.ForeignKeyConstraint(["decided_by_id"], ["users.id"], name=op.f("fk_regrade_previews_decided_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_regrade_previews")),
    )
    with op.batch_alter_table("regrade_previews", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_regrade_previews_coursework_id"), ["coursework_id"], unique=False)
        batch_op.create_index(
            "uq_regrade_previews_pending_coursework",
            ["coursework_id"],
            unique=True,
            postgresql_where=PENDING,
            sqlite_where=PENDING,
        )
    with op.batch_alter_table("grading_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rubric_digest", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("preview_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("staged", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_foreign_key(
            batch_op.f("fk_grading_runs_preview_id_regrade_previews"), "regrade_previews", ["preview_id"], ["id"]
        )
        batch_op.create_index(batch_op.f("ix_grading_runs_preview_id"), ["preview_id"], unique=False)
        batch_op.drop_index("uq_grading_runs_live_submission_kind", postgresql_where=LIVE, sqlite_where=LIVE)
        batch_op.create_index(
            "uq_grading_runs_live_submission_kind",
            ["submission_id", "kind", "staged"],
            unique=True,
            postgresql_where=LIVE,
            sqlite_where=LIVE,
        )


def downgrade() -> None:
    # The old schema knows no staged runs: those still waiting could collide with a live ordinary run.
    op.execute("UPDATE grading_runs SET status = 'cancelled' WHERE staged AND status IN ('queued', 'running')")
    with op.batch_alter_table("grading_runs", schema=None) as batch_op:
        batch_op.drop_index("uq_grading_runs_live_submission_kind", postgresql_where=LIVE, sqlite_where=LIVE)
        batch_op.create_index(
            "uq_grading_runs_live_submission_kind",
            ["submission_id", "kind"],
            unique=True,
            postgresql_where=LIVE,
            sqlite_where=LIVE,
        )
        batch_op.drop_index(batch_op.f("ix_grading_runs_preview_id"))
        batch_op.drop_constraint(batch_op.f("fk_grading_runs_preview_id_regrade_previews"), type_="foreignkey")
        batch_op.drop_column("staged")
        batch_op.drop_column("preview_id")
        batch_op.drop_column("rubric_digest")
    with op.batch_alter_table("regrade_previews", schema=None) as batch_op:
        batch_op.drop_index("uq_regrade_previews_pending_coursework", postgresql_where=PENDING, sqlite_where=PENDING)
        batch_op.drop_index(batch_op.f("ix_regrade_previews_coursework_id"))
    op.drop_table("regrade_previews")
