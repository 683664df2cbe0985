"""Single sign-on follow-ups: accounts bound to the provider's subject, and sign-ins under way
counted per client address.

``users.sso_issuer`` / ``users.sso_subject``: the issuer and ``sub`` of the person bound to the
account at their first sign-in (unique together: one account per person at the provider).
``sign_on_requests.address``: the client address that started the sign-in (GET /login/sso is
throttled per address, and the table is capped).

Revision ID: 0024_sso_subject
Revises: 0023_queries
Create Date: 2026-12-05 11:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024_sso_subject"
down_revision: str | None = "0023_queries"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("sso_issuer", sa.String(500), nullable=True))
        batch.add_column(sa.Column("sso_subject", sa.String(255), nullable=True))
        batch.create_unique_constraint("uq_users_sso_subject", ["sso_issuer", "sso_subject"])
    with op.batch_alter_table("sign_on_requests") as batch:
        batch.add_column(sa.Column("address", sa.String(64), nullable=False, server_default=""))
    op.create_index("ix_sign_on_requests_address_expires_at", "sign_on_requests", ["address", "expires_at"])


def downgrade() -> None:
    op.drop_index("ix_sign_on_requests_address_expires_at", table_name="sign_on_requests")
    with op.batch_alter_table("sign_on_requests") as batch:
        batch.drop_column("address")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_users_sso_subject", type_="unique")
        batch.drop_column("sso_subject")
        batch.drop_column("sso_issuer")
