"""External references and ignored files on submissions: the course system's own reference (CATe's
submission id, or LabTS's repository URL and commit SHA), looked up by an index each; and the files
of a repository snapshot that the rubric allowed but did not grade (a JSON list, for the marker).

Revision ID: 0018_external_refs
Revises: 0014_overview_changes
Create Date: 2026-12-05 07:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0018_external_refs"
down_revision: str | None = "0017_tutorials"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("cate_submission_id", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("labts_repository", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("labts_commit", sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column(
                "ignored_files",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
    op.create_index("ix_submissions_cate_submission_id", "submissions", ["cate_submission_id"])
    op.create_index("ix_submissions_labts_commit", "submissions", ["labts_commit"])


def downgrade() -> None:
    op.drop_index("ix_submissions_labts_commit", table_name="submissions")
    op.drop_index("ix_submissions_cate_submission_id", table_name="submissions")
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("ignored_files")
        batch.drop_column("labts_commit")
        batch.drop_column("labts_repository")
        batch.drop_column("cate_submission_id")
