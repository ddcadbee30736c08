"""Train the topic model from labelled corpora and read/write its artifact.

This adapter does I/O; the model itself lives in :mod:`worker.pipeline.classify`.
scikit-learn (the ``train`` extra) is imported inside the functions that fit,
so the worker can import this module for :func:`load_artifact` without it.

Procedure of :func:`train` (and :func:`train_jsonl`, same code path):

1. load the items ``(text, label, corpus)`` in a fixed order (sorted files);
2. de-duplicate on normalised text (lower-cased word tokens); a text seen with
   two different labels is dropped as ambiguous. Everything below splits the
   de-duplicated items, so no text is on both sides of a split;
3. split them stratified into train / calibration / test (``heldout_fraction``
   each, ``seed``); fit on train plus *views* of its items (title only, title +
   first paragraph, see :func:`augment`) so that short inputs are seen in
   training; on the calibration items and their views choose the softmax
   temperature (least log-loss) and the "other" fallback threshold (best
   macro-F1); score the test items (accuracy, macro-F1, per-label P/R/F1,
   confusion, ECE, per corpus, by length);
   Features are the hashed word n-grams and, by default, the pooled static word
   vectors of ``models/minilm-static.npz`` (distilled from all-MiniLM-L6-v2 by
   ``bench/distill.py``; training only reads that file, it needs no torch);
4. refit the weights with the same settings on *all* items (+ views) and ship
   them with the temperature and threshold from step 3 (the held-out figures
   describe this procedure; the shipped weights have also seen those items).

Everything is deterministic: same data and settings, byte-identical artifact.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import html
import importlib
import json
import math
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from worker.pipeline.classify import (
    CHAR_LIMIT,
    CHAR_NGRAMS,
    DEFAULT_LABELS,
    FEATURIZER,
    TopicModel,
    WordVectors,
)
from worker.pipeline.classify import _featurize as _featurize_words
from worker.pipeline.classify import normalize_text as _normalize_text
from worker.pipeline.errors import ModelError

__all__ = [
    "CORPORA",
    "DEFAULT_ARTIFACT",
    "DEFAULT_VERSION",
    "DEFAULT_WORD_VECTORS",
    "Corpus",
    "Item",
    "TrainSettings",
    "augment",
    "dataset_sha256",
    "deduplicate",
    "evaluate_heldout",
    "evaluate_loco",
    "load_artifact",
    "load_corpora",
    "load_jsonl",
    "load_word_vectors",
    "train",
    "train_items",
    "train_jsonl",
    "write_artifact",
]

DEFAULT_ARTIFACT: Final = Path(__file__).parent / "models" / "topic-v1.npz"
DEFAULT_VERSION: Final = "topic-hash-minilm-v3"
# Static word vectors distilled from all-MiniLM-L6-v2 (bench/distill.py); training input.
DEFAULT_WORD_VECTORS: Final = Path(__file__).parent / "models" / "minilm-static.npz"

# Settings of the linear model, chosen on held-out and leave-one-corpus-out runs
# (v1: C in 3/10/30, idf on/off, class weights none/balanced; v2: C 3 vs 10 with
# title/lead augmentation, word n-grams alone vs with character n-grams; see
# bench/classify.py).
C: Final = 10.0
CLASS_WEIGHT: Final = "balanced"
MAX_ITER: Final = 1000
TOL: Final = 1e-4
USE_IDF: Final = True
# Word-vector block: how many of the distilled dimensions, and the norm of the block
# next to the unit-norm hashed block (chosen on held-out and leave-one-corpus-out runs,
# see bench/embed_compare.py).
EMBED_DIMS: Final = 256
EMBED_SCALE: Final = 2.0

csv.field_size_limit(16 * 1024 * 1024)


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


def _read_csv(path: Path) -> Iterator[dict[str, str]]:
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


def load_corpora(corpora_dir: Path, names: Sequence[str] | None = None) -> list[Item]:
    """All items of the named corpora (default: all), in a fixed order, not de-duplicated."""
    by_name = {c.name: c for c in CORPORA}
    wanted = list(by_name) if names is None else list(names)
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        raise ValueError(f"unknown corpora {unknown}; known: {sorted(by_name)}")
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
        key = _normalize_text(item.text)
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


# -- features and fitting ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrainSettings:
    """Everything that shapes a fitted model besides the data and the seed."""

    n_features: int = 2**18
    char_ngrams: tuple[int, ...] = CHAR_NGRAMS
    char_limit: int = CHAR_LIMIT
    c: float = C
    class_weight: str | None = CLASS_WEIGHT
    augment: bool = True
    idf: bool = USE_IDF
    calibrate: bool = True  # temperature scaling on the calibration split
    fallback: str | None = "other"  # low-confidence label (when it is one of the labels)
    word_vectors: Path | None = DEFAULT_WORD_VECTORS  # None: hashed n-grams only
    embed_dims: int = EMBED_DIMS
    embed_scale: float = EMBED_SCALE

    def embedding(self) -> WordVectors | None:
        if self.word_vectors is None:
            return None
        return load_word_vectors(self.word_vectors, self.embed_dims, self.embed_scale)

    def as_dict(self) -> dict[str, Any]:
        vectors = None
        if self.word_vectors is not None:
            vectors = {
                "file": self.word_vectors.name,
                "sha256": hashlib.sha256(self.word_vectors.read_bytes()).hexdigest(),
                "dims": self.embed_dims,
                "scale": self.embed_scale,
            }
        return {
            "n_features": self.n_features,
            "word_vectors": vectors,
            "featurizer": FEATURIZER,
            "char_ngrams": list(self.char_ngrams),
            "char_limit": self.char_limit,
            "C": self.c,
            "class_weight": self.class_weight,
            "augment": self.augment,
            "idf": self.idf,
            "calibrate": self.calibrate,
            "fallback": self.fallback,
            "model": "LogisticRegression(multinomial, lbfgs)",
            "max_iter": MAX_ITER,
            "tol": TOL,
        }


@functools.lru_cache(maxsize=4)
def load_word_vectors(
    path: Path, dims: int = EMBED_DIMS, scale: float = EMBED_SCALE
) -> WordVectors:
    """The distilled table at ``path`` (see ``bench/distill.py``) as a model's word vectors.

    Keeps the first ``dims`` dimensions (principal components, largest first) and
    folds each word's SIF weight into its vector.
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            words = npz["words"].tobytes().decode("utf-8").split("\n")
            vectors = npz["vectors"].astype(np.float32)
            sif = npz["sif"].astype(np.float32)
            meta = json.loads(npz["meta"].tobytes().decode("utf-8"))
    except (OSError, KeyError, ValueError) as exc:
        raise ModelError(f"cannot read word vectors {path}: {exc}") from exc
    if not 1 <= dims <= vectors.shape[1]:
        raise ValueError(f"dims must be in 1..{vectors.shape[1]}, got {dims}")
    source = f"{path.name}: {meta.get('source', '')}"
    return WordVectors.from_words(
        words, vectors[:, :dims] * sif[:, None], scale=scale, source=source
    )


