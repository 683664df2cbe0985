"""Token views: ``api_tokens.view`` and ``webhook_endpoints.view`` (``student`` | ``staff``).

A token with the student view (every student's; a service account's by default) reads marks as
the student concerned would see them; an endpoint registered with one is sent only that. Existing
rows: GTAs' and lecturers' tokens and endpoints keep the full (staff) view; students' and service
accounts' get the student view, the safe default (a course system that needs more is given a new
token with ``grader token create NAME --view staff``).

Revision ID: 0007_token_views
Revises: 0006
Create Date: 2026-12-04 22:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_token_views"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STAFF_ROLES = "('gta', 'lecturer')"


def _view(name: str) -> sa.Column:
    return sa.Column(
        "view",
        sa.Enum("student", "staff", name=name, native_enum=False, create_constraint=True, length=32),
        nullable=False,
        server_default="student",
    )


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(_view("token_view"))
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.add_column(_view("webhook_endpoint_view"))
    op.execute(
        f"UPDATE api_tokens SET view = 'staff' WHERE user_id IN (SELECT id FROM users WHERE role IN {STAFF_ROLES})"
    )
    op.execute(
        f"UPDATE webhook_endpoints SET view = 'staff' WHERE created_by_id IN "
        f"(SELECT id FROM users WHERE role IN {STAFF_ROLES})"
    )


def downgrade() -> None:
    # The CHECK goes first: SQLite's batch copy would otherwise keep it on a table without the column.
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.drop_constraint("webhook_endpoint_view", type_="check")
        batch_op.drop_column("view")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_constraint("token_view", type_="check")
        batch_op.drop_column("view")
