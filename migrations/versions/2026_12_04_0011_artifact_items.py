"""Artifact items: ``run_artifacts.item_id``, the rubric item whose hidden test drew the PNG.

The item's visibility decides whether and when a student sees the artifact (docs/security.md's table: a
hidden item's output never). Existing rows get NULL, "no item": only markers see them, since which
test drew them was not recorded.

Revision ID: 0011_artifact_items
Revises: 0010_candidate_pseudonyms
Create Date: 2026-12-04 22:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_artifact_items"
down_revision: str | None = "0010_candidate_pseudonyms"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("run_artifacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("item_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("run_artifacts", schema=None) as batch_op:
        batch_op.drop_column("item_id")
