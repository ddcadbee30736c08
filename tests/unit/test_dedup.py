"""Dedup fingerprints: pure and deterministic."""

from __future__ import annotations

import numpy as np

from worker.pipeline.dedup import jaccard_estimate, minhash, shingles, simhash

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
