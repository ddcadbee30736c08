"""Many distinct, realistic payloads for load benchmarks, from the BBC corpus.

Each original article is a new composite: a title from one BBC story and
paragraphs drawn from stories of the same section until the body reaches the
target size, then the sample page's teaser block. Two originals share a
paragraph rarely, and then one of about ten, so they are not near duplicates
of each other. A share of the payloads are copies of an earlier original:
half exact (another outlet, same body), half syndicated (another outlet, a
by-line, the last paragraph dropped, a few words edited). A share is rendered
as HTML pages instead of scraped text.
"""

from __future__ import annotations

import html
import random
from collections import defaultdict
from dataclasses import dataclass

from bench.common import BBC, OUTLETS
from worker.contract import RawArticle

__all__ = ["Payload", "generate"]


@dataclass(frozen=True, slots=True)
class Payload:
    article: RawArticle
    copy_of: int | None  # index of the original this copies, if any
    kind: str  # original | exact | near
    body_bytes: int  # size of the article body (title and paragraphs)


def _sections() -> dict[str, tuple[list[str], list[str]]]:
    """Per BBC section: its titles and its paragraphs."""
    if not BBC.is_dir():
        raise SystemExit(f"benchmarks need the shared corpora at {BBC}")
    titles: dict[str, list[str]] = defaultdict(list)
    paragraphs: dict[str, list[str]] = defaultdict(list)
    for path in sorted(BBC.glob("*/*.txt")):
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines()]
        section = path.parent.name
        titles[section].append(lines[0])
        paragraphs[section].extend(ln for ln in lines[1:] if len(ln) > 80)
    return {s: (titles[s], paragraphs[s]) for s in sorted(titles)}


def _text_page(title: str, outlet: str, paras: list[str], teasers: list[str]) -> str:
    teaser_block = "\n".join(f"{t}\n\nA short teaser about {t.lower()}..." for t in teasers)
    return f"{title} - {outlet}\n" + "\n".join(paras) + "\nYou may also like...\n" + teaser_block


def _html_page(title: str, outlet: str, paras: list[str], teasers: list[str]) -> str:
    e = html.escape
    body = "\n".join(f"<p>{e(p)}</p>" for p in paras)
    related = "\n".join(f'<li><a href="/story/{i}">{e(t)}</a></li>' for i, t in enumerate(teasers))
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(title)} - {e(outlet)}</title>"
        f'<meta property="og:title" content="{e(title)}">'
        f'<meta property="og:site_name" content="{e(outlet)}"></head><body>'
        '<header><nav><a href="/">Home</a> <a href="/news">News</a> '
        '<a href="/sport">Sport</a></nav></header><main><article>'
        f"<h1>{e(title)}</h1>\n{body}\n</article>"
        f'<aside class="related"><h2>You may also like</h2><ul>{related}</ul></aside>'
        f"</main><footer>&copy; {e(outlet)}</footer></body></html>"
    )


def generate(
    n: int,
    *,
    body_bytes: int = 3600,
    dup_rate: float = 0.1,
    html_share: float = 0.0,
    seed: int = 7,
    start: int = 0,
) -> list[Payload]:
    """``n`` payloads; originals are numbered from ``start`` so that runs with
    different ``start`` values never share an original."""
    rng = random.Random(seed * 1_000_003 + start)
    sections = _sections()
    names = list(sections)
    originals: list[tuple[str, list[str], int]] = []  # title, paragraphs, payload index
    out: list[Payload] = []
    for i in range(n):
        outlet = OUTLETS[rng.randrange(len(OUTLETS))]
        as_html = rng.random() < html_share
        if originals and rng.random() < dup_rate:
            j = rng.randrange(len(originals))
            title, paras, original_index = originals[j]
            kind = "exact" if rng.random() < 0.5 else "near"
            if kind == "near":
                paras = ["By a staff reporter", *paras[:-1]]
                last = paras[-1].split()
                for k in rng.sample(range(len(last)), min(3, len(last))):
                    last[k] = last[k].upper()
                paras[-1] = " ".join(last)
            copy_of: int | None = original_index
        else:
            section = names[(start + i) % len(names)]
            titles, pool = sections[section]
            title = f"{rng.choice(titles)} ({start + len(originals)})"
            paras, size = [], 0
            while size < body_bytes:
                p = rng.choice(pool)
                paras.append(p)
                size += len(p) + 1
            originals.append((title, paras, i))
            kind, copy_of = "original", None
        teasers = [rng.choice(sections[rng.choice(names)][0]) for _ in range(4)]
        render = _html_page if as_html else _text_page
        page = render(title, outlet, paras, teasers)
        raw = RawArticle(kind="html" if as_html else "text", text=page, source=f"bench/{i}")
        size = len(title.encode()) + sum(len(p.encode()) + 1 for p in paras)
        out.append(Payload(raw, copy_of, kind, size))
    return out
