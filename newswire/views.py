"""The terminal views of the `newswire` read commands, from stored dicts.

Every value that comes from a payload (titles, outlets, URLs, teasers,
authors, sources, dead-letter reasons and messages) is printed as text:
rich never reads it as markup or emoji codes, so ``[VIDEO] ... [/]`` prints
as it is instead of raising, and ``[r1]`` keeps its brackets. Control
characters (ANSI escapes, carriage returns, line breaks) are shown escaped,
as ``\\x1b``, instead of reaching the terminal, where they could rewrite or
forge the lines around them.

Each view takes the console to print on, so tests render it in-process.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = [
    "plain",
    "printable",
    "render_article",
    "render_dlq_entry",
    "render_dlq_list",
    "render_event",
    "render_results",
    "render_story",
]

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")
# A cell of a listing is cut at this many characters; `show` prints it whole.
_RESULTS_TITLE_CHARS = 70
_STORY_TITLE_CHARS = 60
_DLQ_MESSAGE_CHARS = 100


def _escaped(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def printable(value: object, *, multiline: bool = False) -> str:
    """``value`` as a string with its control characters escaped (line
    breaks kept when ``multiline``); None is empty."""
    pattern = _CONTROL_BUT_LINES if multiline else _CONTROL
    return pattern.sub(_escaped, "" if value is None else str(value))


def plain(value: object, style: str = "") -> Text:
    """A payload value as one line of text: never markup, never a control code."""
    return Text(printable(value), style=style)


def _line(*parts: str | Text | tuple[str, str]) -> Text:
    """Our own words (str, or (str, style)) and payload values (Text) on one line."""
    return Text.assemble(*parts)


def _topic_cell(a: Mapping[str, Any]) -> Text:
    return plain(f"{a.get('topic', '?')} {a.get('confidence', 0):.2f}")


def render_results(console: Console, rows: Sequence[Mapping[str, Any]]) -> None:
    """`newswire results`: one row an article."""
    table = Table()
    for name in ("id", "topic", "outlet"):
        table.add_column(name, no_wrap=True)
    table.add_column("title", no_wrap=True, overflow="ellipsis", max_width=_RESULTS_TITLE_CHARS)
    table.add_column("ingested", no_wrap=True)
    for a in rows:
        table.add_row(
            plain(a.get("id")),
            _topic_cell(a),
            plain(a.get("outlet")),
            plain(str(a.get("title", ""))[:_RESULTS_TITLE_CHARS]),
            plain(str(a.get("ingested_at", ""))[:19]),
        )
    console.print(table)


def _fields(console: Console, pairs: Sequence[tuple[str, object]]) -> None:
    """``name value`` lines, for the values that exist."""
    for name, value in pairs:
        if value not in (None, "", (), []):
            console.print(_line((f"{name:>9}", "dim"), " ", plain(value)))


def _similarity(record: Mapping[str, Any]) -> str:
    if record.get("verdict") == "near_duplicate":
        return f"near copy, similarity {record.get('similarity', 0):.2f}"
    return "exact copy"


def render_article(console: Console, article: Mapping[str, Any], copies: int) -> None:
    """`newswire show`: an article whole, or what a duplicate's light record holds."""
    canonical = article.get("duplicate_of")
    if canonical:
        heading = f"{printable(article.get('id'))} is a duplicate of {printable(canonical)}"
        console.print(_line((heading, "yellow"), f" ({_similarity(article)})"))
        _fields(
            console,
            [
                ("title", article.get("title")),
                ("outlet", article.get("outlet")),
                ("url", article.get("url")),
                ("source", article.get("source")),
                ("ingested", article.get("ingested_at")),
            ],
        )
        console.print(_line("see: newswire show ", plain(canonical)))
        return
    console.print(plain(article.get("title"), style="bold"))
    scores = article.get("scores") or {}
    _fields(
        console,
        [
            ("id", article.get("id")),
            ("outlet", article.get("outlet")),
            ("authors", ", ".join(map(str, article.get("authors") or ()))),
            ("url", article.get("url")),
            ("published", article.get("published")),
            ("language", article.get("language")),
            ("topic", _topic_cell(article).plain),
            ("scores", ", ".join(f"{k} {v:.2f}" for k, v in scores.items())),
            ("copies", copies),
            ("words", article.get("word_count")),
            ("source", article.get("source")),
        ],
    )
    console.print()
    for paragraph in article.get("paragraphs") or ():
        console.print(plain(paragraph))
        console.print()
    related = article.get("related") or ()
    if related:
        console.print(_line(("related", "bold"), f" ({len(related)})"))
        for r in related:
            teaser = r.get("teaser")
            line = _line("  - ", plain(r.get("title")))
            if teaser:
                line.append(": ")
                line.append_text(plain(teaser, style="dim"))
            console.print(line)


