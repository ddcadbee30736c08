"""Fit the topic model's weights and calibrate them: the settings, the feature
matrix, multinomial logistic regression, the softmax temperature and the
"other" fallback threshold.

The feature rows come from :func:`worker.pipeline.classify.featurize_many`, the
function the model reads at inference; probabilities and decisions from its
:func:`~worker.pipeline.classify.softmax` and :func:`~worker.pipeline.classify.decide`.
scikit-learn (the ``train`` extra) and SciPy are imported inside the functions
that need them. One BLAS thread while fitting: floating-point sums in a fixed
order, so the same data and settings give the same bytes.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from training.corpora import Item, augment, with_views
from worker.pipeline.classify import (
    CHAR_LIMIT,
    CHAR_NGRAMS,
    FEATURIZER,
    WordVectors,
    decide,
    featurize_many,
    softmax,
)
from worker.pipeline.errors import ModelError

__all__ = [
    "CLASS_WEIGHT",
    "DEFAULT_WORD_VECTORS",
    "EMBED_DIMS",
    "EMBED_SCALE",
    "MAX_ITER",
    "TOL",
    "USE_IDF",
    "C",
    "Calibrated",
    "Fitted",
    "TrainSettings",
    "calibrate",
    "choose_threshold",
    "feature_matrix",
    "fit_items",
    "fit_temperature",
    "label_ids",
    "load_word_vectors",
]

# Static word vectors distilled from all-MiniLM-L6-v2 (bench/distill.py): a training
# input only. The model carries the rows it uses (see TopicModel.embedding).
DEFAULT_WORD_VECTORS: Final = Path(__file__).parent / "data" / "minilm-static.npz"

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
# Texts featurized together for the feature matrix (arrays of a few tens of MB).
_FEATURE_CHUNK: Final = 1000


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
    title_weight: float = 1.0  # sample weight of the title-only views in the fit

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
        extra = {} if self.title_weight == 1.0 else {"title_weight": self.title_weight}
        return {
            **extra,
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


def label_ids(items: Sequence[Item], labels: Sequence[str]) -> npt.NDArray[np.int64]:
    """Each item's label as its index in ``labels``."""
    index = {label: i for i, label in enumerate(labels)}
    return np.array([index[i.label] for i in items], dtype=np.int64)


def feature_matrix(texts: Sequence[str], settings: TrainSettings) -> Any:
    """CSR matrix (float64) of the feature rows a model reads, one per text.

    The rows of :func:`~worker.pipeline.classify.featurize_many` without idf (the
    fitted idf is applied by :func:`_weighted`): the L2-normalised sublinear tf of
    the ``n_features`` hashed buckets, then, with word vectors, the pooled block
    (all its columns stored, zeros for a text without a known word).
    """
    sparse = _import("scipy.sparse")
    embedding = settings.embedding()
    n_features = settings.n_features
    dims = embedding.dims if embedding is not None else 0
    dense_cols = np.arange(n_features, n_features + dims, dtype=np.int64)
    no_words = np.zeros(dims, dtype=np.float32)
    lengths = np.zeros(len(texts), dtype=np.int64)
    columns: list[npt.NDArray[np.int64]] = []
    values: list[npt.NDArray[np.float32]] = []
    for first in range(0, len(texts), _FEATURE_CHUNK):
        rows = featurize_many(
            texts[first : first + _FEATURE_CHUNK],
            n_features,
            char_ngrams=settings.char_ngrams,
            char_limit=settings.char_limit,
            embedding=embedding,
        )
        for i, (start, end) in enumerate(itertools.pairwise(rows.bounds)):
            columns.append(rows.columns[start:end])
            values.append(rows.values[start:end])
            if embedding is not None:
                pooled = rows.pooled[i]
                columns.append(dense_cols)
                values.append(no_words if pooled is None else pooled)
            lengths[first + i] = end - start + dims
    indptr = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    return sparse.csr_matrix(
        (
            np.concatenate(values).astype(np.float64) if values else np.zeros(0),
            np.concatenate(columns) if columns else np.zeros(0, dtype=np.int64),
            indptr,
        ),
        shape=(len(texts), n_features + dims),
    )


def _idf(tf: Any, n_features: int) -> npt.NDArray[np.float32]:
    """Smoothed inverse document frequency of every bucket: ``log((1+n)/(1+df)) + 1``."""
    df = np.bincount(tf.indices, minlength=n_features)[:n_features].astype(np.float64)
    n = tf.shape[0]
    return np.asarray(np.log((1.0 + n) / (1.0 + df)) + 1.0, dtype=np.float32)


