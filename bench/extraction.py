"""Extraction quality and speed over the fixture pages in tests/fixtures/extraction.

Per page kind: body token F1 (bag of normalised tokens against the expected
body), title exact-match rate, not-article accuracy (non-articles refused,
articles accepted) and pages per second. HTML articles are also run through
``trafilatura.extract(html)`` with default settings, side by side, and every
body is checked for leaked teaser/related text. Prints a table; asserts nothing.

    .venv/bin/python bench/extraction.py [ROUNDS]

With ``--real DIR`` (a directory laid out as the article-extraction-benchmark:
``ground-truth.json`` and ``html/<key>.html.gz``), real news pages instead:
body F1, precision and recall with the benchmark's own scorer (word 4-gram
shingles over ``\\w+`` tokens, per-page precision and recall averaged), pages
refused and the worst pages, for newswire (through ``parse``) and for
trafilatura default and ``favor_precision`` in the same run, and newswire's
HTML cost per page.

    .venv/bin/python bench/extraction.py --real ../shared/extraction/aeb-dev
"""

from __future__ import annotations

import gzip
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import trafilatura

from worker.pipeline.errors import NotAnArticle, ParseError
from worker.pipeline.models import ParsedArticle, PayloadKind, RawArticle
from worker.pipeline.parse import parse
from worker.pipeline.text import normalize_for_hash

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "extraction"
# Teaser headlines used across the fixtures: none may appear in a body.
LEAK_PROBES = (
    "Ferry fares frozen",
    "Museum reopens after roof",
    "Storm warning issued",
    "Teenage sprinter breaks",
    "Bakery chain to open",
    "Hospital car park charges",
    "Library service moves",
    "Councillors reject plan",
    "Le marché couvert",
    "Un nouveau sentier",
    "Neue Buslinie",
    "Freibad öffnet",
    "Read more",
    "Share this",
    "newsletter",
    "Advertisement",
    "Leave a Reply",
    "Ferry operator orders",
    "Harbour festival returns",
    "Council to plant",
    "Fire crews tackle",
    "Sign up to our",
    "Image caption",
)


@dataclass
class Page:
    name: str
    raw: RawArticle
    expected: dict[str, Any]

    @property
    def is_article(self) -> bool:
        return "not_article" not in self.expected


@dataclass
class Tally:
    pages: int = 0
    f1: list[float] = field(default_factory=list)
    f1_trafilatura: list[float] = field(default_factory=list)
    titles: int = 0
    titles_ok: int = 0
    outlets_ok: int = 0
    gate_ok: int = 0
    leaks: list[str] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)
    seconds: float = 0.0


def load_pages() -> list[Page]:
    pages = []
    for sidecar in sorted(FIXTURES.glob("*.expected.json")):
        name = sidecar.name.removesuffix(".expected.json")
        expected = json.loads(sidecar.read_text(encoding="utf-8"))
        kind = PayloadKind(expected["kind"])
        page = FIXTURES / f"{name}.{'txt' if kind is PayloadKind.TEXT else 'html'}"
        raw = RawArticle(kind=kind, text=page.read_text(encoding="utf-8"))
        pages.append(Page(name, raw, expected))
    return pages


def tokens(text: str) -> Counter[str]:
    return Counter(normalize_for_hash(text).split())


def token_f1(got: str, want: str) -> float:
    g, w = tokens(got), tokens(want)
    overlap = sum((g & w).values())
    if not overlap:
        return 0.0
    precision, recall = overlap / sum(g.values()), overlap / sum(w.values())
    return 2 * precision * recall / (precision + recall)


def run(page: Page) -> ParsedArticle | ParseError:
    try:
        return parse(page.raw)
    except ParseError as exc:
        return exc


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


# --------------------------------------------------------------------------
# Real pages, scored as the article-extraction-benchmark's evaluate.py does

_WORD = re.compile(r"\w+")
_SHINGLE_WORDS = 4


@dataclass(frozen=True)
class RealPage:
    key: str
    html: str
    body: str  # the true article body


@dataclass(frozen=True)
class Score:
    """A page's true/false positives and false negatives, over shingles."""

    tp: float
    fp: float
    fn: float


