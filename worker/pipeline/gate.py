"""The "is this an article?" gate, run on what the parse stage extracted.

Pure: it sees only the title, the body paragraphs and the teasers, whatever
the payload's shape was. :func:`assess` returns a confidence in the
extraction and, for a page that is not an article, a verdict (a short
machine-readable kind) with a human message: ``parse`` raises NotAnArticle
with it.

Only what is certainly not an article is refused; a verdict the evidence
leaves in doubt (a short story among many headline links, a list of lines
that are not links) is returned with ``certain=False``: ``parse`` stores the
article with that verdict and a low confidence.

The verdicts (``empty``, ``too_short``, ``error_page``, ``cookie_wall``,
``index_page``, ``teasers_only``) and why each is a separate rule: an error
page or a cookie wall can be long enough to pass a word count; an index page
(a list of headlines) and a page of teasers are long enough too but have no
prose; a stub under ``MIN_BODY_WORDS`` words is a teaser or a broken scrape.
The dead-letter reason stays ``not_an_article`` (the NotAnArticle class's);
the verdict travels in the message, in brackets.

The confidence is half length (saturating at 150 words) and half the share
of words in prose paragraphs: a heuristic score for sorting and thresholds,
not a calibrated probability.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from worker.pipeline.text import word_counts

__all__ = ["MIN_BODY_WORDS", "Assessment", "assess"]

# Below this the payload is a stub, a teaser or an error page, not an article.
MIN_BODY_WORDS: Final = 20
# A paragraph of prose: this many words and sentence punctuation at the end;
# a headline-like line: short and without it.
_PROSE_MIN_WORDS: Final = 5
_HEADLINE_MAX_WORDS: Final = 16
_SENTENCE_END: Final = (".", "!", "?", '"', "\u201d", "\u2019", "'", ")", "\u2026", ":")
# Error and consent pages are short; a long article merely mentioning cookies is not one.
_BOILERPLATE_MAX_WORDS: Final = 250
_CONSENT_MIN_HITS: Final = 3
# An index page: at least this many headline-like lines, most of the page, little prose.
_INDEX_MIN_HEADLINES: Final = 6
_INDEX_HEADLINE_SHARE: Final = 0.6
_INDEX_MAX_PROSE_WORDS: Final = 80
# Paragraphs cut off with "..." are teasers for stories elsewhere.
_ELLIPSIS: Final = ("...", "\u2026")
_TEASERS_MIN: Final = 3
# Words at which the length part of the confidence saturates.
_CONFIDENT_WORDS: Final = 150

_ERROR_PAGE: Final = re.compile(
    r"\b(?:404|403|410|500|502|503)\b.{0,40}\b(?:error|not found|forbidden|gone|unavailable)\b"
    r"|\bpage (?:not found|cannot be found|could not be found|you requested)\b"
    r"|\b(?:we|you) (?:can'?t|cannot|couldn'?t) find (?:the|that|this) page\b"
    r"|\b(?:this|the) page (?:does not|doesn'?t|no longer) exists?\b"
    r"|\baccess (?:denied|forbidden)\b|\binternal server error\b|\bservice unavailable\b"
    r"|\bsomething went wrong\b|\bare you a robot\b|\benable javascript\b",
    re.IGNORECASE,
)
_CONSENT: Final = re.compile(
    r"\bcookies?\b|\bconsent\b|\baccept all\b|\breject all\b|\bmanage (?:preferences|options)\b"
    r"|\bprivacy (?:settings|policy)\b|\bour (?:\d+ )?partners\b|\blegitimate interests?\b"
    r"|\bpersonali[sz]ed (?:ads|advertising|content)\b|\bstore and/or access information\b",
    re.IGNORECASE,
)

# Every _CONSENT match holds one of these (lower-case ASCII).
_CONSENT_WORDS: Final = (
    "cookie",
    "consent",
    "accept all",
    "reject all",
    "manage ",
    "privacy ",
    "partners",
    "legitimate interest",
    "personali",
    "store and/or access",
)


# Non-ASCII letters that _CONSENT's IGNORECASE matches to ASCII ones but
# str.lower() does not map to them (the Kelvin sign it does).
_ASCII_CASE_TWINS: Final = (("\u0130", "i"), ("\u0131", "i"), ("\u017f", "s"))


def _consent_hits(text: str) -> int:
    """Matches of _CONSENT in ``text``. Substring tests on the lower-cased
    text rule most texts out first: the regex tries every alternative at
    every word (~100 us on 1.5 KB of prose) and finds nothing there."""
    lowered = text
    if not text.isascii():
        for twin, letter in _ASCII_CASE_TWINS:
            if twin in lowered:  # str.replace, unlike str.translate, runs in C
                lowered = lowered.replace(twin, letter)
    lowered = lowered.lower()
    if not any(word in lowered for word in _CONSENT_WORDS):
        return 0
    return len(_CONSENT.findall(text))


@dataclass(frozen=True, slots=True)
class Assessment:
    """How sure the parse stage is that it holds an article."""

    confidence: float  # 0..1
    verdict: str | None = None  # None: an article; else "error_page", "cookie_wall", ...
    message: str = ""
    words: int = 0  # in the body, counted once here for everyone after
    # A verdict the evidence makes certain (refuse the page); an uncertain one
    # is kept on the stored article as a doubt, never a reason to refuse it.
    certain: bool = True

    @property
    def is_article(self) -> bool:
        return self.verdict is None

    @property
    def refused(self) -> bool:
        return self.verdict is not None and self.certain


def _is_prose(paragraph: str, words: int) -> bool:
    return words >= _PROSE_MIN_WORDS and paragraph.endswith(_SENTENCE_END)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def assess(
    title: str,
    paragraphs: Sequence[str],
    related_count: int = 0,
    *,
    headline_links: int = 0,
    linked_lines: int | None = None,
) -> Assessment:
    """Confidence and verdict for an extraction.

    ``paragraphs`` is the body after the teaser block was cut off,
    ``related_count`` the number of teasers cut; HTML only: ``headline_links``
    the links on the whole page whose text reads like a headline, and
    ``linked_lines`` how many body paragraphs are the text of a link (None:
    the payload has no links to tell).

    Only what is certainly not an article is refused (``certain``): no body,
    an error page, a consent wall, a stub, teasers only, or a body that is
    nothing but headlines. Links around a story (rails, most-read lists,
    section navigation) make a verdict a doubt, kept with the article.
    """
    counts = word_counts(paragraphs)
    words = sum(counts)
    if not paragraphs:
        if headline_links >= _INDEX_MIN_HEADLINES:
            return Assessment(
                0.0,
                "index_page",
                f"an index page: {_plural(headline_links, 'headline link')} and no prose",
            )
        if related_count:
            return Assessment(
                0.0,
                "teasers_only",
                f"no article body: the page holds only teasers ({related_count})",
            )
        return Assessment(0.0, "empty", "no article body")

    prose_words = sum(n for p, n in zip(paragraphs, counts, strict=True) if _is_prose(p, n))
    headlines = sum(
        1
        for p, n in zip(paragraphs, counts, strict=True)
        if 0 < n <= _HEADLINE_MAX_WORDS and not p.endswith(_SENTENCE_END)
    )
    confidence = round(
        0.5 * min(1.0, words / _CONFIDENT_WORDS) + 0.5 * (prose_words / words if words else 0.0), 3
    )

    if words <= _BOILERPLATE_MAX_WORDS:
        head = f"{title}\n{paragraphs[0]}"
        if _ERROR_PAGE.search(head):
            return Assessment(confidence / 4, "error_page", "an error page, not an article")
        if _consent_hits("\n".join(paragraphs)) >= _CONSENT_MIN_HITS:
            return Assessment(
                confidence / 4, "cookie_wall", "a cookie or consent wall, not an article"
            )
    truncated = sum(1 for p in paragraphs if p.endswith(_ELLIPSIS))
    if truncated >= _TEASERS_MIN and truncated >= _INDEX_HEADLINE_SHARE * len(paragraphs):
        return Assessment(
            confidence / 2,
            "teasers_only",
            f"a page of teasers: {_plural(truncated, 'truncated paragraph')}",
        )
    if words < MIN_BODY_WORDS:
        verdict = "index_page" if headline_links >= _INDEX_MIN_HEADLINES else "too_short"
        message = (
            f"an index page: {_plural(headline_links, 'headline link')} and little prose"
            if verdict == "index_page"
            else f"article body too short: {_plural(words, 'word')}"
            f" (an article has at least {MIN_BODY_WORDS})"
        )
        return Assessment(confidence / 2, verdict, message)
    if (
        headlines >= _INDEX_MIN_HEADLINES
        and headlines >= _INDEX_HEADLINE_SHARE * len(paragraphs)
        and prose_words <= _INDEX_MAX_PROSE_WORDS
    ):
        # Certain only when the lines are headlines for sure: no prose at all
        # and, where the page has links, most of them are link texts (a list
        # article, a fixture table or a timetable is lines without links).
        linked = linked_lines is None or linked_lines >= _INDEX_HEADLINE_SHARE * headlines
        return Assessment(
            confidence / 2,
            "index_page",
            f"an index page: {_plural(headlines, 'headline')} and little prose",
            words,
            certain=prose_words == 0 and linked,
        )
    if headline_links >= _INDEX_MIN_HEADLINES and words < _INDEX_MAX_PROSE_WORDS:
        # A short story among many links: the links are the page around it.
        return Assessment(
            confidence / 2,
            "index_page",
            f"maybe an index page: {_plural(headline_links, 'headline link')} and little prose",
            words,
            certain=False,
        )
    return Assessment(confidence, words=words)