def _import(name: str) -> Any:
    """Import a training-only dependency that ships without type information."""
    return importlib.import_module(name)


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
    taken = {_normalize_text(i.text) for i in items}
    taken.update(_normalize_text(i.text) for i in exclude)
    extra: dict[str, Item] = {}
    labels: dict[str, set[str]] = {}
    for item in items:
        for kind, text in views(item.text).items():
            key = _normalize_text(text)
            if len(key.split()) < 3 or key in taken:
                continue
            labels.setdefault(key, set()).add(item.label)
            extra.setdefault(key, Item(text, item.label, f"{item.corpus}:{kind}"))
    return [item for key, item in extra.items() if len(labels[key]) == 1]


def _tf_matrix(texts: Sequence[str], settings: TrainSettings) -> Any:
    """CSR matrix of the feature rows a model reads: L2-normalised sublinear tf of the
    ``n_features`` hashed buckets (as ``featurize`` builds them), then, with word
    vectors, their pooled block (as ``WordVectors.pool`` builds it)."""
    sparse = _import("scipy.sparse")
    embedding = settings.embedding()
    n_features = settings.n_features
    dims = embedding.dims if embedding is not None else 0
    dense_cols = np.arange(n_features, n_features + dims, dtype=np.int64)
    indptr = np.zeros(len(texts) + 1, dtype=np.int64)
    all_indices: list[npt.NDArray[np.int64]] = []
    all_values: list[npt.NDArray[np.float32]] = []
    for row, text in enumerate(texts):
        indices, values, words = _featurize_words(
            text, n_features, None, settings.char_ngrams, settings.char_limit
        )
        if embedding is not None:
            indices = np.concatenate([indices, dense_cols])
            values = np.concatenate([values, embedding.pool(words)])
        all_indices.append(indices)
        all_values.append(values)
        indptr[row + 1] = indptr[row] + len(indices)
    indices_cat = np.concatenate(all_indices) if all_indices else np.zeros(0, np.int64)
    values_cat = np.concatenate(all_values) if all_values else np.zeros(0, np.float32)
    return sparse.csr_matrix(
        (values_cat.astype(np.float64), indices_cat, indptr),
        shape=(len(texts), n_features + dims),
    )


