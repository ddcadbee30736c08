"""Near-duplicate quality: a labeled pair set from the BBC corpus.

Positives are copies made by realistic edits (another outlet's title suffix,
a by-line, boilerplate header/footer, a dropped or reordered paragraph,
truncation to 70%, a few changed words, typographic normalisation) plus the
corpus's own exact duplicates. Negatives are distinct articles of the same
category and, hardest, the distinct articles most alike in vocabulary (the
closest stand-in for "another story about the same event").

The headline figure is the service's own path: each side of a pair is a
scraped page ("Title - Outlet", the paragraphs) run through ``analyze_many``
as a worker runs it, and stored with ``Store.record_many`` (the store's Lua
script) on a private redis-server, emptied between pairs; a pair counts as
called a duplicate when storing the second side says duplicate or
near_duplicate. Below it, for the design's sake, the precision and recall of
the fingerprints alone: MinHash (Jaccard estimate, with LSH banding) and
SimHash (Hamming distance) at several thresholds, and their cost.

    .venv/bin/python bench/dedup.py [--positives 1500]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import OUTLETS  # noqa: E402
from config.embedded import EmbeddedRedis  # noqa: E402
from config.settings import Settings  # noqa: E402
from worker.model import load_model  # noqa: E402
from worker.pipeline.analyze import analyze_many  # noqa: E402
from worker.pipeline.dedup import (  # noqa: E402
    SKETCH_BYTES,
    jaccard_estimate,
    minhash,
    shingles,
    simhash,
    sketch_similarity,
)
from worker.pipeline.models import PayloadKind, ProcessedArticle, RawArticle  # noqa: E402
from worker.store import Store, connect  # noqa: E402

BBC = ROOT.parent / "shared" / "corpora" / "bbc-news"
BOILER_HEAD = ["Advertisement", "Listen to this article", "By Staff Reporter, Wire Service"]
BOILER_FOOT = [
    "Read more: the latest news from our newsroom.",
    "This story was first published by a partner agency and is republished with permission.",
    "Sign up for our newsletter to get the day's top stories.",
]
SWAPS = {"said": "stated", "the": "this", "and": "plus", "year": "season", "new": "fresh"}


def load() -> list[tuple[str, str, list[str]]]:
    items = []
    for path in sorted(BBC.glob("*/*.txt")):
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
        items.append((path.parent.name, lines[0], lines[1:]))
    return items


def edit(rng: random.Random, paragraphs: list[str]) -> tuple[str, list[str]]:
    kind = rng.choice(
        ["byline", "boilerplate", "drop", "reorder", "truncate", "words", "typography", "suffix"]
    )
    p = list(paragraphs)
    if kind == "byline":
        p.insert(0, f"By {rng.choice(['Jane Doe', 'Ravi Patel', 'Ana Lima'])}, Correspondent")
    elif kind == "boilerplate":
        p = [rng.choice(BOILER_HEAD), *p, rng.choice(BOILER_FOOT)]
    elif kind == "drop" and len(p) > 3:
        del p[rng.randrange(1, len(p))]
    elif kind == "reorder" and len(p) > 3:
        i = rng.randrange(1, len(p) - 1)
        p[i], p[i + 1] = p[i + 1], p[i]
    elif kind == "truncate":
        words = " ".join(p).split()
        p = [" ".join(words[: int(len(words) * 0.7)])]
    elif kind == "words":
        words = " ".join(p).split()
        for _ in range(5):
            i = rng.randrange(len(words))
            words[i] = SWAPS.get(words[i].lower(), words[i] + "s")
        p = [" ".join(words)]
    elif kind == "typography":
        p = [x.replace("'", "\u2019").replace('"', "\u201c").replace(" - ", " \u2014 ") for x in p]
    return kind, p


def page(title: str, paragraphs: list[str], outlet: str) -> str:
    return f"{title} - {outlet}\n" + "\n".join(paragraphs)


Pair = tuple[np.ndarray, np.ndarray, int, int, str, bool, str, str]


def store_verdicts(pairs: list[Pair]) -> tuple[np.ndarray, float, float]:
    """Run both pages of each pair through the worker's analysis and the
    store's script on a private Redis: True where the second page of a pair
    was called a duplicate (exact or near) of the first. Also the analysis
    and store time per page."""
    sides = [page for p in pairs for page in p[6:8]]
    raws = [RawArticle(kind=PayloadKind.TEXT, text=text, source="bench") for text in sides]
    settings = Settings()
    started = time.perf_counter()
    done = analyze_many(
        raws,
        load_model(settings.model_path),
        now=datetime.now(UTC),
        max_payload_bytes=settings.max_payload_bytes,
    )
    t_analyze = (time.perf_counter() - started) / len(raws)
    articles = [a for a in done if isinstance(a, ProcessedArticle)]
    if len(articles) != len(done):
        raise SystemExit(f"{len(done) - len(articles)} benchmark pages were refused")
    called = []
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp), appendonly=False) as srv:
        client = connect(srv.url)
        store = Store.from_settings(settings, client)
        started = time.perf_counter()
        for i in range(0, len(articles), 2):
            client.flushdb()
            first, second = store.record_many(articles[i : i + 2])
            called.append(first.verdict == "unique" and second.verdict != "unique")
        t_store = (time.perf_counter() - started) / len(articles)
    return np.array(called), t_analyze, t_store


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--positives", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    items = load()
    texts = ["\n".join(p) for _, _, p in items]

    started = time.perf_counter()
    sh = [shingles(t) for t in texts]
    t_shingle = (time.perf_counter() - started) / len(texts)
    started = time.perf_counter()
    sig = [minhash(s) for s in sh]
    t_minhash = (time.perf_counter() - started) / len(texts)
    started = time.perf_counter()
    sim = [simhash(s) for s in sh]
    t_simhash = (time.perf_counter() - started) / len(texts)

    # Positive pairs: (original fingerprint, edited copy fingerprint, kind).
    # Each pair also carries both sides as scraped pages; a copy comes from
    # another outlet, as a syndicated story does.
    pages = [page(title, p, OUTLETS[0]) for _, title, p in items]
    pairs: list[Pair] = []

    def add(i: int, j: int, kind: str, truth: bool) -> None:
        copy = page(items[j][1], items[j][2], OUTLETS[1])
        pairs.append((sig[i], sig[j], sim[i], sim[j], kind, truth, pages[i], copy))

    by_text: dict[str, int] = {}
    for i, t in enumerate(texts):
        if t in by_text:
            add(by_text[t], i, "corpus exact duplicate", True)
        by_text.setdefault(t, i)
    for _ in range(args.positives):
        i = rng.randrange(len(items))
        kind, p = edit(rng, items[i][2])
        s = shingles("\n".join(p))
        copy = page(items[i][1], p, OUTLETS[1])
        pairs.append((sig[i], minhash(s), sim[i], simhash(s), kind, True, pages[i], copy))

    # Negatives: random same-category pairs, and the most alike distinct pairs.
    by_cat: dict[str, list[int]] = defaultdict(list)
    for i, (cat, _, _) in enumerate(items):
        if by_text["\n".join(items[i][2])] == i:
            by_cat[cat].append(i)
    for _ in range(args.positives):
        cat = rng.choice(sorted(by_cat))
        i, j = rng.sample(by_cat[cat], 2)
        add(i, j, "same topic", False)
    # The corpus also holds real near-duplicates: two versions of one story
    # under the same headline. They are positives; the most alike pairs under
    # different headlines are the hard negatives (other stories on the same
    # event).
    sets = [set(s.tolist()) for s in sh]
    hard: list[tuple[float, int, int]] = []
    for ids in by_cat.values():
        for a_pos, i in enumerate(ids):
            for j in ids[a_pos + 1 :]:
                if items[i][1].lower() == items[j][1].lower():
                    add(i, j, "corpus same headline", True)
                    continue
                inter = len(sets[i] & sets[j])
                if inter > 20:
                    hard.append((inter / len(sets[i] | sets[j]), i, j))
    hard.sort(reverse=True)
    for _, i, j in hard[:300]:
        add(i, j, "most alike distinct", False)

    n_pos = sum(1 for p in pairs if p[5])
    n_neg = len(pairs) - n_pos
    print(f"{len(items)} BBC articles; {n_pos} positive pairs, {n_neg} negative pairs "
          f"({min(300, len(hard))} of them the most alike distinct articles)")  # fmt: skip
    print(f"fingerprint cost per article: shingles {t_shingle * 1e3:.3f} ms, "
          f"minhash(64) {t_minhash * 1e3:.3f} ms, simhash {t_simhash * 1e3:.3f} ms")  # fmt: skip

    est = np.array([jaccard_estimate(a, b) for a, b, *_ in pairs])
    ham = np.array([bin(p[2] ^ p[3]).count("1") for p in pairs])
    truth = np.array([p[5] for p in pairs])
    kinds = [p[4] for p in pairs]

    def report(name: str, predicted: np.ndarray) -> None:
        tp = int(np.sum(predicted & truth))
        fp = int(np.sum(predicted & ~truth))
        fn = int(np.sum(~predicted & truth))
        precision = tp / max(tp + fp, 1)
        recall = tp / max(tp + fn, 1)
        print(f"  {name:<34} precision {precision:.4f}  recall {recall:.4f}  (fp {fp}, fn {fn})")

    called, t_analyze, t_store = store_verdicts(pairs)
    print(
        "the service's path (analyze_many, then the store's script on a private Redis; "
        f"{t_analyze * 1e3:.2f} ms analysis and {t_store * 1e3:.2f} ms store a page):"
    )
    report("stored as duplicate or near_duplicate", called)
    print("per kind, as the service decides (share called duplicate):")
    for kind in sorted(set(kinds)):
        mask = np.array([k == kind for k in kinds])
        print(f"  {kind:<24} {(called & mask).sum() / mask.sum():.3f} of {mask.sum()}")

    print("The fingerprints alone, for the design (not the service's path):")
    print("MinHash, 64 permutations, Jaccard estimate >= t:")
    for t in (0.3, 0.4, 0.5, 0.6):
        report(f"t={t}", est >= t)
    # LSH banding, 16 bands x 4 rows: a pair is a candidate if one band agrees.
    bands = np.array([
        any(np.array_equal(a[b * 4 : b * 4 + 4], c[b * 4 : b * 4 + 4]) for b in range(16))
        for a, c, *_ in pairs
    ])  # fmt: skip
    for t in (0.4, 0.5):
        report(f"LSH 16x4 candidate and t={t}", bands & (est >= t))
    # What the store does: the same candidates, verified on 32-byte sketches.
    sketch = np.array([
        sketch_similarity(
            (a[:SKETCH_BYTES] & 0xFF).astype(np.uint8).tobytes(),
            (c[:SKETCH_BYTES] & 0xFF).astype(np.uint8).tobytes(),
        )
        for a, c, *_ in pairs
    ])  # fmt: skip
    report("LSH 16x4 + 32-byte sketch >= 0.5", bands & (sketch >= 0.5))
    print("SimHash, 64 bits, Hamming distance <= k:")
    for k in (3, 6, 10, 14):
        report(f"k={k}", ham <= k)


if __name__ == "__main__":
    main()
