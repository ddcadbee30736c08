"""The parse stage's HTML path: whole pages, junk blocks and hostile documents."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.parse_helpers import BODY, FUZZ, html_page, parse_or_parse_error, raw_or_none
from worker.pipeline.errors import NotAnArticle, ParseError
from worker.pipeline.models import ParsedArticle, PayloadKind, RawArticle
from worker.pipeline.parse import MAX_HTML_BYTES, MAX_HTML_ELEMENTS
from worker.pipeline.parse import html as html_module
from worker.pipeline.parse.html import _prefer_recall

# --------------------------------------------------------------------------
# HTML pages

ARTICLE_HTML = """<!DOCTYPE html>
<html lang="en-GB">
<head>
  <meta charset="utf-8">
  <title>Tram line to reach new hospital by 2028 | City Courier</title>
  <meta property="og:site_name" content="City Courier">
  <meta property="og:title" content="Tram line to reach new hospital by 2028">
  <meta name="author" content="Ana Lima">
  <meta name="description" content="The council approved a four-kilometre extension.">
  <meta property="article:published_time" content="2025-05-06T08:00:00+01:00">
  <link rel="canonical" href="https://courier.example/news/tram-hospital">
</head>
<body>
  <header><nav><ul>
    <li><a href="/">Home</a></li><li><a href="/news">News</a></li>
    <li><a href="/sport">Sport</a></li>
  </ul></nav></header>
  <main>
    <article>
      <h1>Tram line to reach new hospital by 2028</h1>
      <p>The city council voted on Tuesday to extend the tram line to the new hospital on
      the eastern edge of the city, ending a decade of arguments about how patients should
      get there.</p>
      <p>Work on the four-kilometre extension is expected to start next spring and to last two
      years, with six new stops and a depot for the longer trams the city ordered last year.</p>
      <p>Opponents said the money would be better spent on buses serving the outer suburbs,
      where many residents have no direct link to the centre at all.</p>
      <p>The mayor said the project would be paid for jointly by the city and a national fund
      for public transport, and that fares would not rise to cover it.</p>
    </article>
    <aside class="related">
      <h2>Related stories</h2>
      <ul>
        <li><a href="/news/bus-fares">Bus fares to rise in January across the region</a></li>
        <li><a href="/news/bridge">New bridge opens to cyclists and walkers on Monday</a></li>
      </ul>
    </aside>
  </main>
  <footer><p>&copy; 2025 City Courier. All rights reserved.</p>
    <a href="/privacy">Privacy policy</a> <a href="/contact">Contact us</a></footer>
