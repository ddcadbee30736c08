"""The parse stage on real news pages: the 102 development pages of the
article-extraction-benchmark in ../shared/extraction/aeb-dev (see its README),
scored with the benchmark's own scorer (bench/extraction.py --real prints the
same figures). Every page there is an article: none may be refused, and the
body F1 must be at least trafilatura's own with default settings, measured on
the same pages in the same run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.extraction import (
    RealPage,
    RealRun,
    benchmark_figures,
    load_real,
    newswire_body,
    run_real,
    trafilatura_body,
)

AEB_DEV = Path(__file__).resolve().parents[2].parent / "shared" / "extraction" / "aeb-dev"

pytestmark = pytest.mark.skipif(
    not (AEB_DEV / "ground-truth.json").is_file(),
    reason=f"the real pages are not here: {AEB_DEV} is absent",
)


@pytest.fixture(scope="module")
def pages() -> list[RealPage]:
    return load_real(AEB_DEV)


@pytest.fixture(scope="module")
def newswire(pages: list[RealPage]) -> RealRun:
    return run_real(pages, "newswire", newswire_body)


@pytest.fixture(scope="module")
def trafilatura_default(pages: list[RealPage]) -> RealRun:
    return run_real(pages, "trafilatura default", trafilatura_body)


def test_all_the_real_pages_are_there(pages: list[RealPage]) -> None:
    assert len(pages) == 102
    assert all(page.body for page in pages)


def test_no_real_article_is_refused(newswire: RealRun) -> None:
    assert newswire.refused == []


def test_body_f1_is_at_least_trafilatura_defaults(
    newswire: RealRun, trafilatura_default: RealRun
) -> None:
    ours, theirs = benchmark_figures(newswire.scores), benchmark_figures(trafilatura_default.scores)
    assert ours[0] >= theirs[0], f"newswire F1/P/R {ours}, trafilatura default {theirs}"
