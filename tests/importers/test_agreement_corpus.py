"""The agreement corpus itself (bench/peer_corpus/agreement.py), without the tools or the sandbox: each
assignment in its tool's format with hidden tests and a manual question, 20 valid student notebooks
each, and the expected scores as built. The tools grading it: test_agreement.py."""

from __future__ import annotations

from pathlib import Path

import nbformat
from peer_tools import corpus


def test_twenty_valid_students_per_tool_and_the_sources(tmp_path: Path):
    sources = corpus.write_corpus(tmp_path)
    for tool, source in sources.items():
        nbformat.validate(nbformat.read(source, as_version=4))
        students = sorted((source.parent / "students").glob("*.ipynb"))
        assert [p.stem for p in students] == [s.name for s in corpus.STUDENTS] and len(students) == 20, tool
        for path in students:
            nbformat.validate(nbformat.read(path, as_version=4))


def test_the_nbgrader_source_has_hidden_tests_and_a_manual_cell_the_release_has_neither():
    meta = [c.metadata.get("nbgrader", {}) for c in corpus.nbgrader_source().cells]
    tests = [
        c
        for c in corpus.nbgrader_source().cells
        if c.metadata.get("nbgrader", {}).get("grade_id", "").endswith("_test")
    ]
    assert [m["grade_id"] for m in meta if m.get("grade") and not m.get("solution")] == list(
        corpus.NBGRADER_ITEMS.values()
    )
    assert all("### BEGIN HIDDEN TESTS" in c.source for c in tests)
    assert any(m.get("grade") and m.get("solution") for m in meta)  # the manual written answer
    release = nbformat.writes(corpus.nbgrader_release())
    assert "BEGIN HIDDEN TESTS" not in release and "BEGIN SOLUTION" not in release


def test_the_otter_master_records_the_right_answers_output_and_hides_cases():
    master = corpus.otter_master()
    raw = [c.source for c in master.cells if c.cell_type == "raw"]
    assert raw[0].startswith("# ASSIGNMENT CONFIG") and any("manual: true" in r for r in raw)
    tests = [c for c in master.cells if c.cell_type == "code" and c.get("outputs")]
    assert len(tests) == sum(len(v) for v in corpus.OTTER_CASES.values())
    assert sum(c.source.startswith("# HIDDEN") for c in tests) == 6
    assert tests[0].outputs[0]["data"]["text/plain"] == "[0.6, 0.8]"
    assert "BEGIN SOLUTION" not in nbformat.writes(corpus.otter_release())


def test_expected_scores_as_built():
    s = corpus.BY_NAME
    for tool in ("nbgrader", "otter"):
        full = corpus.max_scores(tool)
        assert corpus.expected(tool, s["s01"]) == full == corpus.expected(tool, s["s20"])
        assert corpus.expected(tool, s["s12"]) == {q: 0.0 for q in corpus.QIDS}
        # the looping, crashing and unparsable cells lose their own question only
        assert corpus.expected(tool, s["s15"]) == {**full, "q2": 0.0} == corpus.expected(tool, s["s14"])
        assert corpus.expected(tool, s["s16"]) == {**full, "q3": 0.0}
        # the monkeypatch forges full marks in the tool, not in grader
        assert corpus.expected(tool, s["s19"]) == full
        assert all(v < full[q] for q, v in corpus.grader_expected(tool, s["s19"]).items())
    assert corpus.expected("nbgrader", s["s18"]) == {q: 0.0 for q in corpus.QIDS}
    assert corpus.grader_expected("nbgrader", s["s18"])["q3"] == 2.0
