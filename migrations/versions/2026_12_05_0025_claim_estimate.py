"""The wait a run was estimated to have when it was queued, for the ETA to learn from.

``grading_runs.claim_estimate_s``: the seconds from its queueing to its claim that the estimate
(``grader.runs.eta``, uncalibrated) gave when the run was queued; null for runs queued before this
revision, for revived ones and for pre-checks (no student is shown their ETA). Recent claimed
runs' real waits over these calibrate later ETAs.

Revision ID: 0025_claim_estimate
Revises: 0024_sso_subject
Create Date: 2026-12-05 19:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025_claim_estimate"
down_revision: str | None = "0024_sso_subject"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("grading_runs") as batch:
        batch.add_column(sa.Column("claim_estimate_s", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("grading_runs") as batch:
        batch.drop_column("claim_estimate_s")
