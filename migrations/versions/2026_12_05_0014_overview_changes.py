"""The overview's change log: ``overview_changes``, written by triggers on every table an overview row
is read from (Postgres only; SQLite keeps an empty log and its readers read everything).

Statement-level triggers with transition tables: one log row per (coursework, student) a statement
touched, whatever code path wrote it. ``changed_xid`` is the writer's transaction id, so a reader
whose cursor is ``pg_snapshot_xmin`` of an earlier snapshot finds every change it may have missed.

Revision ID: 0014_overview_changes
Revises: 0013_model_verdicts
Create Date: 2026-12-05 04:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_overview_changes"
down_revision: str | None = "0013_model_verdicts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> SELECT (coursework_id, student_id) FROM the transition table called "changed"
SOURCES = {
    "submissions": "SELECT coursework_id, student_id FROM changed",
    "manual_marks": "SELECT coursework_id, student_id FROM changed",
    "penalty_decisions": "SELECT coursework_id, student_id FROM changed",
    "counting_choices": "SELECT coursework_id, student_id FROM changed",
    "deadline_extensions": "SELECT coursework_id, student_id FROM changed",
    "candidate_pseudonyms": "SELECT coursework_id, student_id FROM changed",
    "grading_runs": "SELECT s.coursework_id, s.student_id FROM changed c JOIN submissions s ON s.id = c.submission_id",
    "run_item_scores": (
        "SELECT s.coursework_id, s.student_id FROM changed c"
        " JOIN grading_runs r ON r.id = c.run_id JOIN submissions s ON s.id = r.submission_id"
    ),
    "run_penalties": (
        "SELECT s.coursework_id, s.student_id FROM changed c"
        " JOIN grading_runs r ON r.id = c.run_id JOIN submissions s ON s.id = r.submission_id"
    ),
    "students": "SELECT NULL::integer, id FROM changed",  # the student in every coursework
    "courseworks": "SELECT id, NULL::integer FROM changed",  # every row: deadline, rubric
    "marking_settings": "SELECT coursework_id, NULL::integer FROM changed",  # the anonymity switch
}
EVENTS = {"INSERT": "NEW TABLE AS changed", "UPDATE": "NEW TABLE AS changed", "DELETE": "OLD TABLE AS changed"}
# TRUNCATE names no rows (and RESTART IDENTITY reuses ids): every row of every coursework changed.
TRUNCATED = """
    CREATE FUNCTION overview_log_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO overview_changes (coursework_id, student_id, changed_xid)
        VALUES (NULL, NULL, pg_current_xact_id()::text::bigint);
        RETURN NULL;
    END $$
"""


def upgrade() -> None:
    op.create_table(
        "overview_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("coursework_id", sa.Integer(), nullable=True),
        sa.Column("student_id", sa.Integer(), nullable=True),
        sa.Column("changed_xid", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_overview_changes")),
    )
    op.create_index("ix_overview_changes_changed_xid", "overview_changes", ["changed_xid"], unique=False)
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(TRUNCATED)
    for table, source in SOURCES.items():
        op.execute(
            f"""
            CREATE FUNCTION overview_log_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO overview_changes (coursework_id, student_id, changed_xid)
                SELECT DISTINCT t.*, pg_current_xact_id()::text::bigint FROM ({source}) AS t;
                RETURN NULL;
            END $$
            """
        )
        for event, transition in EVENTS.items():
            op.execute(
                f"CREATE TRIGGER overview_log_{event.lower()} AFTER {event} ON {table} "
                f"REFERENCING {transition} FOR EACH STATEMENT EXECUTE FUNCTION overview_log_{table}()"
            )
        op.execute(
            f"CREATE TRIGGER overview_log_truncate AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION overview_log_truncate()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in SOURCES:
            for event in (*EVENTS, "TRUNCATE"):
                op.execute(f"DROP TRIGGER IF EXISTS overview_log_{event.lower()} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS overview_log_{table}()")
        op.execute("DROP FUNCTION IF EXISTS overview_log_truncate()")
    op.drop_index("ix_overview_changes_changed_xid", table_name="overview_changes")
    op.drop_table("overview_changes")