def load_real(directory: Path) -> list[RealPage]:
    truth = json.loads((directory / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for key in sorted(truth):
        data = gzip.decompress((directory / "html" / f"{key}.html.gz").read_bytes())
        # The benchmark's pages are UTF-8 (the extractors there read them so).
        html = data.decode("utf-8", errors="replace")
        pages.append(RealPage(key, html, truth[key].get("articleBody") or ""))
    return pages


def _shingles(text: str) -> Counter[tuple[str, ...]]:
    words = _WORD.findall(text)
    n = _SHINGLE_WORDS
    return Counter(tuple(words[i : i + n]) for i in range(max(1, len(words) - n + 1)) if words)


def shingle_score(got: str, want: str) -> Score:
    g, w = _shingles(got), _shingles(want)
    tp = float(sum((g & w).values()))
    fp = float(sum((g - w).values()))
    fn = float(sum((w - g).values()))
    total = tp + fp + fn
    return Score(tp / total, fp / total, fn / total) if total else Score(0.0, 0.0, 0.0)


def _precision(s: Score) -> float:
    if s.fp == s.fn == 0:
        return 1.0
    return s.tp / (s.tp + s.fp) if s.tp + s.fp else 0.0


def _recall(s: Score) -> float:
    if s.fp == s.fn == 0:
        return 1.0
    return s.tp / (s.tp + s.fn) if s.tp + s.fn else 0.0


def benchmark_figures(scores: list[Score]) -> tuple[float, float, float]:
    """(F1, precision, recall) as the benchmark computes them: precision over
    the pages with something predicted, recall over the pages with a truth."""
    precision = mean([_precision(s) for s in scores if s.tp + s.fp > 0])
    recall = mean([_recall(s) for s in scores if s.tp + s.fn > 0])
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return f1, precision, recall


def newswire_body(html: str) -> str | ParseError:
    """The body ``parse`` stores for a page, or why it was refused."""
    try:
        return parse(RawArticle(kind=PayloadKind.HTML, text=html)).body
    except ParseError as exc:
        return exc


def trafilatura_body(html: str, **options: Any) -> str:
    return trafilatura.extract(html, **options) or ""


@dataclass
class RealRun:
    name: str
    scores: list[Score] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    seconds: float = 0.0


def run_real(
    pages: list[RealPage], name: str, extract: Callable[[str], str | ParseError]
) -> RealRun:
    result = RealRun(name)
    started = time.perf_counter()
    for page in pages:
        got = extract(page.html)
        if isinstance(got, ParseError):
            result.refused.append(f"{page.key[:12]}: {got}")
            got = ""
        result.scores.append(shingle_score(got, page.body))
    result.seconds = time.perf_counter() - started
    return result


def main_real(directory: Path, worst: int = 8) -> None:
    pages = load_real(directory)
    runs = [
        run_real(pages, "newswire", newswire_body),
        run_real(pages, "trafilatura default", trafilatura_body),
        run_real(
            pages,
            "trafilatura favor_precision",
            lambda html: trafilatura_body(html, favor_precision=True),
        ),
    ]
    print(f"{len(pages)} real pages in {directory}, benchmark scorer (4-gram shingles)")
    header = f"{'extractor':28} {'F1':>6} {'P':>6} {'R':>6} {'refused':>7} {'ms/page':>8}"
    print(header)
    print("-" * len(header))
    for r in runs:
        f1, precision, recall = benchmark_figures(r.scores)
        print(
            f"{r.name:28} {f1:6.3f} {precision:6.3f} {recall:6.3f} {len(r.refused):7d}"
            f" {1000 * r.seconds / len(pages):8.1f}"
        )
    ours = runs[0]
    for line in ours.refused:
        print(f"  refused {line}")
    print(f"worst {worst} pages for newswire (F1, P, R):")
    ranked = sorted(zip(pages, ours.scores, strict=True), key=lambda ps: _page_f1(ps[1]))
    for page, s in ranked[:worst]:
        print(
            f"  {page.key[:12]} {_page_f1(s):.3f} {_precision(s):.3f} {_recall(s):.3f}"
            f"  (truth {len(_WORD.findall(page.body))} words)"
        )


def _page_f1(s: Score) -> float:
    p, r = _precision(s), _recall(s)
    return 2 * p * r / (p + r) if p + r else 0.0


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--real":
        main_real(Path(sys.argv[2]))
        return
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    pages = load_pages()
    # "held out": pages written after the parser was tuned on the others.
    tallies: dict[str, Tally] = {
        "text": Tally(),
        "html": Tally(),
        "text (held out)": Tally(),
        "html (held out)": Tally(),
    }
    for page in pages:
        rows = [page.raw.kind.value]
        if page.expected.get("held_out"):
            rows.append(f"{page.raw.kind.value} (held out)")
        for row in rows:
            score(page, tallies[row])

    for kind in ("text", "html"):
        tally = tallies[kind]
        kind_pages = [p for p in pages if p.raw.kind.value == kind]
        started = time.perf_counter()
        for _ in range(rounds):
            for page in kind_pages:
                run(page)
        tally.seconds = (time.perf_counter() - started) / rounds

    header = (
        f"{'pages':15} {'n':>3} {'body F1':>8} {'trafilatura':>11} {'title EM':>9}"
        f" {'outlet EM':>9} {'gate acc':>9} {'leaks':>5} {'pages/s':>9}"
    )
    print(
        f"{len(pages)} fixture pages in {FIXTURES.relative_to(Path.cwd())}, {rounds} timed rounds"
    )
    print(header)
    print("-" * len(header))
    for kind, t in tallies.items():
        baseline = f"{mean(t.f1_trafilatura):11.3f}" if t.f1_trafilatura else f"{'-':>11}"
        speed = f"{t.pages / t.seconds:9.0f}" if t.seconds else f"{'':9}"
        print(
            f"{kind:15} {t.pages:3d} {mean(t.f1):8.3f} {baseline}"
            f" {t.titles_ok / max(t.titles, 1):9.3f} {t.outlets_ok / max(t.titles, 1):9.3f}"
            f" {t.gate_ok / max(t.pages, 1):9.3f} {len(t.leaks):5d} {speed}"
        )
    print("\nbody F1: bag-of-tokens F1 on articles; trafilatura: trafilatura.extract(html),")
    print("default settings, same pages; gate acc: non-articles refused + articles accepted;")
    print("leaks: teaser/related/furniture probes found in a body.")
    for kind in ("text", "html"):
        for line in tallies[kind].misses + [f"leak {leak}" for leak in tallies[kind].leaks]:
            print(f"  {kind}: {line}")


def score(page: Page, tally: Tally) -> None:
    """Run one page and add its figures to ``tally``."""
    tally.pages += 1
    result = run(page)
    expected = page.expected
    if not page.is_article:
        refused = isinstance(result, NotAnArticle)
        tally.gate_ok += refused
        if not refused:
            tally.misses.append(f"{page.name}: accepted (expected {expected['not_article']})")
        return
    tally.titles += 1
    if isinstance(result, ParseError):
        tally.misses.append(f"{page.name}: refused: {result}")
        tally.f1.append(0.0)
        return
    tally.gate_ok += 1
    want = "\n\n".join(expected["body"])
    tally.f1.append(token_f1(result.body, want))
    tally.titles_ok += result.title == expected["title"]
    tally.outlets_ok += result.outlet == expected["outlet"]
    if result.title != expected["title"]:
        tally.misses.append(f"{page.name}: title {result.title!r}")
    if result.outlet != expected["outlet"]:
        tally.misses.append(f"{page.name}: outlet {result.outlet!r}")
    body = result.body.casefold()
    tally.leaks += [
        f"{page.name}: {probe!r}"
        for probe in LEAK_PROBES
        if probe.casefold() in body and probe.casefold() not in want.casefold()
    ]
    if page.raw.kind is PayloadKind.HTML:
        baseline = trafilatura.extract(page.raw.text or "") or ""
        tally.f1_trafilatura.append(token_f1(baseline, want))


if __name__ == "__main__":
    main()
