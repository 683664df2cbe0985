"""Single sign-on: the sign-ins under way between the redirect to the provider and its callback.

``sign_on_requests``: one row per redirect (the sha256 of its state, the nonce, the PKCE verifier,
where to go next), deleted when its callback comes or once expired.

Revision ID: 0021_oidc
Revises: 0020_regrade_preview
Create Date: 2026-12-05 11:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_oidc"
down_revision: str | None = "0020_regrade_preview"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sign_on_requests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("state_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("nonce", sa.String(128), nullable=False),
        sa.Column("code_verifier", sa.String(128), nullable=False),
        sa.Column("next_url", sa.String(2000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_sign_on_requests_expires_at", "sign_on_requests", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_sign_on_requests_expires_at", table_name="sign_on_requests")
    op.drop_table("sign_on_requests")