</body>
</html>
"""


@pytest.fixture(scope="module")
def html_article() -> ParsedArticle:
    return html_page(ARTICLE_HTML)


def test_html_date_comes_from_markup_not_from_dates_the_story_mentions() -> None:
    undated = ARTICLE_HTML.replace(
        '  <meta property="article:published_time" content="2025-05-06T08:00:00+01:00">\n', ""
    ).replace("get there.</p>", "get there. The first plan was drawn up on 12 March 2019.</p>")
    assert html_page(undated).published is None
    timed = undated.replace(
        "<h1>Tram line to reach new hospital by 2028</h1>",
        '<h1>Tram line to reach new hospital by 2028</h1><time datetime="2025-05-06">6 May</time>',
    )
    assert html_page(timed).published == "2025-05-06"


def test_html_title_outlet_and_metadata(html_article: ParsedArticle) -> None:
    assert html_article.title == "Tram line to reach new hospital by 2028"
    assert html_article.outlet == "City Courier"
    assert html_article.url == "https://courier.example/news/tram-hospital"
    assert html_article.authors == ("Ana Lima",)
    assert html_article.published == "2025-05-06"
    assert html_article.language == "en"
    assert (
        html_article.metadata["description"] == "The council approved a four-kilometre extension."
    )


def test_html_body_is_the_article_only(html_article: ParsedArticle) -> None:
    body = html_article.body
    assert html_article.paragraphs[0].startswith("The city council voted on Tuesday")
    assert html_article.paragraphs[-1].startswith("The mayor said the project")
    assert len(html_article.paragraphs) == 4
    # The paragraphs were wrapped in the source: whitespace is collapsed.
    assert "  " not in body and "\n" not in "".join(html_article.paragraphs)
    for junk in ("Bus fares", "New bridge", "Privacy", "All rights reserved", "Sport", "Home"):
        assert junk not in body


def test_html_payload_url_wins_over_canonical() -> None:
    assert html_page(ARTICLE_HTML, url="https://x.example/a").url == "https://x.example/a"


def test_html_title_falls_back_to_the_title_element() -> None:
    html = ARTICLE_HTML.replace('<meta property="og:site_name" content="City Courier">', "")
    html = html.replace(
        '<meta property="og:title" content="Tram line to reach new hospital by 2028">', ""
    )
    html = html.replace("<h1>Tram line to reach new hospital by 2028</h1>", "")
    article = html_page(html)
    assert article.title == "Tram line to reach new hospital by 2028"
    assert article.outlet == "City Courier"


def test_html_bare_fragment_is_accepted() -> None:
    article = html_page("".join(f"<p>{p}</p>" for p in BODY * 2))
    assert article.paragraphs[0] == BODY[0]


def test_html_without_main_text_is_not_an_article() -> None:
    with pytest.raises(NotAnArticle, match="no article body"):
        html_page("<html><head><title>Tram line - City Courier</title></head><body></body></html>")
    with pytest.raises(NotAnArticle, match=r"too short: .*\[too_short\]"):
        html_page("<html><body><nav><a href='/'>Home</a></nav></body></html>")


def test_html_over_the_size_limit_is_refused() -> None:
    huge = "<html><body>" + "<p>word</p>" * (MAX_HTML_BYTES // 11 + 1) + "</body></html>"
    with pytest.raises(ParseError, match="MB limit"):
        html_page(huge)


@pytest.mark.parametrize(
    ("junk", "why"),
    [
        ("<<<>>>&&&", r"too short: .*\[too_short\]"),
        ("not html at all", r"too short: .*\[too_short\]"),
        ("<html>" + "<div>" * 5000 + "x" + "</div>" * 5000 + "</html>",
         r"nest deeper than 255 levels.*\[empty\]"),
        ("\x00\x01<html><body><p>a</p></body></html>", r"too short: .*\[too_short\]"),
        ("<?xml version='1.0' encoding='utf-8'?><html><body><p>x</p></body></html>",
         r"too short: .*\[too_short\]"),
        ("<html><body><script>alert(1)</script><style>p{}</style></body></html>",
         r"^no article body \[empty\]"),  # the script's text is not the body
        ("<!-- only a comment -->", r"^no article body \[empty\]"),
    ],
)  # fmt: skip
def test_html_junk_is_refused_with_its_verdict(junk: str, why: str) -> None:
    with pytest.raises(NotAnArticle, match=why) as refused:
        html_page(junk)
    assert refused.value.reason == "not_an_article"


# --------------------------------------------------------------------------
# HTML: junk blocks and hostile documents

_JUNK_BLOCKS = (
    '<div class="newsletter-signup"><p>Sign up for the morning briefing and get our top'
    " stories in your inbox every single day of the week.</p></div>"
    '<div class="share-bar"><a href="#">Share on Facebook</a></div>'
    '<section id="comments"><p>Reader1: I think the tram is a waste of money and the buses'
    " were always fine for getting to the old hospital.</p></section>"
)


def test_html_newsletter_share_and_comment_blocks_stay_out_of_the_body() -> None:
    paragraphs = "".join(f"<p>{p}</p>" for p in BODY * 2)
    article = html_page(
        f"<html><body><article><h1>Tram line</h1>{paragraphs}{_JUNK_BLOCKS}</article></body></html>"
    )
    assert article.paragraphs == tuple(BODY * 2)


def test_html_external_entities_are_not_resolved() -> None:
    paragraphs = "".join(f"<p>{p}</p>" for p in BODY * 2)
    html = (
        '<?xml version="1.0"?><!DOCTYPE html [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        f"<html><body><article>{paragraphs}<p>&xxe;</p></article></body></html>"
    )
    article = html_page(html)  # parsed: the DOCTYPE's entity is ignored, not fetched
    assert article.paragraphs == (*BODY * 2, "&xxe;")  # left as text, unexpanded
    assert "root:" not in article.body


_P = "<p>" + " ".join(BODY) + "</p>"
HOSTILE_HTML = {
    "billion laughs": '<!DOCTYPE html [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;'
    '&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;'
    '&c;&c;">]><html><body>' + _P * 3 + "<p>&d;&d;&d;&d;&d;</p></body></html>",
    "deep nesting": "<html><body>" + "<div>" * 100_000 + _P + "</div>" * 100_000 + "</body></html>",
    "many elements": "<html><body>" + "<span>x</span>" * 30_000 + "</body></html>",
    "element count just under the limit": "<html><body>"
    + "<p>word</p>" * (MAX_HTML_ELEMENTS - 10)
    + "</body></html>",
    "huge attribute": '<html><body><div class="'
    + "a" * 3_000_000
    + '">'
    + _P * 3
    + "</div></body></html>",
    "huge text": "<html><body><p>" + "word " * 900_000 + "</p></body></html>",
    "unclosed tags": "<html><body>" + "<p><b><i><a href='x'>" * 20_000 + "</body></html>",
    "many tables": "<html><body>"
    + "<table><tr><td>cell text</td></tr></table>" * 6_000
    + "</body></html>",
    "remote resources": '<html><head><base href="http://10.255.255.1/"><link rel="stylesheet"'
    ' href="http://10.255.255.1/x.css"></head><body><iframe src="http://10.255.255.1/"></iframe>'
    + _P * 3
    + '<img src="http://10.255.255.1/a.png"></body></html>',
}


@pytest.mark.timeout(30)  # a bound per hostile document (pytest-timeout), not a speed target
@pytest.mark.parametrize("name", HOSTILE_HTML)
def test_hostile_html_is_parsed_or_refused_in_bounded_time(name: str) -> None:
    raw = raw_or_none(kind=PayloadKind.HTML, text=HOSTILE_HTML[name])
    assert raw is not None
    parse_or_parse_error(raw)


def test_html_teaser_cards_without_class_hints_become_related() -> None:
    paragraphs = "".join(f"<p>{p}</p>" for p in BODY * 2)
    cards = "".join(
        f'<div><h3><a href="/s/{n}">Council story number {n} headline</a></h3>'
        f"<p>A one-sentence teaser for story {n}, cut off...</p></div>"
        for n in range(4)
    )
    article = html_page(
        f"<html><body><article><h1>Tram line</h1>{paragraphs}<div>{cards}</div>"
        "</article></body></html>"
    )
    assert article.paragraphs == tuple(BODY * 2)
    assert [i.title for i in article.related] == [
        f"Council story number {n} headline" for n in range(4)
    ]
    assert article.related[0].teaser == "A one-sentence teaser for story 0, cut off..."


def test_html_related_block_links_are_kept_once_in_related() -> None:
    paragraphs = "".join(f"<p>{p}</p>" for p in BODY * 2)
    links = "".join(f'<li><a href="/n/{n}">Bus fares rise in zone {n}</a></li>' for n in range(3))
    article = html_page(
        f"<html><body><article>{paragraphs}</article><aside class='related'><ul>{links}</ul>"
        f"</aside><div class='most-read'><ul>{links}</ul></div></body></html>"
    )
    assert [i.title for i in article.related] == [f"Bus fares rise in zone {n}" for n in range(3)]
    assert "Bus fares" not in article.body


# --------------------------------------------------------------------------
# Fuzzing


_WORDS = st.sampled_from(
    ["the", "Tram", "line", "-", "|", "\u2013", "Related", "Read more", "You may also like...",
     "\n", "\n\n", " ", "\u200b", "\u00a0", "\u201c", "\u2026", "Outlet", "12", "?", "\t"]
)  # fmt: skip
_TAGS = st.sampled_from(
    ["<html>", "</html>", "<body>", "</body>", "<p>", "</p>", "<div class='related'>", "</div>",
     "<title>", "</title>", "<h1>", "</h1>", "<script>", "</script>", "<!--", "-->", "<br>",
     "<meta property='og:site_name' content='X'>", "<article>", "</article>", "&amp;", "&#0;",
     "<![CDATA[", "]]>", "<?xml version='1.0'?>", "<a href='javascript:x'>", "</a>", "<", ">"]
)  # fmt: skip


@FUZZ
@given(st.lists(st.one_of(_WORDS, _TAGS, st.text(max_size=30)), max_size=80))
def test_fuzz_html_ish_strings(parts: list[str]) -> None:
    text = " ".join(parts)
    for kind in (PayloadKind.HTML, PayloadKind.TEXT):
        raw = raw_or_none(kind=kind, text=text)
        if raw is not None:
            parse_or_parse_error(raw)


_HOSTILE_PARTS = st.sampled_from(
    ["<!DOCTYPE html [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>", "&x;", "<div>" * 50,
     "</div>" * 50, "<p>", "</p>", "<a href='http://10.0.0.1/'>link</a>", "<iframe src='x'>",
     "<svg><script>x</script></svg>", "<table><tr><td>", "<style>@import url(x)</style>",
     "<meta http-equiv='refresh' content='0;url=http://x'>", "\x00", "\ud7ff", "\U0001f600",
     "You may also like...", "Read more: Headline", "By Ana Lima | 6 May 2025", "404 not found",
     "cookies consent accept all", " ".join(BODY), "<div class='related'>", "<p class='x'>"]
)  # fmt: skip


@pytest.mark.timeout(300)  # the whole fuzz run; a hang in one document trips it
@FUZZ
@given(st.lists(st.one_of(_HOSTILE_PARTS, _TAGS, _WORDS, st.text(max_size=20)), max_size=120))
def test_fuzz_hostile_html_and_text(parts: list[str]) -> None:
    text = "".join(parts)
    for kind in (PayloadKind.HTML, PayloadKind.TEXT):
        raw = raw_or_none(kind=kind, text=text)
        if raw is not None:
            parse_or_parse_error(raw)


@pytest.mark.parametrize(
    ("html", "why"),
    [
        (f"<html><head><title>Unclosed</head><body><p>{'Words of a story. ' * 40}</p>",
         "<title> is never closed"),
        ("<div>" * 100_000 + f"<p>{'Words of a story. ' * 40}</p>" + "</div>" * 100_000,
         "nest deeper than 255 levels"),
    ],
)  # fmt: skip
def test_a_page_whose_markup_hides_its_text_says_why(html: str, why: str) -> None:
    from worker.pipeline.parse import parse

    with pytest.raises(NotAnArticle, match=r"\[empty\]") as refused:
        parse(RawArticle(kind=PayloadKind.HTML, text=html))
    assert why in str(refused.value)


def test_a_story_whose_container_has_a_junk_class_name_is_kept() -> None:
    # WordPress puts the post's categories on its wrapper: "category-advertising".
    story = "".join(f"<p>{p}</p>" for p in BODY * 3)
    article = html_page(
        '<html><body><div class="post type-post category-advertising paywall">'
        f"<h1>Tram line extended</h1>{story}</div>"
        '<div class="share-bar"><p>Share this story on social media</p></div></body></html>'
    )
    assert article.paragraphs == tuple(BODY * 3)


def test_balanced_extraction_wins_only_with_more_prose_than_links() -> None:
    known = frozenset({"home", "news", "sport", "business", "tram line extended"})
    precise = BODY[:1]
    assert _prefer_recall(precise, BODY * 3, known)
    menus = ["Home", "News", "Sport", "Business", "Tram line extended", *precise]
    assert not _prefer_recall(precise, menus, known)
    assert not _prefer_recall(BODY * 3, [*BODY * 3, BODY[0]], known)  # a caption more


def test_a_story_the_precise_extraction_cuts_short_is_taken_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = html_module._extract

    def short_when_precise(tree: Any, *, fast: bool, precise: bool) -> Any:
        document = real(tree, fast=fast, precise=precise)
        if precise:  # as trafilatura's precision mode does on some real layouts
            document.text = document.text.split("\n")[0]
        return document

    monkeypatch.setattr(html_module, "_extract", short_when_precise)
    story = "".join(f"<p>{p}</p>" for p in BODY * 3)
    article = html_page(f"<html><body><article><h1>Tram line</h1>{story}</article></body></html>")
    assert article.paragraphs == tuple(BODY * 3)