def _weighted(tf: Any, idf: npt.NDArray[np.float32] | None) -> Any:
    """Apply idf to the hashed block and re-normalise it (what ``featurize_many``
    does with the idf); the word-vector columns after it stay as they are."""
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
class Fitted:
    """Fitted weights, bias and idf (the arrays a :class:`TopicModel` ships)."""

    weights: npt.NDArray[np.float32]
    bias: npt.NDArray[np.float32]
    idf: npt.NDArray[np.float32] | None

    def logits(self, tf: Any) -> npt.NDArray[np.float64]:
        result: npt.NDArray[np.float64] = np.asarray(
            _weighted(tf, self.idf) @ self.weights.astype(np.float64) + self.bias
        )
        return result


def _fit(
    tf: Any,
    y: npt.NDArray[np.int64],
    n_labels: int,
    settings: TrainSettings,
    sample_weight: npt.NDArray[np.float64] | None = None,
) -> Fitted:
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
        clf.fit(x, y, sample_weight=sample_weight)
    weights = np.zeros((n_rows, n_labels), dtype=np.float32)
    bias = np.full(n_labels, -30.0, dtype=np.float32)  # labels absent from the data
    if len(present) == 2:  # sklearn fits one logit; spread it as +-z/2 over the two labels
        coef = clf.coef_[0] / 2.0
        weights[:, present[0]], weights[:, present[1]] = -coef, coef
        bias[present[0]], bias[present[1]] = -clf.intercept_[0] / 2, clf.intercept_[0] / 2
    else:
        weights[:, present] = clf.coef_.T
        bias[present] = clf.intercept_
    return Fitted(weights, bias, idf)


def fit_items(
    train: Sequence[Item],
    exclude: Sequence[Item],
    labels: Sequence[str],
    settings: TrainSettings,
) -> Fitted:
    """Fit on ``train`` plus (when enabled) its augmented views, none equal to an
    item of ``exclude`` (the held-out items)."""
    items = [*train, *(augment(train, exclude) if settings.augment else [])]
    tf = feature_matrix([i.text for i in items], settings)
    weight = None
    if settings.title_weight != 1.0:
        weight = np.array(
            [settings.title_weight if i.corpus.endswith(":title") else 1.0 for i in items]
        )
    return _fit(tf, label_ids(items, labels), len(labels), settings, weight)


def fit_temperature(logits: npt.NDArray[np.float64], y: npt.NDArray[np.int64]) -> float:
    """The temperature minimising the negative log-likelihood (grid, deterministic)."""
    grid = np.round(np.exp(np.linspace(np.log(0.1), np.log(10.0), 241)), 4)
    rows = np.arange(len(y))
    nll = [float(-np.log(softmax(logits, t)[rows, y] + 1e-12).mean()) for t in grid]
    return float(grid[int(np.argmin(nll))])


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


@dataclass(frozen=True, slots=True)
class Calibrated:
    """A fit plus its temperature and fallback threshold (chosen on calibration items)."""

    fitted: Fitted
    temperature: float
    threshold: float
    fallback: int | None

    def probabilities(
        self, texts: Sequence[str], settings: TrainSettings
    ) -> npt.NDArray[np.float64]:
        """Calibrated probabilities of ``texts``, one row each."""
        return softmax(self.fitted.logits(feature_matrix(texts, settings)), self.temperature)

    def decide(self, probs: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        """The reported label of each row of ``probs`` (the fallback below the threshold)."""
        return decide(probs, self.fallback, self.threshold)


def calibrate(
    fitted: Fitted, calib: Sequence[Item], labels: Sequence[str], settings: TrainSettings
) -> Calibrated:
    """Choose the temperature and the fallback threshold on ``calib`` and its views."""
    fallback = labels.index(settings.fallback) if settings.fallback in labels else None
    if not calib:
        return Calibrated(fitted, 1.0, 0.0, fallback)
    items = with_views(calib)
    logits = fitted.logits(feature_matrix([i.text for i in items], settings))
    y = label_ids(items, labels)
    temperature = fit_temperature(logits, y) if settings.calibrate else 1.0
    threshold = choose_threshold(softmax(logits, temperature), y, fallback)
    return Calibrated(fitted, temperature, threshold, fallback)
