"""Parse a raw payload into a :class:`ParsedArticle`.

Pure package: stdlib, lxml, trafilatura and the offline language model only;
no I/O at call time, no logging, no network (trafilatura is only ever given
the page itself, never a URL to fetch).

Three payload shapes, chosen by ``raw.kind``, each with its own module:
:mod:`.text` (a scraped plain-text page), :mod:`.html` (a whole page) and
:mod:`.json` (a record of named fields). The HTML and JSON paths reuse the
text path's line filters on the text they extract; all three end in
:mod:`.article` (the gate and the model); the word lists and regular
expressions they match with are in :mod:`.patterns`.

Anything that cannot be parsed raises :class:`ParseError`; a page that is
not an article (empty, an index page, a cookie wall, an error page, teasers
only, under ``MIN_BODY_WORDS`` words) raises :class:`NotAnArticle`, its
message ending with the verdict in brackets ("... [cookie_wall]").
"""

from __future__ import annotations

from worker.pipeline.errors import ParseError
from worker.pipeline.gate import MIN_BODY_WORDS
from worker.pipeline.models import ParsedArticle, PayloadKind, RawArticle
from worker.pipeline.parse.html import MAX_HTML_BYTES, MAX_HTML_ELEMENTS, _parse_html
from worker.pipeline.parse.json import _parse_json
from worker.pipeline.parse.text import _parse_text, split_title

__all__ = [
    "MAX_HTML_BYTES",
    "MAX_HTML_ELEMENTS",
    "MIN_BODY_WORDS",
    "parse",
    "split_title",
]


def parse(raw: RawArticle) -> ParsedArticle:
    """Extract the article in ``raw``.

    Raises :class:`NotAnArticle` when the payload parses but the gate says it
    is not an article (the verdict ends the message: "[index_page]") and
    :class:`ParseError` for anything that cannot be parsed (wrong field
    types, broken, oversized or over-complex HTML).
    """
    if raw.kind is PayloadKind.JSON:
        if raw.record is None:
            raise ParseError("a json payload without a record")
        return _parse_json(raw.record, raw.url)
    if raw.text is None:
        raise ParseError(f"a {raw.kind.value} payload without text")
    if raw.kind is PayloadKind.HTML:
        return _parse_html(raw.text, raw.url)
    return _parse_text(raw.text, raw.url)
