"""The parse stage's text path: scraped plain-text pages."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import SAMPLE
from tests.unit.parse_helpers import (
    BODY,
    BODY_TEXT,
    FUZZ,
    parse_or_parse_error,
    raw_or_none,
    text_page,
)
from worker.pipeline.errors import NotAnArticle
from worker.pipeline.models import ParsedArticle, PayloadKind
from worker.pipeline.parse import split_title

ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------
# The shared sample page


@pytest.fixture(scope="module")
def sample() -> ParsedArticle:
    return text_page(SAMPLE.read_text(encoding="utf-8"))


def test_sample_title_and_outlet(sample: ParsedArticle) -> None:
    assert sample.title == "Kim Jong Un Says He'll \"Unconditionally Support\" Russia's War"
    assert sample.outlet == "Business Insider"


def test_sample_body(sample: ParsedArticle) -> None:
    assert sample.paragraphs[0].startswith("North Korean leader Kim Jong Un said on Sunday")
    assert sample.paragraphs[-1].startswith("In return for his troops, ammunition, and weapons, ")
    assert sample.paragraphs[-1].endswith("for its space and arms programs.")
    assert len(sample.paragraphs) == 13
    assert all(p == p.strip() and p for p in sample.paragraphs)


def test_sample_related(sample: ParsedArticle) -> None:
    assert len(sample.related) == 8
    first = sample.related[0]
    assert first.title == "Diddy's Legal Troubles & Racketeering Trial"
    assert first.teaser.startswith("Music mogul Sean 'Diddy' Combs")
    assert sample.related[-1].title == "Death of Nigerian Goalkeeping Legend Peter Rufai"
    assert all(item.title and item.teaser for item in sample.related)


def test_sample_body_has_nothing_from_the_teaser_block(sample: ParsedArticle) -> None:
    body = sample.body
    assert "You may also like" not in body
    for item in sample.related:
        assert item.title not in body
        assert item.teaser not in body


def test_sample_url_comes_from_the_payload(sample: ParsedArticle) -> None:
    assert sample.url is None
    url = "https://www.businessinsider.com/kim-jong-un-russia"
    assert text_page(SAMPLE.read_text(encoding="utf-8"), url=url).url == url


# --------------------------------------------------------------------------
# Title and outlet


@pytest.mark.parametrize(
    ("line", "title", "outlet"),
    [
        (
            "Markets Rally as Inflation Cools - Reuters",
            "Markets Rally as Inflation Cools",
            "Reuters",
        ),
        (
            "Markets rally as inflation cools | The Guardian",
            "Markets rally as inflation cools",
            "The Guardian",
        ),
        (
            "Markets rally as inflation cools \u2013 Financial Times",
            "Markets rally as inflation cools",
            "Financial Times",
        ),
        (
            "Markets rally as inflation cools \u2014 Le Monde",
            "Markets rally as inflation cools",
            "Le Monde",
        ),
        ("Markets rally - theguardian.com", "Markets rally", "theguardian.com"),
        (
            "Spider-Man star signs three-film deal - Variety",
            "Spider-Man star signs three-film deal",
            "Variety",
        ),
        (
            "Biden - Xi meeting set for Friday - Associated Press",
            "Biden - Xi meeting set for Friday",
            "Associated Press",
        ),
        ("Covid-19 - what we know", "Covid-19 - what we know", None),
        (
            "Apple unveils a new iPhone - and it's cheaper",
            "Apple unveils a new iPhone - and it's cheaper",
            None,
        ),
        ("Election night - Live Updates", "Election night - Live Updates", None),
        ("Why did it happen? - Is It Over?", "Why did it happen? - Is It Over?", None),
        ('He said "no" - "Not Now"', 'He said "no" - "Not Now"', None),
        ("Arsenal 2 - 1 Chelsea", "Arsenal 2 - 1 Chelsea", None),
        ("The Long Road Back - Part 2", "The Long Road Back - Part 2", None),
        ("Story - One Two Three Four Five Six", "Story - One Two Three Four Five Six", None),
        ("A plain headline without an outlet", "A plain headline without an outlet", None),
        ("Plain headline -Reuters", "Plain headline -Reuters", None),
    ],
)
def test_split_title(line: str, title: str, outlet: str | None) -> None:
    assert split_title(line) == (title, outlet)


# --------------------------------------------------------------------------
# Text pages


@pytest.mark.parametrize("separator", [" - ", " | ", " \u2013 ", " \u2014 "])
def test_text_page_outlet_separators(separator: str) -> None:
    article = text_page(f"Tram line to be extended{separator}City Courier\n{BODY_TEXT}")
    assert article.title == "Tram line to be extended"
    assert article.outlet == "City Courier"
    assert article.paragraphs == tuple(BODY)
    assert article.related == ()


def test_text_page_without_outlet() -> None:
    article = text_page(f"Covid-19 - what we know\n{BODY_TEXT}")
    assert article.title == "Covid-19 - what we know"
    assert article.outlet is None


def test_text_page_with_a_dash_inside_the_headline() -> None:
    article = text_page(f"Tram-line plan - the council decides - Evening Star\n{BODY_TEXT}")
    assert article.title == "Tram-line plan - the council decides"
    assert article.outlet == "Evening Star"


def test_text_page_blank_lines_and_leading_blank_lines_are_ignored() -> None:
    article = text_page("\n\n  Tram line - City Courier  \n\n" + "\n\n".join(BODY) + "\n\n")
    assert article.title == "Tram line"
    assert article.paragraphs == tuple(BODY)


def test_text_page_normalises_unicode_and_whitespace_but_keeps_wording() -> None:
    decomposed = "Cafe\u0301 owners \u201cwelcome\u201d\u00a0the  plan\u200b"
    text = f"Tram line - City Courier\r\n{decomposed}\r\n{BODY_TEXT}"
    article = text_page(text)
    assert article.paragraphs[0] == "Caf\u00e9 owners \u201cwelcome\u201d the plan"
    assert article.paragraphs[1:] == tuple(BODY)


@pytest.mark.parametrize(
    "trigger",
    [
        "You may also like...",
        "You might also like",
        "Related",
        "Related stories:",
        "RELATED ARTICLES",
        "Read more",
        "Read more:",
        "More from City Courier",
        "Most popular",
        "Recommended",
        "Trending now",
        "You may also like\u2026",
    ],
)
def test_text_page_teaser_block_is_cut_at_any_trigger(trigger: str) -> None:
    text = (
        f"Tram line - City Courier\n{BODY_TEXT}\n{trigger}\n"
        "Bus fares to rise in January\n\n"
        "The transport authority said fares would go up by an average of 4% to pay for...\n"
        "New bridge opens to cyclists\n\n"
        "Cyclists will be able to cross the river on the new bridge from Monday, the..."
    )
    article = text_page(text)
    assert article.paragraphs == tuple(BODY)
    assert [item.title for item in article.related] == [
        "Bus fares to rise in January",
        "New bridge opens to cyclists",
    ]
    assert article.related[0].teaser.startswith("The transport authority said")
    assert article.related[1].teaser.startswith("Cyclists will be able")


def test_teaser_block_without_blank_lines_and_with_headlines_only() -> None:
    paired = text_page(
        f"Tram line - City Courier\n{BODY_TEXT}\nRead more\n"
        "Bus fares to rise\nThe transport authority said fares would rise.\n"
        "Bridge opens\nCyclists can cross the new bridge from Monday."
    )
    assert [(i.title, i.teaser) for i in paired.related] == [
        ("Bus fares to rise", "The transport authority said fares would rise."),
        ("Bridge opens", "Cyclists can cross the new bridge from Monday."),
    ]
    listed = text_page(
        f"Tram line - City Courier\n{BODY_TEXT}\nRelated\n"
        "- Bus fares to rise in January\n- New bridge opens to cyclists\n- Library hours cut"
    )
    assert [(i.title, i.teaser) for i in listed.related] == [
        ("Bus fares to rise in January", ""),
        ("New bridge opens to cyclists", ""),
        ("Library hours cut", ""),
    ]
    assert listed.paragraphs == tuple(BODY)


def test_a_second_teaser_header_is_not_an_item() -> None:
    article = text_page(
        f"Tram line - City Courier\n{BODY_TEXT}\nRelated stories\nBus fares to rise\n"
        "The transport authority said fares would rise.\nMost popular\nBridge opens\n"
    )
    assert [i.title for i in article.related] == ["Bus fares to rise", "Bridge opens"]


def test_body_lines_that_merely_mention_a_trigger_are_kept() -> None:
    line = "Read more about the plan on the council's website, officials said."
    article = text_page(f"Tram line - City Courier\n{BODY_TEXT}\n{line}")
    assert article.paragraphs[-1] == line
    assert article.related == ()


def test_title_only_page_is_not_an_article() -> None:
    with pytest.raises(NotAnArticle, match="no article body"):
        text_page("Tram line to be extended - City Courier\n\n")


def test_page_with_only_a_teaser_block_is_not_an_article() -> None:
    with pytest.raises(NotAnArticle, match="no article body"):
        text_page("Tram line - City Courier\nYou may also like...\nBus fares\n\nFares will rise...")


def test_short_body_is_not_an_article_and_says_how_short() -> None:
    with pytest.raises(NotAnArticle, match=r"\b6 words\b"):
        text_page("Tram line - City Courier\nThe council voted for it today.")


def test_a_first_line_that_is_a_paragraph_gives_a_derived_title() -> None:
    long_line = " ".join(BODY * 4)
    article = text_page(long_line)
    assert article.paragraphs == (long_line,)
    assert len(article.title) <= 120
    assert article.title.endswith("\u2026")
    assert long_line.startswith(article.title[:-1])


def test_the_headline_repeated_as_first_body_line_is_dropped() -> None:
    article = text_page(
        f"Tram line to be extended - City Courier\nTram line to be extended\n{BODY_TEXT}"
    )
    assert article.paragraphs == tuple(BODY)


@pytest.mark.timeout(20)  # a hang guard against catastrophic backtracking, not a speed target
def test_pathological_text_does_not_hang() -> None:
    with pytest.raises(NotAnArticle, match=r"\b1 word\b"):
        text_page("Title - Outlet\n" + "word" * 100_000)
    separators = "a - b | c \u2013 " * 20_000
    junk = ("-" * 50 + " | " + "a" * 50 + "\u2026") * 2000 + "\n" + "Related: " * 5000
    article = text_page(f"{separators}\n{BODY_TEXT}\n{junk}\nRelated\n{separators}\n\n{junk}")
    assert len(article.title) <= 120  # the over-long first line was taken as a paragraph


# --------------------------------------------------------------------------
# Variations of the sample page: other separators, no trigger, dated teasers


def _sample_parts() -> tuple[str, str, list[tuple[str, str]]]:
    """(title line, body lines, teaser pairs) of the shared sample."""
    head, rest = SAMPLE.read_text(encoding="utf-8").split("\n", 1)
    body, block = rest.split("You may also like...\n")
    pairs = re.findall(r"(.+)\n\n(.+)", block)
    assert len(pairs) == 8
    return head, body, pairs


# name: (title separator, teaser-block header or "", shape of one teaser item)
SAMPLE_VARIANTS: dict[str, tuple[str, str, str]] = {
    "pipe": (" | ", "You may also like...", "{h}\n\n{t}"),
    "en dash": (" \u2013 ", "You may also like...", "{h}\n\n{t}"),
    "em dash": (" \u2014 ", "You may also like...", "{h}\n\n{t}"),
    "no trigger": (" - ", "", "{h}\n\n{t}"),
    "no trigger, no blank lines": (" - ", "", "{h}\n{t}"),
    "other trigger": (" - ", "Related stories:", "{h}\n\n{t}"),
    "dates between": (" - ", "You may also like", "{h}\n2 days ago\n{t}"),
    "dates above, no trigger": (" - ", "", "14 July 2025\n{h}\n\n{t}"),
    "dates below, no trigger": (" | ", "", "{h}\n\n{t}\nJul 14, 2025"),
    "bulleted": (" - ", "Most popular", "- {h}\n{t}"),
}


@pytest.mark.parametrize("variant", SAMPLE_VARIANTS)
@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["LF", "CRLF"])
def test_sample_variations_parse_like_the_sample(
    sample: ParsedArticle, variant: str, newline: str
) -> None:
    separator, trigger, shape = SAMPLE_VARIANTS[variant]
    head, body, pairs = _sample_parts()
    lines = [head.replace(" - Business Insider", f"{separator}Business Insider"), body.rstrip()]
    lines += [trigger] if trigger else []
    lines += [shape.format(h=h, t=t) for h, t in pairs]
    article = text_page(newline.join("\n".join(lines).split("\n")))
    assert (article.title, article.outlet) == (sample.title, sample.outlet)
    assert article.paragraphs == sample.paragraphs
    assert article.related == sample.related


def test_sample_language_and_confidence(sample: ParsedArticle) -> None:
    assert sample.language == "en"
    assert sample.metadata == {"extraction_confidence": 1.0}
    assert (sample.authors, sample.published) == ((), None)


# --------------------------------------------------------------------------
# Teaser blocks recognised by their shape


def test_trailing_headline_teaser_pairs_are_teasers_without_a_trigger() -> None:
    article = text_page(
        f"Tram line - City Courier\n{BODY_TEXT}\n"
        "Bus fares to rise in January\nFares will go up by 4% across the region, it said.\n"
        "New bridge opens to cyclists\nCyclists can cross the new bridge from Monday.\n"
        "Library hours cut\nSix branches will close an hour earlier on weekdays from May.\n"
    )
    assert article.paragraphs == tuple(BODY)
    assert [i.title for i in article.related] == [
        "Bus fares to rise in January",
        "New bridge opens to cyclists",
        "Library hours cut",
    ]


@pytest.mark.parametrize(
    "ending",
    [
        # Two complete sentences after subheadings: too little to call it a block.
        "What happens next\nThe council will publish a timetable in the spring.\n"
        "Who pays\nThe city and a national fund will share the cost of the work.",
        # An FAQ: question subheadings answered in one sentence each.
        "Who will run it?\nThe regional operator will run the trams for ten years.\n"
        "What will it cost?\nA single ticket will cost the same as on the bus today.\n"
        "When will it open?\nThe first trams should run in the autumn of 2028, officials said.",
        # A closing line and a sign-off.
        "The council meets again on Thursday.\nAdditional reporting by Tom Hart",
    ],
)
def test_body_endings_that_only_resemble_teasers_are_kept(ending: str) -> None:
    article = text_page(f"Tram line - City Courier\n{BODY_TEXT}\n{ending}")
    assert article.related == ()
    assert article.paragraphs == (*BODY, *ending.split("\n"))


def test_in_body_story_links_and_page_furniture_are_dropped() -> None:
    article = text_page(
        f"Tram line - City Courier\n{BODY[0]}\nRead more: Bus fares to rise in January\n"
        f"Advertisement\n{BODY[1]}\nStory continues below\n{BODY[2]}"
    )
    assert article.paragraphs == tuple(BODY)


# --------------------------------------------------------------------------
# By-lines and date lines


@pytest.mark.parametrize(
    ("lines", "authors", "published"),
    [
        (["By Ana Lima"], ("Ana Lima",), None),
        (["By Ana Lima and Tom Hart, Political Correspondents"], ("Ana Lima", "Tom Hart"), None),
        (["Ana Lima | 6 May 2025"], ("Ana Lima",), "2025-05-06"),
        (["By Ana Lima", "Published 6 May 2025, 08:00 BST"], ("Ana Lima",), "2025-05-06"),
        (["May 6, 2025 at 8:00 a.m. EDT"], (), "2025-05-06"),
        (["By Ana Lima in Lisbon \u00b7 3 hours ago \u00b7 4 min read"], ("Ana Lima",), None),
        (["Updated: 2025-05-06T08:00:00Z"], (), "2025-05-06"),
        (["Tuesday 6 May 2025 08.00 BST", "By Ana Lima"], ("Ana Lima",), "2025-05-06"),
        (["Par Claire Dubosson, 17 janv. 2025"], ("Claire Dubosson",), None),
    ],
)
def test_by_lines_and_date_lines_under_the_title(
    lines: list[str], authors: tuple[str, ...], published: str | None
) -> None:
    article = text_page("Tram line - City Courier\n" + "\n".join(lines) + f"\n{BODY_TEXT}")
    assert article.paragraphs == tuple(BODY)
    assert (article.authors, article.published) == (authors, published)


@pytest.mark.parametrize(
    "first",
    [
        "By the time the council voted, most residents had gone home for the night.",
        "By Tuesday",
        "From our correspondent in Lisbon",
    ],
)
def test_body_lines_that_start_like_a_by_line_are_kept(first: str) -> None:
    article = text_page(f"Tram line - City Courier\n{first}\n{BODY_TEXT}")
    assert article.paragraphs == (first, *BODY)
    assert article.authors == ()


# --------------------------------------------------------------------------
# Hard wraps and hyphenation


def test_hard_wrapped_page_keeps_its_paragraphs() -> None:
    wrapped = "\n\n".join(textwrap.fill(p, width=40) for p in BODY)
    article = text_page(f"Tram line - City Courier\n\n{wrapped}")
    assert article.paragraphs == tuple(BODY)


# --------------------------------------------------------------------------
# Fuzzing and generated pages


@FUZZ
@given(st.text())
def test_fuzz_random_text(text: str) -> None:
    for kind in (PayloadKind.TEXT, PayloadKind.HTML):
        raw = raw_or_none(kind=kind, text=text)
        if raw is not None:
            parse_or_parse_error(raw)


_VOCAB = st.sampled_from(
    ["council", "minister", "match", "film", "shares", "river", "talks", "season", "record",
     "said", "on", "Tuesday", "the", "new", "plan", "would", "cost", "more", "than", "expected"]
)  # fmt: skip
_OUTLETS = st.sampled_from(["Reuters", "City Courier", "The Harbour Post", "Le Monde", "BBC News"])
_SENTENCE = st.lists(_VOCAB, min_size=9, max_size=25).map(
    lambda ws: " ".join(ws).capitalize() + "."
)
_HEADLINE = st.lists(_VOCAB, min_size=2, max_size=8).map(lambda ws: " ".join(w.title() for w in ws))
_TEASER = st.lists(_VOCAB, min_size=10, max_size=20).map(
    lambda ws: " ".join(ws).capitalize() + "..."
)


@FUZZ
@given(
    headline=_HEADLINE,
    outlet=_OUTLETS,
    separator=st.sampled_from([" - ", " | ", " \u2013 ", " \u2014 "]),
    body=st.lists(_SENTENCE, min_size=4, max_size=10),
    trigger=st.sampled_from(["You may also like...", "Related stories", "Read more:", "Trending"]),
    teasers=st.lists(st.tuples(_HEADLINE, _TEASER, st.booleans()), max_size=5),
)
def test_generated_text_pages_round_trip(
    headline: str,
    outlet: str,
    separator: str,
    body: list[str],
    trigger: str,
    teasers: list[tuple[str, str, bool]],
) -> None:
    block = "".join(f"{t}\n{chr(10) if blank else ''}{teaser}\n" for t, teaser, blank in teasers)
    page = f"{headline}{separator}{outlet}\n" + "\n".join(body) + f"\n{trigger}\n{block}"
    article = text_page(page)
    assert (article.title, article.outlet) == (headline, outlet)
    assert article.paragraphs == tuple(body)
    assert [(i.title, i.teaser) for i in article.related] == [(t, s) for t, s, _ in teasers]