def _idf(tf: Any, n_features: int) -> npt.NDArray[np.float32]:
    """Smoothed inverse document frequency of every bucket: ``log((1+n)/(1+df)) + 1``."""
    df = np.bincount(tf.indices, minlength=n_features)[:n_features].astype(np.float64)
    n = tf.shape[0]
    return np.asarray(np.log((1.0 + n) / (1.0 + df)) + 1.0, dtype=np.float32)


def _weighted(tf: Any, idf: npt.NDArray[np.float32] | None) -> Any:
    """Apply idf to the hashed block and re-normalise it (same result as
    ``featurize(..., idf)``); the word-vector columns after it stay as they are."""
    if idf is None:
        return tf
    from sklearn.preprocessing import normalize

    sparse = _import("scipy.sparse")
    n_features = len(idf)
    hashed = tf[:, :n_features] if tf.shape[1] > n_features else tf
    scaled = normalize((hashed @ sparse.diags(idf.astype(np.float64))).tocsr(), norm="l2")
    if tf.shape[1] == n_features:
        return scaled
    return sparse.hstack([scaled, tf[:, n_features:]], format="csr")


@dataclass(frozen=True, slots=True)
class _Fitted:
    weights: npt.NDArray[np.float32]
    bias: npt.NDArray[np.float32]
    idf: npt.NDArray[np.float32] | None

    def logits(self, tf: Any) -> npt.NDArray[np.float64]:
        result: npt.NDArray[np.float64] = np.asarray(
            _weighted(tf, self.idf) @ self.weights.astype(np.float64) + self.bias
        )
        return result


