"""Train the topic model from labelled corpora and read/write its artifact.

This adapter does I/O; the model itself lives in :mod:`worker.pipeline.classify`.
scikit-learn (the ``train`` extra) is imported inside the functions that fit,
so the worker can import this module for :func:`load_artifact` without it.

Procedure of :func:`train` (and :func:`train_jsonl`, same code path):

1. load the items ``(text, label, corpus)`` in a fixed order (sorted files);
2. de-duplicate on normalised text (lower-cased word tokens); a text seen with
   two different labels is dropped as ambiguous;
3. split off a stratified held-out set (``heldout_fraction``, ``seed``), fit
   on the rest and measure accuracy, macro-F1, per-label F1 and per-corpus
   accuracy on the held-out set;
4. refit with the same settings on *all* items (the held-out figures describe
   this procedure; the shipped weights have also seen the held-out items).

Everything is deterministic: same data and settings, byte-identical artifact.
"""

from __future__ import annotations

import csv
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

from worker.pipeline.classify import DEFAULT_LABELS, FEATURIZER, TopicModel, featurize
from worker.pipeline.classify import normalize_text as _normalize_text
from worker.pipeline.errors import ModelError

__all__ = [
    "CORPORA",
    "DEFAULT_ARTIFACT",
    "DEFAULT_VERSION",
    "Corpus",
    "Item",
    "dataset_sha256",
    "deduplicate",
    "evaluate_loco",
    "load_artifact",
    "load_corpora",
    "load_jsonl",
    "train",
    "train_items",
    "train_jsonl",
    "write_artifact",
]

DEFAULT_ARTIFACT: Final = Path(__file__).parent / "models" / "topic-v1.npz"
DEFAULT_VERSION: Final = "topic-hash-v1"

# Settings of the linear model, chosen on held-out and leave-one-corpus-out runs
# (C in 3/10/30, idf on/off, class weights none/balanced; see evaluate_loco).
C: Final = 10.0
CLASS_WEIGHT: Final = "balanced"
MAX_ITER: Final = 1000
TOL: Final = 1e-4
USE_IDF: Final = True

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


def load_tagmynews_2011(corpora_dir: Path) -> Iterator[Row]:
    files = sorted((corpora_dir / "tagmynews-2011").glob("*.csv"))
    return _label4_rows(files, "tagmynews-2011", lambda r: r["title_plus_snippet_lowercased"])


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


def _import(name: str) -> Any:
    """Import a training-only dependency that ships without type information."""
    return importlib.import_module(name)


def _tf_matrix(texts: Sequence[str], n_features: int) -> Any:
    """CSR matrix of L2-normalised sublinear tf rows (as ``featurize`` builds them)."""
    sparse = _import("scipy.sparse")
    indptr = np.zeros(len(texts) + 1, dtype=np.int64)
    all_indices: list[npt.NDArray[np.int64]] = []
    all_values: list[npt.NDArray[np.float32]] = []
    for row, text in enumerate(texts):
        indices, values = featurize(text, n_features)
        all_indices.append(indices)
        all_values.append(values)
        indptr[row + 1] = indptr[row] + len(indices)
    indices_cat = np.concatenate(all_indices) if all_indices else np.zeros(0, np.int64)
    values_cat = np.concatenate(all_values) if all_values else np.zeros(0, np.float32)
    return sparse.csr_matrix(
        (values_cat.astype(np.float64), indices_cat, indptr), shape=(len(texts), n_features)
    )


def _idf(tf: Any, n_features: int) -> npt.NDArray[np.float32]:
    """Smoothed inverse document frequency of every bucket: ``log((1+n)/(1+df)) + 1``."""
    df = np.bincount(tf.indices, minlength=n_features).astype(np.float64)
    n = tf.shape[0]
    return np.asarray(np.log((1.0 + n) / (1.0 + df)) + 1.0, dtype=np.float32)


def _weighted(tf: Any, idf: npt.NDArray[np.float32] | None) -> Any:
    """Apply idf and re-normalise rows (same result as ``featurize(..., idf)``)."""
    if idf is None:
        return tf
    from sklearn.preprocessing import normalize

    sparse = _import("scipy.sparse")
    scaled = tf @ sparse.diags(idf.astype(np.float64))
    return normalize(scaled.tocsr(), norm="l2", copy=False)


