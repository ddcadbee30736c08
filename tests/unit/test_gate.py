"""The "is this an article?" gate, on its own and through parse."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.parse_helpers import BODY, html_page, text_page
from worker.pipeline.errors import NotAnArticle
from worker.pipeline.gate import _CONSENT, Assessment, _consent_hits, assess


@pytest.mark.parametrize(
    ("page", "verdict"),
    [
        ("Tram line - City Courier\n\n", "empty"),
        ("Tram line - City Courier\nToo short to be an article.", "too_short"),
        (
            "Oops - City Courier\nError 404: page not found. The page you requested has moved"
            " or never existed; try the search box or the front page for the latest news.",
            "error_page",
        ),
        (
            "Privacy - City Courier\nWe and our partners use cookies to store and/or access"
            " information on your device. With your consent we show personalised ads.\n"
            "Accept all\nReject all",
            "cookie_wall",
        ),
        (
            "News - City Courier\n"
            + "\n".join(f"Headline number {n} about the council" for n in range(8)),
            "index_page",
        ),
        (
            "News - City Courier\n"
            + "\n".join(
                f"Teaser {n} says the council voted to cut the budget again..." for n in range(4)
            ),
            "teasers_only",
        ),
    ],
)
def test_not_an_article_verdicts(page: str, verdict: str) -> None:
    with pytest.raises(NotAnArticle) as info:
        text_page(page)
    assert f"[{verdict}]" in str(info.value)
    assert info.value.reason == "not_an_article"  # what the dead-letter stream records


def test_a_long_article_that_mentions_cookies_and_errors_is_an_article() -> None:
    text = (
        "Bakery fined over cookie recipe - City Courier\n"
        "A bakery was fined after an error in its cookie recipe, the page on its website said.\n"
        + "\n".join(
            f"The court heard that the cookies and the consent forms were checked in week {n}."
            for n in range(30)
        )
    )
    article = text_page(text)
    assert len(article.paragraphs) == 31


def test_assess_confidence_grows_with_prose() -> None:
    stub = assess("T", ["One short line without an end"] * 2)
    prose = assess("T", BODY * 4)
    assert prose.is_article and prose.confidence > 0.8
    assert not stub.is_article and stub.confidence < prose.confidence
    assert 0.0 <= stub.confidence <= 1.0


def test_html_index_page_is_refused_by_its_headline_links() -> None:
    links = "".join(
        f'<li><a href="/n/{n}">Council approves plan number {n} for the city</a></li>'
        for n in range(10)
    )
    with pytest.raises(NotAnArticle, match=r"\[index_page\]"):
        html_page(f"<html><body><main><h1>Latest</h1><ul>{links}</ul></main></body></html>")


_CONSENT_PIECES = st.sampled_from(
    ["cookie", "Cookies", "COOKIE", "consent", "Accept all", "reject  all", "manage options",
     "Manage preferences", "privacy settings", "privacy policy", "our 842 partners",
     "legitimate interests", "personalised ads", "Personalized content",
     "store and/or access information", "coo", "kie", " ", "\n", ".", "x", "\u212a", "\u017f",
     "\u0130", "\u0131", "pr\u0131vacy policy", "PR\u0130VACY SETT\u0130NGS",
     "\u017ftore and/or access", "coo\u212aie", "\u00e9", "3"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(_CONSENT_PIECES, max_size=12).map("".join))
def test_consent_hits_count_what_the_consent_pattern_finds(text: str) -> None:
    # The substring pre-check must never hide a match from the regex.
    assert _consent_hits(text) == len(_CONSENT.findall(text))


def _rail(n: int) -> str:
    return "".join(
        f'<li><a href="/n/{i}">Council approves plan number {i} for the city</a></li>'
        for i in range(n)
    )


def test_a_short_story_among_many_headline_links_is_stored_with_the_doubt() -> None:
    story = "".join(f"<p>{p}</p>" for p in BODY)
    article = html_page(
        "<html><body><nav><ul>" + _rail(12) + "</ul></nav>"
        f"<article><h1>Tram line extended</h1>{story}</article>"
        '<aside class="most-read"><ul>' + _rail(8) + "</ul></aside></body></html>"
    )
    assert article.paragraphs == tuple(BODY)
    assert article.metadata["extraction_verdict"] == "index_page"
    assert article.metadata["extraction_confidence"] < 0.5


def test_html_lines_that_are_not_links_are_not_an_index_page() -> None:
    rows = "".join(f"<p>Round {n}: 10 May at the city stadium</p>" for n in range(1, 13))
    article = html_page(
        f"<html><body><article><h1>Season fixtures</h1>{rows}</article></body></html>"
    )
    assert len(article.paragraphs) == 12
    assert article.metadata["extraction_verdict"] == "index_page"  # a doubt, stored


def test_a_body_of_headline_links_is_refused() -> None:
    rows = "".join(
        f'<p><a href="/n/{n}">Round {n} result at the stadium</a></p>' for n in range(12)
    )
    with pytest.raises(NotAnArticle, match=r"\[index_page\]"):
        html_page(f"<html><body><main><h1>Results</h1>{rows}</main></body></html>")


def test_an_article_has_no_verdict_in_its_metadata() -> None:
    article = text_page("Tram line - City Courier\n" + "\n".join(BODY * 3))
    assert "extraction_verdict" not in article.metadata


@pytest.mark.parametrize(
    ("verdict", "certain"),
    [
        (assess("T", []), True),
        (assess("T", ["Too short to be an article."]), True),
        (assess("T", BODY, headline_links=40), False),
        (assess("T", [f"Headline number {n} about the council" for n in range(8)]), True),
        (assess("T", [f"Headline {n} about the council" for n in range(8)], linked_lines=0), False),
    ],
)
def test_only_certain_verdicts_refuse(verdict: Assessment, certain: bool) -> None:
    assert verdict.verdict is not None
    assert verdict.refused is certain
