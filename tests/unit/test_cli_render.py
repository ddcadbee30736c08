"""The terminal views print payload text as text (issue 20, item 1).

Hostile titles, outlets, teasers, authors and sources (markup brackets, ANSI
escapes, line breaks, very long strings, any unicode) are rendered by every
view in-process: none raises, printable text comes out verbatim, and no
control character from a payload reaches the terminal.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console

from newswire.cli import TOPIC_SYNONYMS, topic_name
from newswire.dlq import check_entries
from newswire.views import (
    printable,
    render_article,
    render_dlq_entry,
    render_dlq_list,
    render_event,
    render_results,
    render_story,
)
from worker.pipeline.classify import DEFAULT_LABELS

FRAGMENTS = [
    "[", "]", "[/]", "[bold]", "[/bold]", "[r1]", "[VIDEO]", "[link=https://x.test]",
    "[red]red[/red]", "\\", "\\[", ":smile:", ":warning:", "\x1b[31m", "\x1b]8;;http://x\x1b\\",
    "\x1b[2J", "\r", "\n", "\t", "\x07", "\x00", "\x9b", "\u2028", "\u202e", "e\u0301",
    "日本語", "🇺🇦", "\u00ad", " ", "  ",
]  # fmt: skip
HOSTILE = (
    st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=12), max_size=12).map("".join)
    | st.text(min_size=300, max_size=3000)
    | st.sampled_from(FRAGMENTS)
)


def console() -> Console:
    # Wide enough that no table column is cut or wrapped, no colour codes.
    return Console(file=io.StringIO(), width=20_000, color_system=None, emoji=True)


def rendered(view: Callable[[Console], None]) -> str:
    c = console()
    view(c)
    out = c.file.getvalue()  # type: ignore[attr-defined]
    assert not any(unicodedata.category(ch) == "Cc" and ch != "\n" for ch in out), repr(out)
    return out


def assert_shown(value: str, out: str, *, cut: int | None = None) -> None:
    """``value`` as it is when printable; escaped when not. A listing cuts a
    long cell: then its head must be there."""
    shown = printable(value)
    if cut is not None and (len(shown) > cut or cell_len(shown) > cut - 1):
        shown = shown[:10] if cell_len(shown[:10]) <= 20 else ""
    assert shown.strip() in out, (value, out[:3000])
    if shown == value:
        assert value.strip() in out


@st.composite
def articles(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "id": "0123456789abcdef",
        "title": draw(HOSTILE),
        "outlet": draw(HOSTILE),
        "url": draw(HOSTILE),
        "source": draw(HOSTILE),
        "authors": draw(st.lists(HOSTILE, max_size=3)),
        "published": draw(HOSTILE),
        "paragraphs": draw(st.lists(HOSTILE, max_size=3)),
        "related": draw(
            st.lists(st.fixed_dictionaries({"title": HOSTILE, "teaser": HOSTILE}), max_size=3)
        ),
        "topic": "other",
        "confidence": 0.5,
        "scores": {"other": 0.5, "sport": 0.5},
        "word_count": 3,
        "ingested_at": "2025-06-20T16:45:00.123456Z",
    }


@settings(max_examples=150, deadline=None)
@given(article=articles())
def test_show_prints_every_payload_value_as_text(article: dict[str, Any]) -> None:
    out = rendered(lambda c: render_article(c, article, copies=2))
    for name in ("title", "outlet", "url", "source", "published"):
        assert_shown(article[name], out)
    for value in [*article["authors"], *article["paragraphs"]]:
        assert_shown(value, out)
    for r in article["related"]:
        assert_shown(r["title"], out)
        assert_shown(r["teaser"], out)


@settings(max_examples=100, deadline=None)
@given(article=articles(), verdict=st.sampled_from(["duplicate", "near_duplicate"]))
def test_show_of_a_duplicate_prints_its_values_as_text(
    article: dict[str, Any], verdict: str
) -> None:
    light = {k: article[k] for k in ("id", "title", "outlet", "url", "source", "ingested_at")}
    light |= {"duplicate_of": "fedcba9876543210", "verdict": verdict, "similarity": 0.8}
    out = rendered(lambda c: render_article(c, light, copies=0))
    for name in ("title", "outlet", "url", "source"):
        assert_shown(light[name], out)


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(articles(), min_size=1, max_size=3))
def test_results_and_story_print_every_cell_as_text(rows: list[dict[str, Any]]) -> None:
    out = rendered(lambda c: render_results(c, rows))
    for a in rows:
        assert_shown(a["title"], out, cut=70)
        assert_shown(a["outlet"], out)
    copies = [{**a, "duplicate_of": "x", "verdict": "duplicate", "similarity": 1} for a in rows]
    out = rendered(lambda c: render_story(c, rows[0], copies[1:]))
    for a in rows:
        assert_shown(a["title"], out, cut=60)
        assert_shown(a["outlet"], out)
        assert_shown(a["url"], out)


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(["unique", "duplicate", "near_duplicate", "dead_letter"]),
    title=HOSTILE,
    source=HOSTILE,
    reason=HOSTILE,
)
def test_watch_lines_print_event_values_as_text(
    kind: str, title: str, source: str, reason: str
) -> None:
    event = {"kind": kind, "id": "1796220422124-0" if kind == "dead_letter" else "ab" * 8,
             "canonical": "cd" * 8, "similarity": "0.812", "topic": "sport", "title": title,
             "reason": reason, "source": source}  # fmt: skip
    out = rendered(lambda c: render_event(c, event))
    assert out.count("\n") == 1  # one event, one line, whatever it holds
    if kind == "dead_letter":
        assert_shown(reason, out)
        assert_shown(source, out)
        assert "1796220422124-0" in out
    else:
        assert_shown(title, out)


@settings(max_examples=100, deadline=None)
@given(message=HOSTILE, source=HOSTILE, payload=HOSTILE)
def test_dead_letters_print_as_text(message: str, source: str, payload: str) -> None:
    fields = {"reason": "parse_error", "message": message, "source": source, "payload": payload}
    out = rendered(lambda c: render_dlq_list(c, [("1-0", fields)]))
    assert_shown(message, out, cut=100)
    assert_shown(source, out)
    out = rendered(lambda c: render_dlq_entry(c, fields))
    assert_shown(message, out)
    assert printable(payload, multiline=True).strip() in out


def test_the_reported_title_prints_and_keeps_its_tags() -> None:
    title = "[VIDEO] Bank shares tumble [/] after regulator opens inquiry"
    article = {"id": "ab" * 8, "title": title, "outlet": "[r1] Wire", "topic": "other",
               "confidence": 1.0, "scores": {}, "paragraphs": []}  # fmt: skip
    assert title in rendered(lambda c: render_results(c, [article]))
    assert "[r1] Wire" in rendered(lambda c: render_article(c, article, 0))


def test_ansi_escapes_and_line_breaks_in_a_title_are_shown_escaped() -> None:
    event = {"kind": "unique", "id": "ab" * 8, "topic": "sport", "title": "a\x1b[2Jb\nFAKE"}
    assert "a\\x1b[2Jb\\nFAKE" in rendered(lambda c: render_event(c, event))


# -- item 11 ------------------------------------------------------------------


def test_a_teaser_without_text_is_printed_as_its_title_alone() -> None:
    related = [{"title": "Lone", "teaser": ""}, {"title": "Pair", "teaser": "text"}]
    article = {"id": "ab" * 8, "title": "T", "topic": "other", "confidence": 1.0, "scores": {},
               "paragraphs": ["Body."], "related": related}  # fmt: skip
    out = rendered(lambda c: render_article(c, article, 0))
    assert "  - Lone\n" in out and "  - Pair: text\n" in out


def test_show_prints_authors() -> None:
    article = {"id": "ab" * 8, "title": "T", "authors": ["Ann Lee", "Bo Chen"], "topic": "other",
               "confidence": 1.0, "scores": {}, "paragraphs": []}  # fmt: skip
    assert "  authors Ann Lee, Bo Chen\n" in rendered(lambda c: render_article(c, article, 0))


def test_a_duplicate_shows_only_what_its_record_has() -> None:
    light = {"id": "ab" * 8, "title": "T", "outlet": None, "url": None, "source": "copy.txt",
             "duplicate_of": "cd" * 8, "verdict": "near_duplicate", "similarity": 0.81}  # fmt: skip
    out = rendered(lambda c: render_article(c, light, 0))
    assert "None" not in out and "url" not in out and "outlet" not in out
    assert f"is a duplicate of {'cd' * 8} (near copy, similarity 0.81)" in out
    assert "copy.txt" in out


def test_a_payload_pushed_again_is_already_stored_not_a_duplicate_of_itself() -> None:
    again = {"kind": "duplicate", "id": "ab" * 8, "canonical": "ab" * 8, "topic": "sport",
             "title": "T"}  # fmt: skip
    copy = {**again, "id": "cd" * 8}
    assert "already stored" in rendered(lambda c: render_event(c, again))
    assert f"duplicate of {'ab' * 8}" in rendered(lambda c: render_event(c, copy))


# -- items 4 and 5 --------------------------------------------------------------


@pytest.mark.parametrize("entry", ["bogus", "1-", "-1", "1", "1-0-0", "99999999999999999999-0"])
def test_a_bogus_entry_id_is_refused_with_what_entries_look_like(entry: str) -> None:
    with pytest.raises(ValueError, match=r"entries look like \d+-0; see `newswire dlq list`"):
        check_entries([entry])


def test_well_formed_entry_ids_pass() -> None:
    check_entries(["1796220422124-0", "0-1", "18446744073709551615-18446744073709551615"])


def test_topic_synonyms_name_model_labels() -> None:
    assert set(TOPIC_SYNONYMS.values()) <= set(DEFAULT_LABELS)
    assert not set(TOPIC_SYNONYMS) & set(DEFAULT_LABELS)


@pytest.mark.parametrize(
    ("asked", "topic"),
    [("sport", "sport"), ("Sport", "sport"), (" SPORTS ", "sport"), ("Politics", "geopolitics"),
     ("world", "geopolitics"), ("culture", "entertainment"), ("Other", "other")],
)  # fmt: skip
def test_topics_are_matched_in_any_case_and_by_synonym(asked: str, topic: str) -> None:
    assert topic_name(asked, DEFAULT_LABELS) == topic


def test_a_trained_models_own_topic_is_matched_before_a_synonym() -> None:
    assert topic_name("Politics", (*DEFAULT_LABELS, "politics")) == "politics"


def test_an_unknown_topic_is_refused_with_the_names() -> None:
    with pytest.raises(ValueError, match="'weather' is not a topic") as info:
        topic_name("weather", DEFAULT_LABELS)
    assert all(name in str(info.value) for name in DEFAULT_LABELS)
