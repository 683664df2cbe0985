"""Webhook secrets sealed at rest: ``webhook_endpoints.secret`` becomes TEXT (a Fernet token is
longer than the secret) and every secret already stored is encrypted in place.

The key is derived from the service's ``secret_key``: the one ``grader.db.migrate.upgrade`` hands
in (``config.attributes["secret_key"]``), else the settings' (GRADER_SECRET_KEY). The derivation
is copied from grader/webhooks/sealing.py, not imported (a migration must not change when the
application does): the two must stay the same. A value that is already a token under this key is
left alone, so running this over a partly sealed table is safe. Downgrading opens them again.

Revision ID: 0009_webhook_secrets_sealed
Revises: 0008_httplimits
Create Date: 2026-12-04 22:00:00.000000
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

revision: str = "0009_webhook_secrets_sealed"
down_revision: str | None = "0008_httplimits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY_PURPOSE = b"grader webhook secrets v1"
endpoints = sa.table("webhook_endpoints", sa.column("id", sa.Integer), sa.column("secret", sa.Text))


def _fernet() -> Fernet:
    secret_key = op.get_context().config.attributes.get("secret_key")
    if secret_key is None:
        from grader.settings import get_settings

        secret_key = get_settings().secret_key
    if not secret_key:
        raise RuntimeError(
            "webhook endpoints exist and their secrets are sealed with the service's secret key, "
            "but none is set: set GRADER_SECRET_KEY and run the upgrade again."
        )
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=KEY_PURPOSE).derive(secret_key.encode("utf-8"))
    return Fernet(base64.urlsafe_b64encode(raw))


def _is_sealed(fernet: Fernet, value: str) -> bool:
    try:
        fernet.decrypt(value.encode("ascii"))
        return True
    except (InvalidToken, UnicodeError):
        return False


def upgrade() -> None:
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.alter_column("secret", existing_type=sa.String(length=200), type_=sa.Text(), existing_nullable=False)
    conn = op.get_bind()
    rows = conn.execute(sa.select(endpoints.c.id, endpoints.c.secret)).all()
    if not rows:
        return  # nothing to seal: the key is not needed
    fernet = _fernet()
    for row_id, secret in rows:
        if not _is_sealed(fernet, secret):
            sealed = fernet.encrypt(secret.encode("utf-8")).decode("ascii")
            conn.execute(endpoints.update().where(endpoints.c.id == row_id).values(secret=sealed))


def downgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(endpoints.c.id, endpoints.c.secret)).all()
    fernet = _fernet() if rows else None
    for row_id, sealed in rows:
        try:
            secret = fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            continue  # already in clear (or under another key: left as it is, it was never usable)
        conn.execute(endpoints.update().where(endpoints.c.id == row_id).values(secret=secret))
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.alter_column("secret", existing_type=sa.Text(), type_=sa.String(length=200), existing_nullable=False)
