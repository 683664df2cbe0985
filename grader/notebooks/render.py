"""A student's notebook as one self-contained, inert HTML page: rendered once, at grading time.

Student notebooks are hostile HTML, so three layers stand between them and a marker's browser:

1. ``_safe_notebook``: a fresh copy of the notebook holding only what a marker reads: cell sources,
   attachments and outputs reduced to plain text, HTML, markdown, LaTeX source and base64 images
   (SVG kept only as an image). Scripts, widgets, metadata and unknown MIME types are dropped.
2. ``sanitize_html``: nbconvert's ``basic`` template renders that copy, and an allowlist
   (nh3, the Rust ammonia sanitiser) keeps only inert markup: no script, no event-handler
   attributes, no ``<base>``, ``<meta>``, ``<style>``, ``<svg>``, ``<iframe>`` or forms, links
   only to http(s)/mailto/fragments, images only as ``data:image/...;base64`` and inline styles
   only from a short property list with no ``url()``.
3. The page is served under ``RENDER_CSP`` (also in its own ``<meta>``) inside an ``<iframe
   sandbox>`` without scripts or same-origin, so anything that slipped through still cannot run or
   fetch (the dashboard's marking page serves it so; docs/architecture.md follows a notebook from
   upload to that page).

Pure: bytes in, bytes out, no database or framework. nbconvert on student input has no time or
memory bound of its own: the worker renders through ``grader.notebooks.bounded``, which runs this
in a child process under a wall-clock and memory limit.
"""

from __future__ import annotations

import base64
import html
import json
import re
from functools import cache
from pathlib import Path

import nbformat
import nh3
from nbconvert import HTMLExporter
from pygments.formatters import HtmlFormatter

RENDER_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
RENDERER_VERSION = 2  # bump when the output changes; stored renders say which made them

# Output MIME types a marker can read, best first (as Jupyter picks one per output).
_IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
_KEPT_TYPES = ("text/html", "text/markdown", "image/svg+xml", *_IMAGE_TYPES, "text/latex", "text/plain")
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")
_DATA_IMAGE = re.compile(r"data:image/(png|jpeg|gif|webp|svg\+xml);base64,[A-Za-z0-9+/=\s]*", re.IGNORECASE)
_LINK = re.compile(r"(https?://|mailto:|#)", re.IGNORECASE)
# Anything in a style value that could load, escape or script: dropped with the whole attribute.
_STYLE_DANGER = re.compile(r"url\s*\(|image\s*\(|image-set|expression|@import|\\|/\*|javascript:|<|>", re.IGNORECASE)

