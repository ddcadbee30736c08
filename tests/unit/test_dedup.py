"""Dedup fingerprints: pure and deterministic."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.pipeline.dedup import (
    fingerprint,
    fingerprints,
    jaccard_estimate,
    minhash,
    shingles,
    simhash,
)
from worker.pipeline.models import ParsedArticle

TEXT = " ".join(f"word{i} filler{i % 7}" for i in range(300))


def test_signatures_are_stable_across_calls_and_typography() -> None:
    a = minhash(shingles(TEXT))
    b = minhash(shingles(TEXT.upper().replace(" ", "  ")))
    assert np.array_equal(a, b)
    assert simhash(shingles(TEXT)) == simhash(shingles(TEXT.upper()))


def test_estimate_tracks_true_jaccard() -> None:
    words = TEXT.split()
    truncated = " ".join(words[: int(len(words) * 0.7)])
    sa, sb = shingles(TEXT), shingles(truncated)
    true = len(set(sa.tolist()) & set(sb.tolist())) / len(set(sa.tolist()) | set(sb.tolist()))
    estimate = jaccard_estimate(minhash(sa, 256), minhash(sb, 256))
    assert abs(estimate - true) < 0.1


def test_unrelated_texts_score_low_and_empty_text_is_safe() -> None:
    other = " ".join(f"other{i} thing{i % 5}" for i in range(300))
    assert jaccard_estimate(minhash(shingles(TEXT)), minhash(shingles(other))) < 0.1
    assert minhash(shingles("")).shape == (64,)
    assert simhash(shingles("")) == simhash(shingles("  "))


def _article(*paragraphs: str) -> ParsedArticle:
    return ParsedArticle(title="t", paragraphs=paragraphs)


_BODIES = [
    (),
    ("",),
    ("one",),
    ("one two",),  # fewer words than a shingle: padded with empty words
    ("one two three",),
    ("The Cat sat, on the mat!", "The dog \u2014 \u201cdid not\u201d."),
    ("Caf\u00e9 na\u00efve \u5317\u4eac r\u00e9sum\u00e9 \ufb01ne \u00bd",),
    tuple(f"Paragraph {i} of a longer story about harbour walls and storms." for i in range(40)),
]


def test_fingerprints_give_each_articles_fingerprint() -> None:
    articles = [_article(*b) for b in _BODIES] * 4  # 32: more than one group of 25
    assert fingerprints(articles) == [fingerprint(a) for a in articles]
    assert fingerprints([]) == []


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from(["a", "b", "Cat", "\u00e9t\u00e9", "x-y", ".", "\u5317"])).map(
            " ".join
        ),
        max_size=30,
    )
)
def test_fingerprints_of_any_bodies_match_one_by_one(bodies: list[str]) -> None:
    articles = [_article(b) for b in bodies]
    assert fingerprints(articles) == [fingerprint(a) for a in articles]
