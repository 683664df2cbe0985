"""Zips at the upload API: the notebook graded and compared for duplicates is the member the
rubric names (junk and decoys set aside), a zip naming it twice is refused naming both, and crafted
zips (damaged, encrypted, odd methods, lying sizes) get 422 with a reason, storing nothing."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest
from api_kit import notebook, upload
from crafted_zips import truncated_member, with_crc, with_flag, with_method, with_sizes, zipped
from sqlalchemy import func, select

from grader.submissions.models import Submission, SubmissionFile

API = "/api/v1"
REAL = notebook("answer = 'the real one'")
DECOY = notebook("answer = 'a decoy for the marker'")

DECOYS_FIRST = {
    "in .ipynb_checkpoints": [(".ipynb_checkpoints/cwa.ipynb", DECOY), ("cwa.ipynb", REAL)],
    "in __MACOSX": [("__MACOSX/cwa.ipynb", DECOY), ("cwa.ipynb", REAL)],
    "a nested checkpoint": [("work/.ipynb_checkpoints/cwa-checkpoint.ipynb", DECOY), ("work/cwa.ipynb", REAL)],
}


def stored(settings, sessions) -> tuple[int, list[Path]]:
    with sessions() as s:
        rows = s.scalar(select(func.count(Submission.id)))
    root = settings.blob_dir
    blobs = [p for p in root.rglob("*") if p.is_file() and ".tmp" not in p.parts] if root.exists() else []
    return rows, blobs


@pytest.mark.parametrize("members", DECOYS_FIRST.values(), ids=DECOYS_FIRST.keys())
def test_the_notebook_graded_and_compared_is_the_real_one_never_a_decoy_placed_first(client, people, sessions, members):
    # bob hands in the real notebook itself; alice zips a decoy first and then bob's notebook.
    bob = upload(client, people.headers["other"], REAL)
    assert bob.status_code == 201, bob.text
    alice = upload(client, people.headers["student"], zipped(members), name="cwa.zip")
    assert alice.status_code == 201, alice.text
    with sessions() as s:
        files = dict(
            s.execute(
                select(SubmissionFile.path, SubmissionFile.sha256).where(
                    SubmissionFile.submission_id == uuid.UUID(alice.json()["id"])
                )
            ).all()
        )
    assert files == {"cwa.ipynb": hashlib.sha256(REAL).hexdigest()}  # what intake staged for the judge
    groups = client.get(f"{API}/courseworks/cwa/duplicates", headers=people.headers["lecturer"]).json()["groups"]
    assert [(g["sha256"], sorted(h["submission_id"] for h in g["submissions"])) for g in groups] == [
        (hashlib.sha256(REAL).hexdigest(), sorted([bob.json()["id"], alice.json()["id"]]))
    ]


def test_an_honest_zip_with_checkpoints_and_mac_junk_goes_through(client, people, sessions):
    members = [
        ("cw/.ipynb_checkpoints/cwa-checkpoint.ipynb", DECOY),
        ("__MACOSX/cw/._cwa.ipynb", b"\x00\x05\x16\x07"),
        ("cw/.DS_Store", b"\x00\x00\x00\x01Bud1"),
        ("cw/cwa.ipynb", REAL),
    ]
    r = upload(client, people.headers["student"], zipped(members), name="cw.zip")
    assert r.status_code == 201, r.text


TWO_MATCHES = {
    "at another depth": [("old/cwa.ipynb", DECOY), ("cwa.ipynb", REAL)],
    "in a folder merely named like junk": [("notes.DS_Store/cwa.ipynb", DECOY), ("cwa.ipynb", REAL)],
}


@pytest.mark.parametrize("members", TWO_MATCHES.values(), ids=TWO_MATCHES.keys())
def test_a_zip_holding_the_notebooks_name_twice_is_refused_naming_both(client, people, settings, sessions, members):
    r = upload(client, people.headers["student"], zipped(members), name="cwa.zip")
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert f"{members[0][0]!r} and {members[1][0]!r}" in detail and "more than once" in detail
    assert stored(settings, sessions) == (0, [])


CRAFTED = {
    "encrypted": (lambda z: with_flag(z, "cwa.ipynb", 0x1), "is encrypted"),
    "Deflate64": (lambda z: with_method(z, "cwa.ipynb", 9), "compressed with deflate64"),
    "an unknown method": (lambda z: with_method(z, "cwa.ipynb", 77), "compressed with method 77"),
    "a bad CRC": (lambda z: with_crc(z, "cwa.ipynb", 0xDEADBEEF), "damaged"),
    "a size that lies": (lambda z: with_sizes(z, "cwa.ipynb", 50), "damaged"),
    "a bomb by declared size": (lambda z: with_sizes(z, "cwa.ipynb", 900 * 2**20), "unpacks to 900 MB"),
    "data past its entry": (lambda z: truncated_member(z, "cwa.ipynb"), "damaged"),
}


@pytest.mark.parametrize(("craft", "reason"), CRAFTED.values(), ids=CRAFTED.keys())
def test_crafted_zips_get_422_with_a_reason_and_store_nothing(client, people, settings, sessions, craft, reason):
    r = upload(client, people.headers["student"], craft(zipped([("cwa.ipynb", REAL)])), name="cwa.zip")
    assert r.status_code == 422, r.text
    assert reason in r.json()["detail"] and r.json()["detail"].startswith("your submission was not accepted")
    assert stored(settings, sessions) == (0, [])


def test_a_zip_bomb_by_ratio_within_the_size_cap_is_read_no_further_than_the_cap(client, people, settings, sessions):
    # 40 MB of zeros deflate to ~40 KB: the upload is small, the declared size far over the 1 MB cap.
    r = upload(
        client,
        people.headers["student"],
        zipped([("cwa.ipynb", REAL), ("zeros.bin", bytes(40 * 2**20))]),
        name="cwa.zip",
    )
    assert r.status_code == 422 and "unpacks to 40 MB; at most 1 MB" in r.json()["detail"], r.text
    assert stored(settings, sessions) == (0, [])
