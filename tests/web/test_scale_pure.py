"""The pure parts of marking at scale: cutting an item's answer out of a notebook by its heading,
the even allocation, mark bands and the stratified moderation sample."""

from __future__ import annotations

from collections import Counter

import nbformat
import pytest

from grader.marking.cells import MAX_CELLS, find_answer, section_code
from grader.marking.sampling import Candidate, band, even_split, sample_size, stratified_sample

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def nb(*cells) -> dict:
    return nbformat.from_dict(nbformat.v4.new_notebook(cells=list(cells)))


md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell


def sources(answer) -> list[str]:
    return [c.source for c in answer.cells]


def test_section_codes_come_from_the_start_of_the_title():
    assert section_code("2.1 Training curves discussed") == "2.1"
    assert section_code("1.1a Convolution shapes") == "1.1a"
    assert section_code("3.2.1: Why") == "3.2.1"
    assert section_code("Training curves") is None


def test_the_answer_runs_from_its_heading_to_the_next_heading_of_the_same_level():
    notebook = nb(
        md("# Part 2"),
        md("## 2.1 Training curves\nDescribe them."),
        code(
            "plot()",
            outputs=[
                nbformat.v4.new_output("stream", name="stdout", text="epoch 8\n"),
                nbformat.v4.new_output("display_data", data={"image/png": PNG}),
            ],
        ),
        md("### A note inside 2.1"),
        md("The loss rises: overfitting."),
        md("## 2.10 Something else"),
        md("## 2.2 Design"),
        code("design()"),
    )
    answer = find_answer(notebook, "2.1 Training curves discussed")
    assert sources(answer) == [
        "## 2.1 Training curves\nDescribe them.",
        "plot()",
        "### A note inside 2.1",
        "The loss rises: overfitting.",
    ]  # stops at 2.10 (not a match, same level)
    assert "2.1 Training curves" in answer.found_by
    outputs = answer.cells[1].outputs
    assert outputs[0].kind == "text" and outputs[0].text == "epoch 8\n"
    assert outputs[1].kind == "image" and outputs[1].data == PNG
    assert sources(find_answer(notebook, "2.2 Design choices justified")) == ["## 2.2 Design", "design()"]


def test_codes_match_whole_tokens_with_emphasis_and_prefixes():
    notebook = nb(
        md("## 12.1 Not this"),
        md("## 2.1.3 Nor this"),
        md("## 2.1b Nor this"),
        md("### Question **2.1**: curves"),
        code("answer()"),
    )
    assert sources(find_answer(notebook, "2.1 Curves")) == ["### Question **2.1**: curves", "answer()"]


def test_a_missing_subsection_falls_back_to_its_parent_then_to_the_title_words():
    notebook = nb(md("# 1.1 Convolutions"), code("conv()"), md("# Training curves discussed"), code("plot()"))
    assert sources(find_answer(notebook, "1.1a Convolution shapes")) == ["# 1.1 Convolutions", "conv()"]
    assert sources(find_answer(notebook, "4.1 Training curves discussed")) == ["# Training curves discussed", "plot()"]
    nothing = find_answer(notebook, "3.1 Ethics")
    assert nothing.cells == [] and nothing.found_by == ""
    assert find_answer(nb(md("# Part 1"), code("x")), "1.1a Shapes").cells == []  # never the bare parent "1"
    assert find_answer(nb(md("# Departure"), code("x")), "Art").cells == []  # whole words only


def test_hostile_or_broken_notebooks_give_no_answer_or_safe_data():
    assert find_answer({"cells": "nope"}, "2.1 X").cells == []
    assert find_answer([], "2.1 X").cells == []
    bad_image = nb(
        md("## 2.1 X"),
        code(
            "x",
            outputs=[
                nbformat.v4.new_output(
                    "display_data", data={"image/png": '"><script>alert(1)</script>', "text/plain": "fallback"}
                )
            ],
        ),
    )
    out = find_answer(bad_image, "2.1 X").cells[1].outputs
    assert [(o.kind, o.text) for o in out] == [("text", "fallback")]  # not base64: never an image
    long = nb(md("## 2.1 X"), *[code(str(n)) for n in range(40)])
    assert len(find_answer(long, "2.1 X").cells) == MAX_CELLS


def test_even_split_is_even_and_reproducible():
    split = even_split(range(1, 11), [30, 20], seed=4)
    assert set(split) == set(range(1, 11)) and Counter(split.values()) == {20: 5, 30: 5}
    assert split == even_split(list(reversed(range(1, 11))), [20, 30], seed=4)
    assert split != even_split(range(1, 11), [20, 30], seed=5)
    assert max(Counter(even_split(range(7), [1, 2, 3], 0).values()).values()) == 3
    with pytest.raises(ValueError):
        even_split([1], [], 0)


def test_bands_and_sample_sizes():
    assert [band(t, 20) for t in (20, 14, 13.9, 12, 10, 8, 7.9, 0)] == [
        "70%+",
        "70%+",
        "60–69%",
        "60–69%",
        "50–59%",
        "40–49%",
        "under 40%",
        "under 40%",
    ]
    assert band(None, 20) == "not graded"
    assert sample_size(100, 10, 5) == 10 and sample_size(30, 10, 5) == 5 and sample_size(3, 10, 5) == 3
    assert sample_size(101, 10, 0) == 11


def test_the_sample_covers_every_band_and_marker_and_is_reproducible():
    bands = ["70%+", "60–69%", "50–59%", "40–49%", "under 40%"]
    # 100 students: most in 60-69, two markers; one rare stratum (a single fail marked by m2).
    pool = [
        Candidate(n, bands[1] if n < 60 else bands[n % 4 if n % 4 != 1 else 0], f"m{n % 2 + 1}") for n in range(99)
    ] + [Candidate(99, "under 40%", "m2")]
    picked = stratified_sample(pool, 12, seed=1)
    assert len(picked) == 12 and len({c.key for c in picked}) == 12
    strata = {(c.band, c.marker) for c in pool}
    assert {(c.band, c.marker) for c in picked} == strata  # every band x marker once at least
    assert 99 in {c.key for c in picked}  # the rare one is never left out
    assert picked == stratified_sample(list(reversed(pool)), 12, seed=1)  # input order does not matter
    assert picked != stratified_sample(pool, 12, seed=2)
    assert Counter(c.band for c in picked).most_common(1)[0][0] == bands[1]  # the rest follows the sizes
    assert len(stratified_sample(pool, 500, seed=1)) == 100
    assert stratified_sample([], 5, seed=1) == []