def render_story(
    console: Console, canonical: Mapping[str, Any], copies: Sequence[Mapping[str, Any]]
) -> None:
    """`newswire story`: the canonical article and every copy of it."""
    table = Table("id", "role", "similarity", "outlet", "url", "title")
    table.add_row(
        plain(canonical.get("id")),
        "canonical",
        "",
        plain(canonical.get("outlet")),
        plain(canonical.get("url")),
        plain(str(canonical.get("title", ""))[:_STORY_TITLE_CHARS]),
    )
    for c in copies:
        exactness = "near" if c.get("verdict") == "near_duplicate" else "exact"
        table.add_row(
            plain(c.get("id")),
            f"{exactness} copy",
            f"{c.get('similarity', 1.0):.2f}",
            plain(c.get("outlet")),
            plain(c.get("url")),
            plain(str(c.get("title", ""))[:_STORY_TITLE_CHARS]),
        )
    console.print(table)


def render_event(console: Console, fields: Mapping[str, str]) -> None:
    """`newswire watch`: one line an event of the events stream."""
    kind = fields.get("kind", "")
    if kind == "dead_letter":
        entry = plain(fields.get("id"))
        line = _line(("dead-letter", "red"), " ", plain(fields.get("reason")), "  ")
        if fields.get("source"):
            line.append_text(plain(fields.get("source")))
            line.append("  ")
        line.append_text(_line("entry ", entry, "  (newswire dlq show ", entry, ")"))
        console.print(line)
        return
    article_id, canonical = fields.get("id"), fields.get("canonical")
    if kind in ("duplicate", "near_duplicate") and canonical == article_id:
        what = "already stored (the same payload pushed again)"
    elif kind == "duplicate":
        what = f"duplicate of {printable(canonical)}"
    elif kind == "near_duplicate":
        what = f"near duplicate of {printable(canonical)} ({printable(fields.get('similarity'))})"
    else:
        what = printable(kind)
    title = plain(fields.get("title"))
    console.print(_line(plain(article_id), f"  {what}  ", plain(fields.get("topic")), "  ", title))


def render_dlq_list(console: Console, entries: Sequence[tuple[str, Mapping[str, str]]]) -> None:
    """`newswire dlq list`: one row a dead letter."""
    table = Table("entry", "reason", "source", "message")
    for entry, fields in entries:
        table.add_row(
            plain(entry),
            plain(fields.get("reason")),
            plain(fields.get("source")),
            plain(fields.get("message", "")[:_DLQ_MESSAGE_CHARS]),
        )
    console.print(table)


def render_dlq_entry(console: Console, fields: Mapping[str, str]) -> None:
    """`newswire dlq show`: a dead letter's fields, then its raw payload."""
    for name in ("reason", "message", "source", "batch_id", "article_id", "at"):
        if fields.get(name):
            console.print(_line((f"{name:>10}", "dim"), " ", plain(fields[name])))
    console.print(_line(("   payload", "dim")))
    console.print(Text(printable(fields.get("payload", ""), multiline=True)))