def _fit(
    tf: Any, y: npt.NDArray[np.int64], n_labels: int, n_features: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32] | None]:
    """Multinomial logistic regression; returns (weights, bias, idf)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    threadpool_limits = _import("threadpoolctl").threadpool_limits
    idf = _idf(tf, n_features) if USE_IDF else None
    x = _weighted(tf, idf)
    present = np.unique(y)
    clf = LogisticRegression(
        C=C, class_weight=CLASS_WEIGHT, solver="lbfgs", max_iter=MAX_ITER, tol=TOL
    )
    # One BLAS thread: floating-point sums in a fixed order, byte-identical results.
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x, y)
    weights = np.zeros((n_features, n_labels), dtype=np.float32)
    bias = np.full(n_labels, -30.0, dtype=np.float32)  # labels absent from the data
    if len(present) == 2:  # sklearn fits one logit; spread it as +-z/2 over the two labels
        coef = clf.coef_[0] / 2.0
        weights[:, present[0]], weights[:, present[1]] = -coef, coef
        bias[present[0]], bias[present[1]] = -clf.intercept_[0] / 2, clf.intercept_[0] / 2
    else:
        weights[:, present] = clf.coef_.T
        bias[present] = clf.intercept_
    return weights, bias, idf


def _predict_matrix(
    tf: Any,
    weights: npt.NDArray[np.float32],
    bias: npt.NDArray[np.float32],
    idf: npt.NDArray[np.float32] | None,
) -> npt.NDArray[np.int64]:
    logits = _weighted(tf, idf) @ weights.astype(np.float64) + bias
    return np.asarray(np.argmax(logits, axis=1), dtype=np.int64)


def _metrics(
    y_true: npt.NDArray[np.int64],
    y_pred: npt.NDArray[np.int64],
    labels: Sequence[str],
    corpora: Sequence[str],
) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    ids = list(range(len(labels)))
    per_label = f1_score(y_true, y_pred, labels=ids, average=None, zero_division=0)
    present = sorted(set(y_true.tolist()))
    per_corpus: dict[str, float] = {}
    corpus_arr = np.asarray(corpora)
    for name in sorted(set(corpora)):
        mask = corpus_arr == name
        per_corpus[name] = round(float(np.mean(y_true[mask] == y_pred[mask])), 4)
    return {
        "n": len(y_true),
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "macro_f1": round(
            float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)), 4
        ),
        "f1": {label: round(float(f), 4) for label, f in zip(labels, per_label, strict=True)},
        "accuracy_per_corpus": per_corpus,
        "confusion": {
            "rows_true_cols_pred": list(labels),
            "matrix": confusion_matrix(y_true, y_pred, labels=ids).tolist(),
        },
    }


def _split(
    y: npt.NDArray[np.int64], heldout_fraction: float, seed: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | str:
    """Stratified (train, held-out) indices, or the reason no split is possible."""
    if heldout_fraction <= 0.0:
        return "heldout_fraction is 0"
    from sklearn.model_selection import train_test_split

    n_labels = len(np.unique(y))
    n_heldout = math.ceil(heldout_fraction * len(y))
    if int(np.bincount(y)[np.unique(y)].min()) < 2:
        return "a label has fewer than 2 items"
    if n_heldout < n_labels or len(y) - n_heldout < n_labels:
        return "too few items for a stratified split"
    train_idx, test_idx = train_test_split(
        np.arange(len(y)), test_size=n_heldout, random_state=seed, stratify=y
    )
    return np.sort(train_idx), np.sort(test_idx)


@dataclass(frozen=True, slots=True)
class _Prepared:
    kept: list[Item]
    dedup_stats: dict[str, int]
    labels: tuple[str, ...]
    y: npt.NDArray[np.int64]
    corpora: list[str]
    tf: Any  # scipy CSR matrix, sublinear tf, L2-normalised rows


def _prepare(items: Sequence[Item], labels: Sequence[str] | None, n_features: int) -> _Prepared:
    if n_features < 16:
        raise ValueError("n_features must be at least 16")
    kept, dedup_stats = deduplicate(items)
    seen = sorted({item.label for item in kept})
    label_order = tuple(labels) if labels is not None else tuple(seen)
    unknown = sorted(set(seen) - set(label_order))
    if unknown:
        raise ValueError(f"labels {unknown} are not in the label set {list(label_order)}")
    if len(seen) < 2:
        raise ValueError(f"training needs at least two labels with items, got {seen}")
    index = {label: i for i, label in enumerate(label_order)}
    y = np.array([index[item.label] for item in kept], dtype=np.int64)
    tf = _tf_matrix([item.text for item in kept], n_features)
    return _Prepared(kept, dedup_stats, label_order, y, [i.corpus for i in kept], tf)


def train_items(
    items: Sequence[Item],
    *,
    labels: Sequence[str] | None = None,
    seed: int = 13,
    n_features: int = 2**18,
    heldout_fraction: float = 0.1,
    version: str = DEFAULT_VERSION,
    corpus_terms: dict[str, str] | None = None,
) -> tuple[TopicModel, dict[str, Any]]:
    """De-duplicate ``items``, evaluate on a held-out split, refit on all, return the model.

    ``labels`` fixes the label order (default: sorted labels of the items); an item
    whose label is not in ``labels`` raises ``ValueError``. The returned dict is the
    model's metadata plus the wall time (which is not stored in the artifact).
    """
    started = time.perf_counter()
    if not 0.0 <= heldout_fraction < 1.0:
        raise ValueError("heldout_fraction must be in [0, 1)")
    data = _prepare(items, labels, n_features)
    kept, label_order, y, corpora, tf = data.kept, data.labels, data.y, data.corpora, data.tf
    index = {label: i for i, label in enumerate(label_order)}

    split = _split(y, heldout_fraction, seed)
    heldout: dict[str, Any]
    if isinstance(split, str):
        heldout = {"skipped": split}
    else:
        train_idx, test_idx = split
        w, b, idf = _fit(tf[train_idx], y[train_idx], len(label_order), n_features)
        y_pred = _predict_matrix(tf[test_idx], w, b, idf)
        heldout = _metrics(y[test_idx], y_pred, label_order, [corpora[i] for i in test_idx])
        heldout["n_train"] = len(train_idx)

    weights, bias, idf = _fit(tf, y, len(label_order), n_features)

    import sklearn

    corpus_names = sorted(set(corpora))
    terms = corpus_terms or {}
    metadata: dict[str, Any] = {
        "data": {
            "sha256": dataset_sha256(kept),
            "n_items": len(kept),
            "corpora": [{"name": n, "terms": terms.get(n, "")} for n in corpus_names],
            "counts_per_label": {label: int((y == i).sum()) for label, i in index.items()},
            "counts_per_corpus": dict(sorted(Counter(corpora).items())),
            "dedup": data.dedup_stats,
        },
        "params": {
            "seed": seed,
            "heldout_fraction": heldout_fraction,
            "n_features": n_features,
            "featurizer": FEATURIZER,
            "idf": USE_IDF,
            "model": "LogisticRegression(multinomial, lbfgs)",
            "C": C,
            "class_weight": CLASS_WEIGHT,
            "max_iter": MAX_ITER,
            "tol": TOL,
            "final_fit": "refit on all items (held-out metrics from the train-split fit)",
        },
        "heldout": heldout,
        "trainer": {"numpy": np.__version__, "scikit-learn": sklearn.__version__},
    }
    model = TopicModel(
        labels=label_order,
        weights=weights,
        bias=bias,
        n_features=n_features,
        version=version,
        metadata=metadata,
        idf=idf,
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
    )


def evaluate_loco(
    corpora_dir: Path,
    *,
    n_features: int = 2**18,
    corpora: Sequence[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Leave one corpus out: for each corpus, fit on the others and score it.

    A cross-source estimate, closer to how the model meets unseen outlets than a
    random split. Slow: one fit per corpus (about 30 s each on the full data).
    """
    data = _prepare(load_corpora(corpora_dir, corpora), DEFAULT_LABELS, n_features)
    corpus_arr = np.asarray(data.corpora)
    results: dict[str, dict[str, Any]] = {}
    for name in sorted(set(data.corpora)):
        test = np.flatnonzero(corpus_arr == name)
        train_ = np.flatnonzero(corpus_arr != name)
        w, b, idf = _fit(data.tf[train_], data.y[train_], len(data.labels), n_features)
        y_pred = _predict_matrix(data.tf[test], w, b, idf)
        metrics = _metrics(data.y[test], y_pred, data.labels, [name] * len(test))
        metrics.pop("accuracy_per_corpus")
        metrics["n_train"] = len(train_)
        results[name] = metrics
    return results


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
    ``custom-hash-v1-<first 8 hex digits of the data hash>``.
    """
    items = load_jsonl(path)
    if version is None:
        kept, _ = deduplicate(items)
        version = f"custom-hash-v1-{dataset_sha256(kept)[:8]}"
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
