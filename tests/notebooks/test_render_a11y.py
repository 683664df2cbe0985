"""The rendered notebook as a screen reader and a keyboard meet it (docs/accessibility.md): one main
landmark under an h1 naming the notebook, a Tab stop so the marking page's frame scrolls by keyboard,
and no empty links beside the student's headings."""

from __future__ import annotations

import re

import nbformat

from grader.notebooks.render import RENDERER_VERSION, render_notebook


def test_the_render_has_a_main_landmark_a_heading_and_no_empty_links():
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# Answers\n## 2.1 Training curves\nThe loss rises."),
            nbformat.v4.new_code_cell("print(1)", execution_count=1),
        ]
    )
    page = render_notebook(nbformat.writes(nb).encode(), title="cw1 / <01234567>").decode()
    assert page.count("<main") == 1 and page.count("</main>") == 1
    assert '<main tabindex="0">' in page
    first_heading = re.search(r"<h(\d)[^>]*>(.*?)</h\1>", page, re.S)
    assert first_heading is not None and first_heading[1] == "1"
    assert first_heading[2] == "cw1 / &lt;01234567&gt;"  # the title, escaped
    assert 'class="visually-hidden"' in page and ".visually-hidden {" in page
    assert 'class="anchor-link"' not in page  # nbconvert's empty pilcrow links
    assert not re.search(r"<a [^>]*>\s*</a>", page)
    assert "2.1 Training curves" in page and RENDERER_VERSION >= 2
