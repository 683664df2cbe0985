"""``Content-Disposition`` for a download named by a user (RFC 6266, with RFC 5987's ``filename*``).

HTTP headers are Latin-1 at best, so a name such as ``résumé-测试.ipynb`` cannot go in the plain
``filename=`` parameter (the server would fail to encode the header: every download a 500). The
name travels percent-encoded as UTF-8 in ``filename*``, which browsers and curl prefer, with an
ASCII approximation in ``filename`` for clients that know only that one.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

FALLBACK_NAME = "download"


def ascii_fallback(filename: str) -> str:
    """The name in printable ASCII: accents dropped (é -> e); other letters, quotes, backslashes and
    semicolons (which naive parsers split parameters on) removed."""
    decomposed = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode("ascii")
    kept = "".join(c for c in decomposed if c.isprintable() and c not in '"\\;')
    return kept.strip() or FALLBACK_NAME


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """The header value: ``filename`` alone when the name is plain ASCII, else both parameters."""
    fallback = ascii_fallback(filename)
    if fallback == filename:
        return f'{disposition}; filename="{fallback}"'
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
