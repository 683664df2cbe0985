"""Mitigating circumstances: ``mitigating_circumstances``, one row per student and coursework whose
late penalty a lecturer waived (extensions themselves have had ``deadline_extensions`` since 0001).

On Postgres the overview's change log (0014) gets a trigger on the new table, as every table an
overview row is read from has: waiving a penalty changes the row's total and late column.

Revision ID: 0015
Revises: 0014_overview_changes
Create Date: 2026-12-05 07:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_extensions"
down_revision: str | None = "0014_overview_changes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "mitigating_circumstances"
EVENTS = {"INSERT": "NEW TABLE AS changed", "UPDATE": "NEW TABLE AS changed", "DELETE": "OLD TABLE AS changed"}


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("coursework_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["coursework_id"], ["courseworks.id"], name=op.f("fk_mitigating_circumstances_coursework_id_courseworks")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"], ["users.id"], name=op.f("fk_mitigating_circumstances_recorded_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["student_id"], ["students.id"], name=op.f("fk_mitigating_circumstances_student_id_students")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mitigating_circumstances")),
        sa.UniqueConstraint(
            "student_id", "coursework_id", name=op.f("uq_mitigating_circumstances_student_id_coursework_id")
        ),
    )
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mitigating_circumstances_coursework_id"), ["coursework_id"], unique=False)
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE FUNCTION overview_log_{TABLE}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO overview_changes (coursework_id, student_id, changed_xid)
            SELECT DISTINCT t.*, pg_current_xact_id()::text::bigint
            FROM (SELECT coursework_id, student_id FROM changed) AS t;
            RETURN NULL;
        END $$
        """
    )
    for event, transition in EVENTS.items():
        op.execute(
            f"CREATE TRIGGER overview_log_{event.lower()} AFTER {event} ON {TABLE} "
            f"REFERENCING {transition} FOR EACH STATEMENT EXECUTE FUNCTION overview_log_{TABLE}()"
        )
    op.execute(
        f"CREATE TRIGGER overview_log_truncate AFTER TRUNCATE ON {TABLE} "
        "FOR EACH STATEMENT EXECUTE FUNCTION overview_log_truncate()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for event in (*EVENTS, "TRUNCATE"):
            op.execute(f"DROP TRIGGER IF EXISTS overview_log_{event.lower()} ON {TABLE}")
        op.execute(f"DROP FUNCTION IF EXISTS overview_log_{TABLE}()")
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mitigating_circumstances_coursework_id"))
    op.drop_table(TABLE)
