"""The marking page shows a marker exactly the graded files, a snapshot's ignored files and the
course system's reference; a GTA marking anonymously sees no reference (HTTP level)."""

from __future__ import annotations

import uuid

from sqlalchemy import update
from web_kit import grade, notebook, sign_in, upload

from grader.submissions.models import Submission

REPO = "https://gitlab.doc.ic.ac.uk/lab2526_spring/cwa_alice.git"


def test_the_marking_page_lists_graded_and_ignored_files_and_the_reference(client, people, sessions):
    csrf = sign_in(client, "alice")
    reply = upload(client, csrf, notebook())
    assert reply.status_code == 303, reply.text
    sub = uuid.UUID(reply.headers["location"].rsplit("/", 1)[1])
    grade(sessions, client.app.state.courseworks["cwa"].rubric, sub)
    with sessions() as s:  # as LabTS would have sent it (the API test sends it for real)
        s.execute(
            update(Submission)
            .where(Submission.id == sub)
            .values(
                cate_submission_id="cate-42",
                labts_repository=REPO,
                labts_commit="ab" * 20,
                ignored_files=["README.md", "train.py"],
            )
        )
        s.commit()

    sign_in(client, "lee")
    page = client.get(f"/staff/submissions/{sub}")
    assert page.status_code == 200, page.text
    assert 'data-testid="graded-files">Graded: cwa.ipynb' in page.text
    assert '<span data-testid="ignored-files">README.md, train.py</span>' in page.text
    assert "CATe submission cate-42" in page.text and REPO in page.text

    lee_csrf = sign_in(client, "lee")
    anonymous = client.post(
        "/lecturer/courseworks/cwa/anonymous", data={"csrf_token": lee_csrf, "anonymous": "1"}, follow_redirects=False
    )
    assert anonymous.status_code == 303
    sign_in(client, "gina")
    page = client.get(f"/staff/submissions/{sub}")
    assert page.status_code == 200, page.text
    assert "cate-42" not in page.text and REPO not in page.text and 'data-testid="external-ref"' not in page.text
    assert "README.md, train.py" in page.text  # the ignored files are still listed
