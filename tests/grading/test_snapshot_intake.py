"""Repository snapshots (LabTS): a zip or tar of a commit, extra files allowed by the rubric and
ignored, the graded paths exact, and the hostile-archive refusals holding for tar as for zip."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import nbformat
import pytest
from crafted_zips import zipped
from rubric_factory import make_rubric

from grader.grading.intake import MAX_ZIP_MEMBERS, SubmissionError, stage_submission
from grader.notebooks.reading import notebook_from_path
from grader.notebooks.snapshot import root_member, snapshot_layout
from grader.settings import ExecutionLimits

LIMITS = ExecutionLimits(max_cells=50)
SNAPSHOT = make_rubric(submission={"notebook": "cwx.ipynb", "files": ["model.pth"], "allow_extra_files": True})
STRICT = make_rubric(submission={"notebook": "cwx.ipynb", "files": ["model.pth"]})
REPO = "jsmith-cw1-1a2b3c"  # the root folder names the student: never listed


def notebook_bytes(code: str = "x = 1") -> bytes:
    return nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])).encode()


def tarred(members: list[tuple[str, bytes]], mode: str = "w:gz", special: list[tarfile.TarInfo] = ()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for info in special:
            tf.addfile(info)
    return buf.getvalue()


def repo_files(prefix: str = f"{REPO}/") -> list[tuple[str, bytes]]:
    return [
        (f"{prefix}README.md", b"# my coursework"),
        (f"{prefix}cwx.ipynb", notebook_bytes("graded = True")),
        (f"{prefix}model.pth", b"weights"),
        (f"{prefix}drafts/cwx.ipynb", notebook_bytes("draft = True")),  # same name deeper: not graded
        (f"{prefix}.gitignore", b"*.pyc"),
    ]


def stage(tmp_path: Path, data: bytes, rubric=SNAPSHOT, name="snapshot"):
    src = tmp_path / name
    src.write_bytes(data)
    return stage_submission(src, rubric, tmp_path / "staged", LIMITS)


@pytest.mark.parametrize("pack", [zipped, tarred, lambda m: tarred(m, "w"), lambda m: tarred(m, "w:bz2")])
def test_a_snapshot_stages_exactly_the_rubric_paths_and_lists_the_rest(tmp_path, pack):
    staged = stage(tmp_path, pack(repo_files()))
    assert sorted(p.name for p in staged.folder.iterdir()) == ["cwx.ipynb", "model.pth"]  # nothing else in the sandbox
    assert b"graded = True" in staged.notebook.read_bytes()
    # Listed relative to the root, without the root folder's name (it names the student).
    assert staged.ignored == ["README.md", "drafts/cwx.ipynb", ".gitignore"]
    # The marker's reader picks the very notebook that was graded, not the draft.
    assert b"graded = True" in notebook_from_path(tmp_path / "snapshot", "cwx.ipynb", 10**6, snapshot=True)


def test_a_snapshot_at_the_archive_top_level_needs_no_root_folder(tmp_path):
    staged = stage(tmp_path, tarred(repo_files(prefix="")))
    assert staged.ignored == ["README.md", "drafts/cwx.ipynb", ".gitignore"]


def test_a_notebook_only_deeper_in_the_snapshot_is_not_graded(tmp_path):
    files = [(f"{REPO}/src/cwx.ipynb", notebook_bytes()), (f"{REPO}/model.pth", b"w")]
    with pytest.raises(SubmissionError, match="must hold cwx.ipynb at its top level"):
        stage(tmp_path, zipped(files))
    assert not (tmp_path / "staged").exists()  # a refused upload leaves nothing behind


def test_without_allow_extra_files_extra_files_are_still_refused(tmp_path):
    with pytest.raises(SubmissionError, match="unexpected .gitignore, README.md"):
        stage(tmp_path, zipped([f for f in repo_files() if "drafts" not in f[0]]), rubric=STRICT)
    with pytest.raises(SubmissionError, match="unexpected"):
        stage(tmp_path, tarred(repo_files()), rubric=STRICT)


def test_a_tar_naming_a_graded_path_twice_is_refused(tmp_path):
    files = [("cwx.ipynb", notebook_bytes("a = 1")), ("model.pth", b"w"), ("cwx.ipynb", notebook_bytes("b = 2"))]
    with pytest.raises(SubmissionError, match="more than once"):
        stage(tmp_path, tarred(files))


def _link(name: str, kind: bytes, target: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


@pytest.mark.parametrize(
    ("special", "reason"),
    [
        (_link("evil", tarfile.SYMTYPE, "/etc/passwd"), "link"),
        (_link("hard", tarfile.LNKTYPE, "cwx.ipynb"), "link"),
        (_link("dev", tarfile.CHRTYPE), "device or FIFO"),
        (_link("fifo", tarfile.FIFOTYPE), "device or FIFO"),
    ],
)
def test_links_and_devices_in_a_tar_are_refused(tmp_path, special, reason):
    data = tarred([("cwx.ipynb", notebook_bytes()), ("model.pth", b"w")], special=[special])
    with pytest.raises(SubmissionError, match=reason):
        stage(tmp_path, data)


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/cron.d/x", "a/../../b"])
def test_path_traversal_in_a_tar_is_refused(tmp_path, name):
    data = tarred([("cwx.ipynb", notebook_bytes()), ("model.pth", b"w"), (name, b"x")])
    with pytest.raises(SubmissionError, match="absolute path|'\\.\\.'"):
        stage(tmp_path, data)


def test_a_tar_gz_bomb_is_refused_by_its_declared_size_before_it_is_unpacked(tmp_path):
    # 300 MB of zeros compresses to a few hundred KB; the rubric allows 200 MB in all.
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tf:
        tf.addfile(_sized("cwx.ipynb", notebook_bytes()), io.BytesIO(notebook_bytes()))
        tf.addfile(_sized("model.pth", b"w"), io.BytesIO(b"w"))
        bomb = tarfile.TarInfo("data/zeros.bin")
        bomb.size = 300 * 2**20
        tf.addfile(bomb, _Zeros(bomb.size))
    assert len(buf.getvalue()) < 2 * 2**20
    with pytest.raises(SubmissionError, match="unpacks to more than 200 MB"):
        stage(tmp_path, buf.getvalue())


def test_too_many_members_in_a_snapshot_are_refused(tmp_path):
    files = [("cwx.ipynb", notebook_bytes()), ("model.pth", b"w")]
    files += [(f"notes/{i}.txt", b"n") for i in range(MAX_ZIP_MEMBERS)]
    with pytest.raises(SubmissionError, match=f"at most {MAX_ZIP_MEMBERS}"):
        stage(tmp_path, tarred(files))
    with pytest.raises(SubmissionError, match=f"at most {MAX_ZIP_MEMBERS}"):
        stage(tmp_path, zipped(files))


def test_the_layout_rule():
    layout = snapshot_layout(["r/a.ipynb", "r/b/a.ipynb", "r/x"], {"a.ipynb"})
    assert layout.graded == {"a.ipynb": 0} and layout.ignored == ["b/a.ipynb", "x"]
    assert root_member(["a.ipynb", "b/a.ipynb"], "a.ipynb") == 0  # two top-level entries: no root folder
    assert root_member(["r/b/a.ipynb"], "a.ipynb") is None
    odd = snapshot_layout(["a.ipynb", "x\n" + "y" * 300], {"a.ipynb"}).ignored[0]
    assert odd.startswith("x?y") and odd.endswith("...") and len(odd) == 255


def _sized(name: str, data: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info


class _Zeros(io.RawIOBase):
    def __init__(self, size: int):
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = min(len(b), self.left)
        b[:n] = bytes(n)
        self.left -= n
        return n
