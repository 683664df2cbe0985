"""Deadline night: how long extending the whole cohort's deadline takes (``extend_cohort``).

    .venv/bin/python bench/cohort_extension.py [--students 600] [--submissions 2] [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]

On a scratch Postgres database (created, migrated, dropped) it enrols ``--students`` students, each
with ``--submissions`` submissions around a deadline an hour ago (some late), then extends the cohort
twice (+2 h, then +3 h: every student's extension granted, then changed) and prints the time of each,
with the counts the action reports. Each student's change goes through the one-student path
(``stage_extension``: the late minutes of their submissions recomputed, an audit event), in one commit.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from grader.courseworks.cohort_extension import extend_cohort
from grader.courseworks.models import Coursework
from grader.db.engine import make_engine, session_factory
from grader.db.migrate import upgrade
from grader.roster.models import Student
from grader.submissions.models import Submission

SCRATCH = "grader_bench_cohort"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=600)
    parser.add_argument("--submissions", type=int, default=2)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
    url = make_url(args.pg).set(database=SCRATCH).render_as_string(hide_password=False)
    with admin.connect() as c:
        c.execute(text(f"DROP DATABASE IF EXISTS {SCRATCH}"))
        c.execute(text(f"CREATE DATABASE {SCRATCH}"))
    try:
        upgrade(url)
        engine = make_engine(url)
        sessions = session_factory(engine)
        deadline = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)
        with sessions() as s:
            cw = Coursework(
                code="cw2", title="CW2", weight=0.6, rubric_version="1", rubric_digest="0" * 64,
                hidden_digest="0" * 64, deadline=deadline,
            )  # fmt: skip
            s.add(cw)
            s.flush()
            for n in range(args.students):
                student = Student(external_id=f"s{n}", name=f"Student {n}")
                s.add(student)
                s.flush()
                for k in range(args.submissions):
                    received = deadline + dt.timedelta(minutes=(n % 90) - 45 + k)
                    s.add(
                        Submission(
                            coursework_id=cw.id, student_id=student.id, sha256="a" * 64, size_bytes=1,
                            original_filename="cw2.ipynb", blob_key="bench", received_at=received,
                            late_minutes=max(0, int((received - deadline).total_seconds() // 60)),
                        )
                    )  # fmt: skip
            s.commit()
            for hours in (2, 3):
                row = s.get_one(Coursework, cw.id)
                start = time.perf_counter()
                done = extend_cohort(
                    session=s,
                    coursework=row,
                    deadline=deadline + dt.timedelta(hours=hours),
                    reason="bench",
                    actor_id=None,
                )
                took = time.perf_counter() - start
                print(
                    f"+{hours} h: {took:.2f} s for {args.students} students ({args.students * args.submissions} "
                    f"submissions): granted {done.granted}, kept {done.kept}, still late {done.late_submissions}"
                )
        engine.dispose()
    finally:
        with admin.connect() as c:
            c.execute(text(f"DROP DATABASE IF EXISTS {SCRATCH}"))


if __name__ == "__main__":
    main()