_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "caption",
    "code",
    "col",
    "colgroup",
    "dd",
    "del",
    "details",
    "div",
    "dl",
    "dt",
    "em",
    "figcaption",
    "figure",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "ins",
    "kbd",
    "li",
    "mark",
    "ol",
    "p",
    "pre",
    "q",
    "s",
    "samp",
    "small",
    "span",
    "strong",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
    "var",
}
_ATTRIBUTES = {
    "*": {"class", "title", "lang", "dir", "style"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align", "scope"},
    "col": {"span"},
    "ol": {"start", "type"},
    **{f"h{n}": {"id"} for n in range(1, 7)},
}
_STYLE_PROPERTIES = {
    "color",
    "background-color",
    "font-weight",
    "font-style",
    "font-family",
    "font-size",
    "text-align",
    "text-decoration",
    "vertical-align",
    "white-space",
    "width",
    "max-width",
    "min-width",
    "height",
    "max-height",
    "padding",
    "padding-left",
    "padding-right",
    "padding-top",
    "padding-bottom",
    "margin",
    "margin-left",
    "margin-right",
    "margin-top",
    "margin-bottom",
    "border",
    "border-collapse",
    "border-color",
    "border-style",
    "border-width",
    "border-left",
    "border-right",
    "border-top",
    "border-bottom",
    "display",
}


class RenderError(Exception):
    """The notebook could not be rendered (the marks stand without it)."""


def sanitize_html(fragment: str) -> str:
    """Only inert markup from ``fragment`` (see the module's docstring for what is kept)."""
    return nh3.clean(
        fragment,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        clean_content_tags={"script", "style"},
        url_schemes={"http", "https", "mailto", "data"},
        filter_style_properties=_STYLE_PROPERTIES,
        attribute_filter=_attribute_filter,
        strip_comments=True,
        link_rel="noopener noreferrer nofollow",
    )


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    if attr == "src":
        return value if _DATA_IMAGE.fullmatch(value.strip()) else None
    if attr == "href":
        return value if _LINK.match(value.strip()) else None
    if attr == "style":
        return None if _STYLE_DANGER.search(value) else value
    return value


def render_notebook(data: bytes, *, title: str) -> bytes:
    """The notebook's bytes (as the student submitted it, with their outputs) as a whole HTML page."""
    try:
        raw = json.loads(data.decode("utf-8"))
        nb = nbformat.from_dict(raw)
        cells = nb["cells"]
        if not isinstance(cells, list):
            raise TypeError("'cells' is not a list")
    except (UnicodeDecodeError, ValueError, TypeError, KeyError) as exc:
        raise RenderError(f"not a readable notebook: {exc}") from None
    try:
        body, _ = _exporter().from_notebook_node(_safe_notebook(cells))
    except Exception as exc:  # nbconvert on hostile input: any failure means no rendering, not a crash
        raise RenderError(f"nbconvert failed: {type(exc).__name__}: {exc}") from None
    return _page(sanitize_html(body), title).encode("utf-8")


# -- layer 1: only what a marker reads ------------------------------------------------------------


def _safe_notebook(cells: list) -> nbformat.NotebookNode:
    kept = []
    for cell in cells:
        if not isinstance(cell, dict):
            continue
        kind, source = cell.get("cell_type"), _text(cell.get("source"))
        if kind == "markdown":
            attachments = _attachments(cell.get("attachments"))
            kept.append(nbformat.v4.new_markdown_cell(source, **({"attachments": attachments} if attachments else {})))
        elif kind == "code":
            outputs = [o for o in map(_output, cell.get("outputs") or []) if o is not None]
            count = cell.get("execution_count")
            kept.append(
                nbformat.v4.new_code_cell(
                    source, outputs=outputs, execution_count=count if isinstance(count, int) else None
                )
            )
        elif kind == "raw":
            kept.append(nbformat.v4.new_raw_cell(source))  # shown as text: no format metadata kept
    return nbformat.v4.new_notebook(cells=kept, metadata={"language_info": {"name": "python"}})


def _text(value: object) -> str:
    if isinstance(value, list):
        return "".join(v for v in value if isinstance(v, str))
    return value if isinstance(value, str) else ""


def _output(out: object) -> nbformat.NotebookNode | None:
    if not isinstance(out, dict):
        return None
    kind = out.get("output_type")
    if kind == "stream":
        name = out.get("name") if out.get("name") in ("stdout", "stderr") else "stdout"
        return nbformat.v4.new_output("stream", name=name, text=_text(out.get("text")))
    if kind == "error":
        trace = [t for t in out.get("traceback") or [] if isinstance(t, str)]
        return nbformat.v4.new_output(
            "error", ename=str(out.get("ename", ""))[:200], evalue=str(out.get("evalue", ""))[:2000], traceback=trace
        )
    if kind in ("display_data", "execute_result"):
        data = _mime_bundle(out.get("data"))
        if not data:
            return None
        node = nbformat.v4.new_output(kind, data=data, metadata=_image_size(out.get("metadata")))
        if kind == "execute_result":
            count = out.get("execution_count")
            node["execution_count"] = count if isinstance(count, int) else None
        return node
    return None


def _mime_bundle(data: object) -> dict[str, str]:
    if not isinstance(data, dict):
        return {}
    bundle = {}
    for mime in _KEPT_TYPES:
        value = _text(data.get(mime))
        if not value:
            continue
        if mime in _IMAGE_TYPES and not _BASE64.fullmatch(value):
            continue  # not an image: would otherwise be pasted into an attribute
        bundle[mime] = value
    if "image/gif" in bundle or "image/webp" in bundle:  # nbconvert has no block for these
        mime = "image/gif" if "image/gif" in bundle else "image/webp"
        bundle.setdefault("text/html", f'<img src="data:{mime};base64,{bundle[mime]}">')
    return bundle


def _image_size(metadata: object) -> dict:
    """Only numeric width/height per image type (the template pastes them into attributes)."""
    kept: dict = {}
    if not isinstance(metadata, dict):
        return kept
    for mime in ("image/png", "image/jpeg"):
        size = metadata.get(mime)
        if isinstance(size, dict):
            dims = {
                k: int(v)
                for k, v in size.items()
                if k in ("width", "height")
                and isinstance(v, (int, float))
                and not isinstance(v, bool)
                and 0 < v < 100_000
            }
            if dims:
                kept[mime] = dims
    return kept


def _attachments(attachments: object) -> dict | None:
    if not isinstance(attachments, dict):
        return None
    kept = {}
    for name, bundle in attachments.items():
        if isinstance(name, str) and isinstance(bundle, dict):
            images = {m: _text(bundle.get(m)) for m in (*_IMAGE_TYPES, "image/svg+xml") if _text(bundle.get(m))}
            images = {m: v for m, v in images.items() if m == "image/svg+xml" or _BASE64.fullmatch(v)}
            if "image/svg+xml" in images:  # markdown shows attachments as data URIs: SVG needs base64
                images["image/svg+xml"] = base64.b64encode(images["image/svg+xml"].encode()).decode()
            if images:
                kept[name] = images
    return kept or None


# -- layer 2: nbconvert, then the allowlist -------------------------------------------------------


@cache
def _exporter() -> HTMLExporter:
    # basic: the cells only, no CSS or scripts of nbconvert's own; SVG encoded as an <img>.
    return HTMLExporter(
        template_name="basic",
        skip_svg_encoding=False,
        sanitize_html=False,
        exclude_input_prompt=False,
        exclude_anchor_links=True,  # empty links beside each heading: noise to a screen reader
    )


@cache
def _stylesheet() -> str:
    own = (Path(__file__).parent / "notebook.css").read_text(encoding="utf-8")
    return own + "\n" + HtmlFormatter(style="default").get_style_defs(".highlight")


def _page(body: str, title: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{RENDER_CSP}">'
        f'<meta name="grader-renderer" content="{RENDERER_VERSION}">'
        f"<title>{html.escape(title)}</title><style>{_stylesheet()}</style></head>\n"
        # A main landmark and a heading of ours around the student's cells, for screen readers; the
        # heading is read, not shown. The main is a Tab stop, so a marker reaches the notebook in its
        # frame (which has no scripts and often no link) and scrolls it with the keyboard
        # (docs/accessibility.md).
        f'<body class="notebook"><main tabindex="0">\n<h1 class="visually-hidden">{html.escape(title)}</h1>\n'
        f"{body}\n</main></body></html>\n"
    )


def notice_page(title: str, message: str) -> bytes:
    """A page of ours in place of a notebook that could not be rendered: ``message`` for the marker."""
    body = f'<div class="render-notice"><p><strong>{html.escape(message)}</strong></p></div>'
    return _page(body, title).encode("utf-8")
