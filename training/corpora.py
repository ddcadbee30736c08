"""Labelled items for training: the corpus loaders, JSON lines, de-duplication,
the dataset hash, and the shorter views (title, title + lead) cut from an item.

Reads files only when asked (no import-time side effects). Every loader yields
``(text, label, corpus)`` in a fixed order (sorted files), so the same folder
always gives the same items.
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from worker.pipeline.classify import normalize_text

__all__ = [
    "CORPORA",
    "Corpus",
    "Item",
    "augment",
    "corpus_names",
    "dataset_sha256",
    "deduplicate",
    "load_corpora",
    "load_jsonl",
    "views",
    "with_views",
]

# Some corpora hold whole articles in one CSV field, past the csv module's 128 KB.
_CSV_FIELD_LIMIT: Final = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Item:
    text: str
    label: str
    corpus: str


Row = tuple[str, str, str]  # (text, label, corpus name)


@dataclass(frozen=True, slots=True)
class Corpus:
    name: str
    loader: Callable[[Path], Iterator[Row]]
    terms: str


def _allow_long_fields() -> None:
    """Raise the csv module's field size limit (process-wide) before reading a corpus."""
    if csv.field_size_limit() < _CSV_FIELD_LIMIT:
        csv.field_size_limit(_CSV_FIELD_LIMIT)


def _read_csv(path: Path) -> Iterator[dict[str, str]]:
    _allow_long_fields()
    with path.open(encoding="utf-8", newline="") as handle:
        yield from csv.DictReader(handle)


def _is_dup(row: dict[str, str]) -> bool:
    return row.get("dup_of_earlier", "").strip().lower() in {"1", "true", "yes"}


def _label4_rows(
    files: Iterable[Path], corpus: str, text_of: Callable[[dict[str, str]], str]
) -> Iterator[Row]:
    for path in files:
        for row in _read_csv(path):
            label = (row.get("label4") or "").strip()
            if not label or _is_dup(row):
                continue
            text = text_of(row).strip()
            if text:
                yield text, label, corpus


def _join(*parts: str | None) -> str:
    return "\n".join(p.strip() for p in parts if p and p.strip())


_BBC_LABELS: Final = {
    "politics": "geopolitics",
    "sport": "sport",
    "entertainment": "entertainment",
    "business": "other",
    "tech": "other",
}


def load_bbc_news(corpora_dir: Path) -> Iterator[Row]:
    """BBC News 2004-05: ``<label>/NNN.txt``, title on the first line."""
    root = corpora_dir / "bbc-news"
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        label = _BBC_LABELS.get(folder.name)
        if label is None:
            continue
        for path in sorted(folder.glob("*.txt")):
            raw = path.read_bytes()
            try:
                content = raw.decode("utf-8")
            except UnicodeDecodeError:
                content = raw.decode("latin-1")
            title, _, body = content.strip().partition("\n")
            text = _join(title, body)
            if text:
                yield text, label, "bbc-news"


_AG_LABELS: Final = {"1": "geopolitics", "2": "sport", "3": "other", "4": "other"}
_AG_ENTITY: Final = re.compile(r"&?#(\d{1,5});")


def _ag_clean(text: str) -> str:
    text = _AG_ENTITY.sub(lambda m: html.unescape(f"&#{m.group(1)};"), text)
    return text.replace("\\", "\n")


def load_ag_news_test(corpora_dir: Path) -> Iterator[Row]:
    """AG News test split: ``class,title,description`` without a header."""
    path = corpora_dir / "ag-news-test" / "test.csv"
    _allow_long_fields()
    with path.open(encoding="utf-8", newline="") as handle:
        for record in csv.reader(handle):
            if len(record) != 3 or record[0] not in _AG_LABELS:
                continue
            text = _join(_ag_clean(record[1]), _ag_clean(record[2]))
            if text:
                yield text, _AG_LABELS[record[0]], "ag-news-test"


def load_uci_news_aggregator(corpora_dir: Path) -> Iterator[Row]:
    files = sorted((corpora_dir / "uci-news-aggregator").glob("*.csv"))
    return _label4_rows(files, "uci-news-aggregator", lambda r: r["TITLE"])


def _tagmynews_text(row: dict[str, str]) -> str:
    """Title and snippet on two lines (the file joins them with ". ")."""
    title, text = row["title"].strip(), row["title_plus_snippet_lowercased"].strip()
    if title and text.startswith(f"{title}. "):
        return _join(title, text[len(title) + 2 :])
    return text


def load_tagmynews_2011(corpora_dir: Path) -> Iterator[Row]:
    files = sorted((corpora_dir / "tagmynews-2011").glob("*.csv"))
    return _label4_rows(files, "tagmynews-2011", _tagmynews_text)


def load_machinehack_news(corpora_dir: Path) -> Iterator[Row]:
    files = sorted((corpora_dir / "machinehack-news").glob("*.csv"))
    return _label4_rows(files, "machinehack-news", lambda r: r["STORY"])


def load_inshorts_2020(corpora_dir: Path) -> Iterator[Row]:
    files = sorted((corpora_dir / "inshorts-2020").glob("*.csv"))
    return _label4_rows(files, "inshorts-2020", lambda r: _join(r["headline"], r["summary"]))


def load_sib200_eng(corpora_dir: Path) -> Iterator[Row]:
    files = sorted((corpora_dir / "sib200-eng").glob("*.csv"))
    return _label4_rows(files, "sib200-eng", lambda r: r["text"])


