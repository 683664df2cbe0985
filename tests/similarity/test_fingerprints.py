"""Fingerprints and ranking (pure): what survives renaming, reformatting and reordering, what the
skeleton takes out, and the inverted index giving the same answer as comparing every pair."""

from __future__ import annotations

import random

from similarity_kit import ALICE, CAROL, MODEL, SKELETON, TRAIN, copied, reformatted, renamed

from grader.similarity.fingerprints import WINDOW, K, fingerprint, kgram_hashes, normalise, winnow
from grader.similarity.ranking import rank_all_pairs, rank_pairs
from grader.similarity.regions import side_by_side


def overlap(a: list[str], b: list[str]) -> float:
    ha, hb = fingerprint(a).hashes, fingerprint(b).hashes
    return len(ha & hb) / min(len(ha), len(hb))


def test_names_literals_comments_and_layout_fold_away():
    assert [t.text for t in normalise("total_loss = loss_a + 2.5 * b  # why\n")] == [
        "N",
        "=",
        "N",
        "+",
        "0",
        "*",
        "N",
        ";",
    ]
    one = normalise("x = f(a, b, 'q')\n\n\ny = 3; z = [1, 2,]\n")
    other = normalise('alpha=g(\n    first,\n    second,\n    "text",\n)\ny=4\nz = [\n  7,\n  8\n]\n')
    assert [t.text for t in one] == [t.text for t in other]


def test_magics_and_broken_cells_are_read_as_far_as_they_go():
    assert [t.text for t in normalise("%matplotlib inline\n!pip install x\nx = 1\n")] == ["N", "=", "0", ";"]
    assert normalise("%%bash\necho hi\n") == []
    assert [t.text for t in normalise("x = 1\ny = '''never closed\n")][:4] == ["N", "=", "0", ";"]
    assert fingerprint(["def f(:\n    return )\n", "x = (\n"]).cells  # no exception


def test_winnowing_keeps_a_fingerprint_in_every_window():
    rng = random.Random(1)
    hashes = [rng.randrange(1000) for _ in range(500)]
    kept = winnow(hashes, WINDOW)
    assert kept == sorted(set(kept))
    for start in range(len(hashes) - WINDOW + 1):
        window = range(start, start + WINDOW)
        assert any(i in window for i in kept)
        assert min(hashes[i] for i in window) in {hashes[i] for i in kept if i in window}
    assert winnow([5, 3, 9], WINDOW) == [1]  # shorter than a window: its minimum
    assert kgram_hashes(normalise("x = 1\n")) == []  # fewer than K tokens


def test_the_hash_is_stable_across_processes():
    # Python's own hash() of a str changes with every process (PYTHONHASHSEED): stored archive
    # fingerprints would never match. These values are fixed.
    hashes = kgram_hashes(normalise("for i in range(10):\n    total += f(i) * 2\n"))
    assert len(hashes) == len(normalise("for i in range(10):\n    total += f(i) * 2\n")) - K + 1
    assert hashes[0] == kgram_hashes(normalise("for j in range(99):\n    acc += g(j) * 7\n"))[0]
    import subprocess
    import sys

    code = "from grader.similarity.fingerprints import *; print(kgram_hashes(normalise('for i in range(10):\\n    total += f(i) * 2\\n'))[0])"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONHASHSEED": "123"}
    )
    assert int(out.stdout) == hashes[0]


def test_renaming_survives():
    assert overlap([MODEL, TRAIN], [renamed(MODEL), renamed(TRAIN)]) == 1.0


def test_reformatting_survives():
    assert overlap([MODEL, TRAIN], [reformatted(MODEL), reformatted(TRAIN)]) >= 0.9


def test_reordering_cells_and_definitions_survives():
    assert overlap([MODEL, TRAIN], [TRAIN, MODEL]) == 1.0
    methods = MODEL.split("\n\n")  # the class header and __init__, then three methods: swap two
    swapped = "\n\n".join([methods[0], methods[3], methods[1], methods[2]])
    assert overlap([MODEL], [swapped]) >= 0.8


def test_everything_at_once_still_ranks_the_copy_first_and_the_skeleton_does_not_count():
    cohort = {
        "alice": fingerprint(ALICE).hashes,
        "bob": fingerprint(copied(ALICE)).hashes,
        "carol": fingerprint(CAROL).hashes,
    }
    skeleton = fingerprint(SKELETON).hashes
    ranked = rank_pairs(cohort, skeleton=skeleton, min_shared=1)
    assert (ranked[0].a, ranked[0].b) == ("alice", "bob") and ranked[0].score >= 0.8
    # Carol wrote her own answers: what she shares with them is boilerplate any PyTorch module has.
    assert all(p.score < 0.2 for p in ranked if "carol" in (p.a, p.b))
    # The given code is in all three: with the skeleton left in it counts, taken out it does not.
    with_given = {(p.a, p.b): p for p in rank_pairs(cohort, min_shared=1)}
    without = {(p.a, p.b): p for p in ranked}
    assert with_given["alice", "carol"].shared > without["alice", "carol"].shared + 5
    view = side_by_side(fingerprint(ALICE), fingerprint(CAROL), skeleton)
    assert all(m.left.cell != 0 for m in view.matches)  # nothing highlighted in the given cell


def test_the_archive_is_compared_with_this_year_only():
    cohort = {"carol": fingerprint(CAROL).hashes, "bob": fingerprint(copied(ALICE)).hashes}
    archive = {"archive-1": fingerprint(ALICE).hashes, "archive-2": fingerprint(ALICE).hashes}
    ranked = rank_pairs(cohort, archive, fingerprint(SKELETON).hashes)
    assert {(p.a, p.b) for p in ranked[:2]} == {("bob", "archive-1"), ("bob", "archive-2")}
    assert all(p.a in cohort for p in ranked)  # this year's first; never archive with archive


def test_the_index_finds_what_comparing_every_pair_finds():
    rng = random.Random(3)
    pool = [rng.randrange(10_000) for _ in range(400)]
    cohort = {f"n{i}": frozenset(rng.sample(pool, rng.randint(5, 60))) for i in range(40)}
    archive = {f"archive-{i}": frozenset(rng.sample(pool, 30)) for i in range(5)}
    skeleton = frozenset(pool[:20])
    assert rank_pairs(cohort, archive, skeleton) == rank_all_pairs(cohort, archive, skeleton)
    assert rank_pairs(cohort, archive, skeleton, min_shared=1) == rank_all_pairs(
        cohort, archive, skeleton, min_shared=1
    )


def test_side_by_side_numbers_the_shared_regions_on_both_sides():
    left, right = fingerprint(ALICE), fingerprint(copied(ALICE))
    skeleton = fingerprint(SKELETON).hashes
    view = side_by_side(left, right, skeleton)
    assert view.matches and all(m.right is not None for m in view.matches)
    assert {m.left.cell for m in view.matches} == {1, 2}  # the answers, never the given cell 0
    assert 0 not in view.left_lines and 0 not in view.right_lines
    model_match = next(m for m in view.matches if m.left.cell == 1)
    assert model_match.right is not None and model_match.right.cell == 2  # the copy swapped the cells
    assert view.left_lines[1][model_match.left.first_line] == model_match.number
    assert view.right_lines[2][model_match.right.first_line] == model_match.number