def _fit(tf: Any, y: npt.NDArray[np.int64], n_labels: int, settings: TrainSettings) -> _Fitted:
    """Multinomial logistic regression on the tf rows ``tf``."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    threadpool_limits = _import("threadpoolctl").threadpool_limits
    idf = _idf(tf, settings.n_features) if settings.idf else None
    x = _weighted(tf, idf)
    n_rows = tf.shape[1]  # hashed buckets, then the word-vector block if any
    present = np.unique(y)
    clf = LogisticRegression(
        C=settings.c,
        class_weight=settings.class_weight,
        solver="lbfgs",
        max_iter=MAX_ITER,
        tol=TOL,
    )
    # One BLAS thread: floating-point sums in a fixed order, byte-identical results.
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x, y)
    weights = np.zeros((n_rows, n_labels), dtype=np.float32)
    bias = np.full(n_labels, -30.0, dtype=np.float32)  # labels absent from the data
    if len(present) == 2:  # sklearn fits one logit; spread it as +-z/2 over the two labels
        coef = clf.coef_[0] / 2.0
        weights[:, present[0]], weights[:, present[1]] = -coef, coef
        bias[present[0]], bias[present[1]] = -clf.intercept_[0] / 2, clf.intercept_[0] / 2
    else:
        weights[:, present] = clf.coef_.T
        bias[present] = clf.intercept_
    return _Fitted(weights, bias, idf)


def softmax(logits: npt.NDArray[np.float64], temperature: float = 1.0) -> npt.NDArray[np.float64]:
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    result: npt.NDArray[np.float64] = e / e.sum(axis=1, keepdims=True)
    return result


def fit_temperature(logits: npt.NDArray[np.float64], y: npt.NDArray[np.int64]) -> float:
    """The temperature minimising the negative log-likelihood (grid, deterministic)."""
    grid = np.round(np.exp(np.linspace(np.log(0.1), np.log(10.0), 241)), 4)
    rows = np.arange(len(y))
    nll = [float(-np.log(softmax(logits, t)[rows, y] + 1e-12).mean()) for t in grid]
    return float(grid[int(np.argmin(nll))])


def decide(
    probs: npt.NDArray[np.float64], fallback: int | None, threshold: float
) -> npt.NDArray[np.int64]:
    """Top label per row, or ``fallback`` when the top probability is below ``threshold``."""
    pred = np.asarray(np.argmax(probs, axis=1), dtype=np.int64)
    if fallback is not None and threshold > 0.0:
        pred = np.where(probs.max(axis=1) < threshold, fallback, pred)
    return pred


def choose_threshold(
    probs: npt.NDArray[np.float64], y: npt.NDArray[np.int64], fallback: int | None
) -> float:
    """The fallback threshold (0 to 0.9 by 0.01) with the best macro-F1; the lowest on ties."""
    if fallback is None:
        return 0.0
    from sklearn.metrics import f1_score

    present = sorted(set(y.tolist()))
    best, best_f1 = 0.0, -1.0
    for threshold in np.round(np.arange(0.0, 0.91, 0.01), 2):
        pred = decide(probs, fallback, float(threshold))
        f1 = float(f1_score(y, pred, labels=present, average="macro", zero_division=0))
        if f1 > best_f1 + 1e-9:
            best, best_f1 = float(threshold), f1
    return best


def expected_calibration_error(
    probs: npt.NDArray[np.float64], y: npt.NDArray[np.int64], bins: int = 15
) -> float:
    """ECE of the top-label probability over ``bins`` equal-width bins."""
    conf = probs.max(axis=1)
    correct = (np.argmax(probs, axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += float(mask.mean()) * abs(float(conf[mask].mean() - correct[mask].mean()))
    return total


def metrics(
    y_true: npt.NDArray[np.int64],
    y_pred: npt.NDArray[np.int64],
    probs: npt.NDArray[np.float64] | None,
    labels: Sequence[str],
) -> dict[str, Any]:
    """Accuracy, macro-F1 (over the labels present in ``y_true``), per-label P/R/F1,
    the confusion matrix and, given the probabilities, the calibration error."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    ids = list(range(len(labels)))
    present = sorted(set(y_true.tolist()))
    p, r, f, support = precision_recall_fscore_support(
        y_true, y_pred, labels=ids, average=None, zero_division=0
    )
    macro = float(np.mean([f[i] for i in present])) if present else 0.0
    result: dict[str, Any] = {
        "n": len(y_true),
        "accuracy": round(float(np.mean(y_true == y_pred)) if len(y_true) else 0.0, 4),
        "macro_f1": round(macro, 4),
        "per_label": {
            label: {
                "precision": round(float(p[i]), 4),
                "recall": round(float(r[i]), 4),
                "f1": round(float(f[i]), 4),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        "confusion": {
            "rows_true_cols_pred": list(labels),
            "matrix": confusion_matrix(y_true, y_pred, labels=ids).tolist(),
        },
    }
    if probs is not None:
        result["ece"] = round(expected_calibration_error(probs, y_true), 4)
    return result


def _split(
    y: npt.NDArray[np.int64], fraction: float, seed: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | str:
    """Stratified (rest, split-off) indices, or the reason no split is possible."""
    if fraction <= 0.0:
        return "heldout_fraction is 0"
    from sklearn.model_selection import train_test_split

    n_labels = len(np.unique(y))
    n_out = math.ceil(fraction * len(y))
    if int(np.bincount(y)[np.unique(y)].min()) < 3:
        return "a label has fewer than 3 items"
    if n_out < n_labels or len(y) - n_out < n_labels:
        return "too few items for a stratified split"
    rest, out = train_test_split(np.arange(len(y)), test_size=n_out, random_state=seed, stratify=y)
    return np.sort(rest), np.sort(out)


@dataclass(frozen=True, slots=True)
class Calibrated:
    """A fit plus its temperature and fallback threshold (chosen on calibration items)."""

    fitted: _Fitted
    temperature: float
    threshold: float
    fallback: int | None


class _Data:
    """Labelled items with their label ids and (lazily) their tf rows."""

    def __init__(
        self, items: Sequence[Item], labels: Sequence[str], settings: TrainSettings
    ) -> None:
        self.items = list(items)
        self.labels = tuple(labels)
        self.settings = settings
        index = {label: i for i, label in enumerate(self.labels)}
        self.y = np.array([index[i.label] for i in self.items], dtype=np.int64)

    def tf(self, texts: Sequence[str]) -> Any:
        return _tf_matrix(texts, self.settings)


def _fit_items(
    train: Sequence[Item],
    exclude: Sequence[Item],
    labels: Sequence[str],
    settings: TrainSettings,
) -> _Fitted:
    """Fit on ``train`` plus (when enabled) its augmented views."""
    extra = augment(train, exclude) if settings.augment else []
    data = _Data([*train, *extra], labels, settings)
    tf = data.tf([i.text for i in data.items])
    return _fit(tf, data.y, len(labels), settings)


def _with_views(items: Sequence[Item]) -> list[Item]:
    """The items and their title / lead views (for calibration on varied lengths)."""
    out = list(items)
    for item in items:
        for kind, text in views(item.text).items():
            out.append(Item(text, item.label, f"{item.corpus}:{kind}"))
    return out


def _calibrate(
    fitted: _Fitted, calib: Sequence[Item], labels: Sequence[str], settings: TrainSettings
) -> Calibrated:
    fallback = labels.index(settings.fallback) if settings.fallback in labels else None
    if not calib:
        return Calibrated(fitted, 1.0, 0.0, fallback)
    data = _Data(_with_views(calib), labels, settings)
    logits = fitted.logits(data.tf([i.text for i in data.items]))
    temperature = fit_temperature(logits, data.y) if settings.calibrate else 1.0
    threshold = choose_threshold(softmax(logits, temperature), data.y, fallback)
    return Calibrated(fitted, temperature, threshold, fallback)


def score(
    model: Calibrated, items: Sequence[Item], labels: Sequence[str], settings: TrainSettings
) -> dict[str, Any]:
    """Metrics of ``model`` on ``items`` (empty dict when there are none)."""
    if not items:
        return {"n": 0}
    data = _Data(items, labels, settings)
    probs = softmax(model.fitted.logits(data.tf([i.text for i in items])), model.temperature)
    pred = decide(probs, model.fallback, model.threshold)
    result = metrics(data.y, pred, probs, labels)
    result["fallback_rate"] = round(
        float(np.mean(pred != np.argmax(probs, axis=1))) if len(pred) else 0.0, 4
    )
    return result


def length_slices(items: Sequence[Item]) -> dict[str, list[Item]]:
    """Items with a title and a body, cut three ways: title only, title + lead, full."""
    slices: dict[str, list[Item]] = {"title": [], "title+lead": [], "full": []}
    for item in items:
        cut = views(item.text)
        if "lead" in cut:
            slices["title"].append(Item(cut["title"], item.label, item.corpus))
            slices["title+lead"].append(Item(cut["lead"], item.label, item.corpus))
            slices["full"].append(item)
    return slices


def title_slice(items: Sequence[Item]) -> list[Item]:
    """The title of every item that has a title and a body."""
    return [
        Item(cut["title"], item.label, item.corpus)
        for item in items
        if "title" in (cut := views(item.text))
    ]


def evaluate_heldout(
    kept: Sequence[Item],
    labels: Sequence[str],
    *,
    seed: int = 13,
    heldout_fraction: float = 0.1,
    settings: TrainSettings = TrainSettings(),
) -> tuple[dict[str, Any], Calibrated | None]:
    """Stratified split of de-duplicated items: train / calibration / test.

    Fit on train (+ views), choose temperature and fallback threshold on the
    calibration items (+ their views), and score the test items as they are,
    per corpus, and cut by length. Returns the report and the calibration.
    """
    index = {label: i for i, label in enumerate(labels)}
    y = np.array([index[i.label] for i in kept], dtype=np.int64)
    first = _split(y, heldout_fraction, seed)
    if isinstance(first, str):
        return {"skipped": first}, None
    rest, test_idx = first
    second = _split(y[rest], heldout_fraction / (1.0 - heldout_fraction), seed + 1)
    if isinstance(second, str):
        return {"skipped": second}, None
    train_idx, calib_idx = rest[second[0]], rest[second[1]]
    train = [kept[i] for i in train_idx]
    calib = [kept[i] for i in calib_idx]
    test = [kept[i] for i in test_idx]
    fitted = _fit_items(train, [*calib, *test], labels, settings)
    model = _calibrate(fitted, calib, labels, settings)
    report = score(model, test, labels, settings)
    report["n_train"] = len(train)
    report["n_calibration"] = len(calib)
    report["temperature"] = model.temperature
    report["threshold"] = model.threshold
    per_corpus: dict[str, float] = {}
    for name in sorted({i.corpus for i in test}):
        subset = [i for i in test if i.corpus == name]
        per_corpus[name] = score(model, subset, labels, settings)["macro_f1"]
    report["macro_f1_per_corpus"] = per_corpus
    report["length_slices"] = {
        name: _brief(score(model, subset, labels, settings))
        for name, subset in length_slices(test).items()
    }
    report["title_only"] = _brief(score(model, title_slice(test), labels, settings))
    return report, model


def _brief(result: dict[str, Any]) -> dict[str, Any]:
    keys = ("n", "accuracy", "macro_f1", "ece", "fallback_rate")
    return {k: result[k] for k in keys if k in result}


def evaluate_loco(
    corpora_dir: Path,
    *,
    n_features: int = 2**18,
    corpora: Sequence[str] | None = None,
    seed: int = 13,
    settings: TrainSettings | None = None,
    only: Sequence[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Leave one corpus out: for each corpus, fit on the others and score it.

    Temperature and threshold come from a 10% calibration split of the training
    corpora. The left-out corpus is scored on the labels it has (macro-F1 over
    those), as it is and on its titles where it has titles. Slow: one fit per
    corpus. ``only`` restricts which corpora are left out in turn.
    """
    settings = settings or TrainSettings(n_features=n_features)
    kept, _ = deduplicate(load_corpora(corpora_dir, corpora))
    labels = DEFAULT_LABELS
    index = {label: i for i, label in enumerate(labels)}
    results: dict[str, dict[str, Any]] = {}
    for name in sorted({i.corpus for i in kept}):
        if only is not None and name not in only:
            continue
        pool = [i for i in kept if i.corpus != name]
        test = [i for i in kept if i.corpus == name]
        y = np.array([index[i.label] for i in pool], dtype=np.int64)
        split = _split(y, 0.1, seed)
        assert not isinstance(split, str)
        train = [pool[i] for i in split[0]]
        calib = [pool[i] for i in split[1]]
        fitted = _fit_items(train, [*calib, *test], labels, settings)
        model = _calibrate(fitted, calib, labels, settings)
        result = score(model, test, labels, settings)
        result["n_train"] = len(train)
        titles = title_slice(test)
        if titles:
            result["title_only"] = _brief(score(model, titles, labels, settings))
        results[name] = result
    return results


def train_items(
    items: Sequence[Item],
    *,
    labels: Sequence[str] | None = None,
    seed: int = 13,
    n_features: int = 2**18,
    heldout_fraction: float = 0.1,
    version: str = DEFAULT_VERSION,
    corpus_terms: dict[str, str] | None = None,
    settings: TrainSettings | None = None,
) -> tuple[TopicModel, dict[str, Any]]:
    """De-duplicate ``items``, evaluate on held-out splits, refit on all, return the model.

    ``labels`` fixes the label order (default: sorted labels of the items); an item
    whose label is not in ``labels`` raises ``ValueError``. The temperature and the
    fallback threshold are the ones chosen on the calibration split; the weights are
    refitted on all items. The returned dict is the model's metadata plus the wall
    time (which is not stored in the artifact).
    """
    started = time.perf_counter()
    settings = settings or TrainSettings(n_features=n_features)
    if settings.n_features < 16:
        raise ValueError("n_features must be at least 16")
    if not 0.0 <= heldout_fraction < 0.5:
        raise ValueError("heldout_fraction must be in [0, 0.5)")
    kept, dedup_stats = deduplicate(items)
    seen = sorted({item.label for item in kept})
    label_order = tuple(labels) if labels is not None else tuple(seen)
    unknown = sorted(set(seen) - set(label_order))
    if unknown:
        raise ValueError(f"labels {unknown} are not in the label set {list(label_order)}")
    if len(seen) < 2:
        raise ValueError(f"training needs at least two labels with items, got {seen}")

    heldout, calibrated = evaluate_heldout(
        kept, label_order, seed=seed, heldout_fraction=heldout_fraction, settings=settings
    )
    fitted = _fit_items(kept, [], label_order, settings)
    fallback = settings.fallback if settings.fallback in label_order else None
    temperature = calibrated.temperature if calibrated else 1.0
    threshold = calibrated.threshold if calibrated and fallback else 0.0

    import sklearn

    corpora = [i.corpus for i in kept]
    corpus_names = sorted(set(corpora))
    terms = corpus_terms or {}
    y = Counter(i.label for i in kept)
    metadata: dict[str, Any] = {
        "labels": list(label_order),
        "version": version,
        "data": {
            "sha256": dataset_sha256(kept),
            "n_items": len(kept),
            "corpora": [{"name": n, "terms": terms.get(n, "")} for n in corpus_names],
            "counts_per_label": {label: y.get(label, 0) for label in label_order},
            "counts_per_corpus": dict(sorted(Counter(corpora).items())),
            "dedup": dedup_stats,
        },
        "params": {
            **settings.as_dict(),
            "seed": seed,
            "heldout_fraction": heldout_fraction,
            "temperature": temperature,
            "threshold": threshold,
            "final_fit": (
                "weights refitted on all items (+ views); temperature and threshold from the"
                " calibration split; held-out metrics from the train-split fit"
            ),
        },
        "heldout": heldout,
        "trainer": {"numpy": np.__version__, "scikit-learn": sklearn.__version__},
    }
    model = TopicModel(
        labels=label_order,
        weights=fitted.weights,
        bias=fitted.bias,
        n_features=settings.n_features,
        version=version,
        metadata=metadata,
        idf=fitted.idf,
        temperature=temperature,
        fallback=fallback,
        threshold=threshold,
        char_ngrams=settings.char_ngrams,
        char_limit=settings.char_limit,
        embedding=settings.embedding(),
    )
    report = dict(metadata)
    report["seconds"] = round(time.perf_counter() - started, 1)
    return model, report


def train(
    corpora_dir: Path,
    *,
    seed: int = 13,
    n_features: int = 2**18,
    heldout_fraction: float = 0.1,
    corpora: Sequence[str] | None = None,
    version: str = DEFAULT_VERSION,
    settings: TrainSettings | None = None,
) -> tuple[TopicModel, dict[str, Any]]:
    """Train the default 4-topic model on the corpora in ``corpora_dir`` (default: all)."""
    items = load_corpora(corpora_dir, corpora)
    return train_items(
        items,
        labels=DEFAULT_LABELS,
        seed=seed,
        n_features=n_features,
        heldout_fraction=heldout_fraction,
        version=version,
        corpus_terms={c.name: c.terms for c in CORPORA},
        settings=settings,
    )


def train_jsonl(
    path: Path,
    *,
    seed: int = 13,
    n_features: int = 2**18,
    heldout_fraction: float = 0.1,
    labels: Sequence[str] | None = None,
    version: str | None = None,
) -> tuple[TopicModel, dict[str, Any]]:
    """Train on the user's JSON lines ``{"text", "label"}`` with the user's own labels.

    Labels default to the sorted set found in the file; ``version`` defaults to
    ``custom-hash-minilm-v3-<first 8 hex digits of the data hash>``.
    """
    items = load_jsonl(path)
    if version is None:
        kept, _ = deduplicate(items)
        version = f"custom-hash-minilm-v3-{dataset_sha256(kept)[:8]}"
    return train_items(
        items,
        labels=labels,
        seed=seed,
        n_features=n_features,
        heldout_fraction=heldout_fraction,
        version=version,
    )


# -- artifact files -------------------------------------------------------------


def write_artifact(model: TopicModel, path: Path) -> None:
    """Write ``model`` to ``path`` atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(model.to_bytes())
    tmp.replace(path)


def load_artifact(path: Path = DEFAULT_ARTIFACT) -> TopicModel:
    """Read a model artifact; ``ModelError`` (naming ``path``) when missing or invalid."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ModelError(f"topic model artifact not found: {path}") from exc
    except OSError as exc:
        raise ModelError(f"cannot read topic model artifact {path}: {exc}") from exc
    try:
        return TopicModel.from_bytes(data)
    except ModelError as exc:
        raise ModelError(f"{path}: {exc}") from exc