CORPORA: Final[tuple[Corpus, ...]] = (
    Corpus("bbc-news", load_bbc_news, "research use; cite Greene & Cunningham, ICML 2006"),
    Corpus("ag-news-test", load_ag_news_test, "research, non-commercial (its readme.txt)"),
    Corpus("uci-news-aggregator", load_uci_news_aggregator, "CC BY 4.0 (UCI ML Repository)"),
    Corpus("tagmynews-2011", load_tagmynews_2011, "research use (no explicit license)"),
    Corpus("machinehack-news", load_machinehack_news, "unclear: research/education only"),
    Corpus("inshorts-2020", load_inshorts_2020, "unclear: research only"),
    Corpus("sib200-eng", load_sib200_eng, "Apache-2.0 / CC BY-SA 4.0"),
)


def corpus_names(names: Sequence[str] | None = None) -> list[str]:
    """``names`` (default: every corpus, in :data:`CORPORA` order); ``ValueError`` on
    a name that is not a known corpus."""
    known = [c.name for c in CORPORA]
    wanted = known if names is None else list(names)
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise ValueError(f"unknown corpora {unknown}; known: {sorted(known)}")
    return wanted


def load_corpora(corpora_dir: Path, names: Sequence[str] | None = None) -> list[Item]:
    """All items of the named corpora (default: all), in a fixed order, not de-duplicated."""
    by_name = {c.name: c for c in CORPORA}
    wanted = corpus_names(names)
    if not corpora_dir.is_dir():
        raise FileNotFoundError(f"corpora folder not found: {corpora_dir}")
    items: list[Item] = []
    for name in wanted:
        if not (corpora_dir / name).is_dir():
            raise FileNotFoundError(f"corpus folder not found: {corpora_dir / name}")
        loader = by_name[name].loader
        items.extend(Item(text, label, corpus) for text, label, corpus in loader(corpora_dir))
    return items


def load_jsonl(path: Path) -> list[Item]:
    """Items from JSON lines ``{"text": ..., "label": ...}`` (blank lines skipped)."""
    items: list[Item] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: not valid JSON ({exc})") from exc
            if not isinstance(record, dict):
                raise ValueError(f"{path}:{number}: expected a JSON object")
            text, label = record.get("text"), record.get("label")
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"{path}:{number}: `text` must be a non-empty string")
            if not isinstance(label, str) or not label.strip():
                raise ValueError(f"{path}:{number}: `label` must be a non-empty string")
            items.append(Item(text, label.strip(), path.name))
    return items


def deduplicate(items: Iterable[Item]) -> tuple[list[Item], dict[str, int]]:
    """Keep the first item of each normalised text; drop texts with conflicting labels."""
    first: dict[str, Item] = {}
    labels: dict[str, set[str]] = {}
    empty = seen = 0
    for item in items:
        seen += 1
        key = normalize_text(item.text)
        if not key:
            empty += 1
            continue
        labels.setdefault(key, set()).add(item.label)
        first.setdefault(key, item)
    kept = [item for key, item in first.items() if len(labels[key]) == 1]
    stats = {
        "items_in": seen,
        "empty": empty,
        "duplicates": seen - empty - len(first),
        "conflicting_labels": len(first) - len(kept),
        "kept": len(kept),
    }
    return kept, stats


def dataset_sha256(items: Iterable[Item]) -> str:
    """SHA-256 over the sorted ``(label, text)`` pairs: independent of order and corpus."""
    digest = hashlib.sha256()
    for label, text in sorted((i.label, i.text) for i in items):
        digest.update(json.dumps([label, text], ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


# -- views ---------------------------------------------------------------------


def views(text: str) -> dict[str, str]:
    """Shorter inputs cut from a structured item: its title, and title + first paragraph.

    The first non-empty line is the title. ``title`` exists when there is more
    than one line, ``lead`` when there are at least three (otherwise it would
    be the whole item).
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    result: dict[str, str] = {}
    if len(lines) >= 2:
        result["title"] = lines[0]
    if len(lines) >= 3:
        result["lead"] = f"{lines[0]}\n{lines[1]}"
    return result


def augment(items: Sequence[Item], exclude: Iterable[Item] = ()) -> list[Item]:
    """Title-only and title + lead items built from ``items``, so short inputs are seen.

    Views whose normalised text equals an item of ``items`` or ``exclude``, or of
    another view with a different label, are left out (no leak, no conflict).
    """
    taken = {normalize_text(i.text) for i in items}
    taken.update(normalize_text(i.text) for i in exclude)
    extra: dict[str, Item] = {}
    labels: dict[str, set[str]] = {}
    for item in items:
        for kind, text in views(item.text).items():
            key = normalize_text(text)
            if len(key.split()) < 3 or key in taken:
                continue
            labels.setdefault(key, set()).add(item.label)
            extra.setdefault(key, Item(text, item.label, f"{item.corpus}:{kind}"))
    return [item for key, item in extra.items() if len(labels[key]) == 1]


def with_views(items: Sequence[Item]) -> list[Item]:
    """The items and their title / lead views (for calibration on varied lengths)."""
    out = list(items)
    for item in items:
        for kind, text in views(item.text).items():
            out.append(Item(text, item.label, f"{item.corpus}:{kind}"))
    return out
