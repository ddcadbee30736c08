"""Topic classification with hashed word n-grams, static word vectors and a linear softmax model.

Pure module: no I/O, no logging. A :class:`TopicModel` is trained elsewhere
(the top-level ``training`` package, from a checkout) and shipped as bytes (an
``.npz`` archive without pickle); :mod:`worker.model` loads the shipped one.

Features: the text is lower-cased and split into ``\\w+`` tokens. Every word
unigram and bigram of the whole text (and, when a model is built with
``char_ngrams``, every word-bounded character n-gram of its first ``char_limit``
bytes; the shipped model uses none) is hashed (a polynomial hash of the bytes
mod 2**64 mixed with MurmurHash3's finaliser; never Python's salted ``hash()``)
into ``n_features`` buckets; counts get sublinear scaling ``1 + log(tf)``, an IDF
weight, and the vector is L2-normalised. Several texts are hashed together with
a few numpy operations, no Python loop per word. :func:`featurize_many` is the
one implementation: the model's scores and the training's feature matrix both
read its rows.

A model may also carry static word vectors (:class:`WordVectors`, distilled from
all-MiniLM-L6-v2 by ``bench/distill.py``): the same words are looked up by their
64-bit byte hash in a sorted table, their (SIF-weighted) vectors summed, the sum
L2-normalised and multiplied by a fixed scale. These ``dims`` values follow the
``n_features`` hashed ones in one feature vector, so one weight matrix covers both.
Words outside the table contribute nothing to that block.

The model is ``softmax((x @ W + b) / T)`` with a temperature ``T`` fitted on
held-out data; a top probability below the stored ``threshold`` reports the
``fallback`` label ("other") instead, keeping every label's score (:func:`softmax`
and :func:`decide`, which the training's calibration uses too).
"""

from __future__ import annotations

import io
import itertools
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from worker.pipeline.errors import ModelError
from worker.pipeline.hashing import (
    U64Array,
    fmix64,
    hash_words,
    hash_words_of_texts,
    poly_hashes,
)
from worker.pipeline.models import Classification
from worker.pipeline.npz import npz_bytes

__all__ = [
    "ARTIFACT_FORMAT",
    "CHAR_LIMIT",
    "CHAR_NGRAMS",
    "DEFAULT_LABELS",
    "EMBEDDER",
    "FEATURIZER",
    "Features",
    "TopicModel",
    "WordVectors",
    "decide",
    "featurize",
    "featurize_many",
    "normalize_text",
    "softmax",
    "tokenize",
    "word_hashes",
]

ARTIFACT_FORMAT: Final = 3
DEFAULT_LABELS: Final = ("geopolitics", "sport", "entertainment", "other")
# Name of the feature scheme below; stored in artifacts and checked on load.
FEATURIZER: Final = "words-uni-bi+chars-wb/poly64-fmix64/sublinear-tf/l2"
# Name of the word-vector scheme (lookup by poly64 word hash, sum, L2, scale).
EMBEDDER: Final = "static-word-vectors/poly64/sum/l2/scale"
# Default character n-gram lengths (none: measured, they did not pay for their cost
# across corpora) and how many bytes of the text they cover when a model uses them.
CHAR_NGRAMS: Final[tuple[int, ...]] = ()
CHAR_LIMIT: Final = 256

_TOKEN_RE: Final = re.compile(r"\w+")
# Common non-ASCII punctuation (never word characters) replaced by a space so that
# most real text takes the fast ASCII path of the tokenizer.
_PUNCTUATION: Final = (
    "\u2019",
    "\u2018",
    "\u201c",
    "\u201d",
    "\u2013",
    "\u2014",
    "\u2026",
    "\u00a0",
    "\u00a3",
    "\u20ac",
    "\u00ab",
    "\u00bb",
    "\u2022",
    "\u00b7",
    "\u2032",
    "\u2033",
)
_WORD_BYTES: Final = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789_")
# bytes.translate table: ASCII word characters stay, everything else becomes a space.
_ASCII_TABLE: Final = bytes(c if c in _WORD_BYTES else 0x20 for c in range(256))
_NO_HASHES: Final = np.zeros(0, dtype=np.uint64)
# logits_many's texts at a time: as fast as 100 (10-25 measured fastest) and
# its arrays stay a few MB (a few hundred KB of text, 8-byte hashes per byte).
_TEXTS_TOGETHER: Final = 25
_TRUE: Final = np.ones(1, dtype=np.bool_)

_UNIGRAM_SALT: Final = np.uint64(0x9E3779B97F4A7C15)
_BIGRAM_MUL: Final = np.uint64(0xD6E8FEB86659FD93)

_ARRAY_KEYS: Final = ("weights", "bias", "idf", "meta", "embed_hashes", "embed_vectors")

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]


def _runs(changes: npt.NDArray[np.bool_]) -> tuple[IntArray, IntArray]:
    """Where each run of equal elements starts, and its length, given where an
    element differs from the one before (``changes[i]`` for element ``i + 1``)."""
    starts = np.flatnonzero(np.concatenate((_TRUE, changes)))
    counts = np.empty_like(starts)
    np.subtract(starts[1:], starts[:-1], out=counts[:-1])
    counts[-1] = len(changes) + 1 - starts[-1]
    return starts, counts


def _unique_counts(ordered: npt.NDArray[Any]) -> tuple[npt.NDArray[Any], IntArray]:
    """``np.unique(ordered, return_counts=True)`` for a sorted, non-empty array,
    without its Python-level steps (~10 us a call)."""
    starts, counts = _runs(ordered[1:] != ordered[:-1])
    return ordered[starts], counts


def _counts_per_text(
    text: IntArray, column: IntArray, width: int, n: int
) -> tuple[IntArray, IntArray, IntArray]:
    """Each of ``n`` texts' distinct columns (``0 <= column < width``) in
    order, with how often each occurs, all texts' in one flat array; text
    ``i``'s are at ``bounds[i]:bounds[i + 1]``. Returns (columns, counts, bounds)."""
    keys = text * width + column  # (text, column) as one sortable key
    keys.sort()
    unique, counts = _unique_counts(keys) if len(keys) else (keys, keys)
    text_of = unique // width
    return unique - text_of * width, counts, np.searchsorted(text_of, np.arange(n + 1))


def _padded(text: str) -> bytes:
    """``text.lower()``'s ``\\w+`` tokens as UTF-8 bytes between spaces, with a space at
    each end; runs of spaces may remain (fast path for ASCII text)."""
    lowered = text.lower()
    if not lowered.isascii():
        for char in _PUNCTUATION:
            if char in lowered:
                lowered = lowered.replace(char, " ")
        if not lowered.isascii():
            tokens = [t.encode("utf-8", "surrogatepass") for t in _TOKEN_RE.findall(lowered)]
            return b" " + b" ".join(tokens) + b" "
    return b" " + lowered.encode("ascii").translate(_ASCII_TABLE) + b" "


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens: exactly ``re.findall(r"\\w+", text.lower())``, but faster.

    ASCII text (after replacing common typographic punctuation by spaces) is split
    with a byte translation table; anything else goes through the regular expression.
    """
    return [t.decode("utf-8", "surrogatepass") for t in _padded(text).split()]


def normalize_text(text: str) -> str:
    """Key for de-duplication: the tokens joined by single spaces."""
    return " ".join(tokenize(text))


def _char_hashes(padded: bytes, char_ngrams: Sequence[int], char_limit: int) -> U64Array:
    """Hashes (before mixing) of the word-bounded character n-grams of ``padded``.

    ``padded`` is the output of :func:`_padded` for a text with a word. The
    n-grams are the windows of its first ``char_limit`` bytes that hold no space
    inside (like scikit-learn's ``char_wb``), hashed as words are (prefix sums),
    each size salted differently.
    """
    limit = min(len(padded), char_limit)
    if not char_ngrams or limit <= 0:
        return _NO_HASHES
    poly = poly_hashes(padded)
    spaces = np.zeros(limit + 1, dtype=np.int32)
    np.cumsum(poly.is_space[:limit], out=spaces[1:])
    parts = [_NO_HASHES]
    for size in char_ngrams:
        if limit < size:
            continue
        # window [i, i + size) with no space at i+1 .. i+size-2
        first = np.flatnonzero(spaces[size - 1 : limit] == spaces[1 : limit - size + 2])
        parts.append(poly.windows(first, size) ^ np.uint64(size))
    return np.concatenate(parts)


def word_hashes(words: Sequence[str]) -> U64Array:
    """The 64-bit hash that feature hashing gives each of ``words`` (before salting).

    Each word must be one token of :func:`tokenize` (lower-case, ``\\w+``).
    """
    padded = _padded(" ".join(words))
    if not padded.strip():
        return np.zeros(0, dtype=np.uint64)
    hashes = hash_words(padded)
    if len(hashes) != len(words):
        raise ValueError("every word must be a single lower-case \\w+ token")
    return hashes


@dataclass(frozen=True, eq=False)
class WordVectors:
    """Static word vectors, looked up by the hash of the word (see :func:`word_hashes`).

    ``hashes`` is sorted and unique; ``vectors[i]`` belongs to the word whose hash is
    ``hashes[i]`` (any per-word weighting already applied). :meth:`pool` sums the
    vectors of a text's words, L2-normalises the sum and multiplies it by ``scale``.
    """

    hashes: U64Array  # (n_words,) uint64, strictly increasing
    vectors: FloatArray  # (n_words, dims) float32 (stored as float16)
    scale: float = 1.0
    source: str = ""

    def __post_init__(self) -> None:
        if self.hashes.ndim != 1 or self.hashes.dtype != np.uint64 or len(self.hashes) < 1:
            raise ValueError("word vector hashes must be a non-empty uint64 vector")
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.hashes):
            raise ValueError(
                f"word vectors have shape {self.vectors.shape}, expected ({len(self.hashes)}, dims)"
            )
        if len(self.hashes) > 1 and not bool(np.all(self.hashes[1:] > self.hashes[:-1])):
            raise ValueError("word vector hashes must be strictly increasing")
        if not (math.isfinite(self.scale) and self.scale > 0.0):
            raise ValueError(f"word vector scale must be a positive number, got {self.scale}")

    @property
    def dims(self) -> int:
        return int(self.vectors.shape[1])

    @classmethod
    def from_words(
        cls,
        words: Sequence[str],
        vectors: npt.NDArray[Any],
        *,
        scale: float = 1.0,
        source: str = "",
    ) -> WordVectors:
        """Build the table from words and their vectors (rounded to float16, as stored)."""
        hashes = word_hashes(words)
        order = np.argsort(hashes, kind="stable")
        stored = np.asarray(vectors, dtype=np.float32).astype(np.float16).astype(np.float32)
        return cls(hashes[order], np.ascontiguousarray(stored[order]), scale, source)

    def pool_many(self, words: U64Array, owner: IntArray, n: int) -> list[FloatArray | None]:
        """The block of features of each of ``n`` texts from their word hashes.

        ``words`` holds every text's word hashes, each text's together and in
        order, and ``owner`` the text of each (as :func:`hash_words_of_texts`
        gives them). A text without a known word gets None (its block is zeros).
        """
        if not len(words):
            return [None] * n
        # Each text's words sorted (n small sorts are faster than one argsort), then
        # its distinct words counted: half the work of summing every word's row, and
        # a binary search of sorted keys is 6x faster.
        spans = np.searchsorted(owner, np.arange(n + 1))
        ordered = np.concatenate([np.sort(words[a:b]) for a, b in itertools.pairwise(spans)])
        starts, counts = _runs((ordered[1:] != ordered[:-1]) | (owner[1:] != owner[:-1]))
        distinct = ordered[starts]
        pos = np.searchsorted(self.hashes, distinct)
        np.minimum(pos, len(self.hashes) - 1, out=pos)
        hit = self.hashes[pos] == distinct
        # Each text's known words by table row (in hash order), with their counts.
        rows, weights = pos[hit], counts[hit].astype(np.float32)
        bounds = np.searchsorted(owner[starts][hit], np.arange(n + 1))
        return [
            self._pooled(weights[start:end], rows[start:end])
            for start, end in itertools.pairwise(bounds)
        ]

    def _pooled(self, counts: FloatArray, rows: IntArray) -> FloatArray | None:
        """The rows' vectors times their counts, summed, L2-normalised and
        scaled (None when that sum is zero: no known word)."""
        total = counts @ np.take(self.vectors, rows, axis=0)
        norm = float(np.sqrt(np.dot(total, total))) if len(rows) else 0.0
        if norm == 0.0:
            return None
        result: FloatArray = (total * np.float32(self.scale / norm)).astype(np.float32)
        return result

    def pool_text(self, text: str) -> FloatArray:
        """The block of features of ``text`` (zeros when no word is known)."""
        words, owner = hash_words_of_texts([_padded(text)])
        (pooled,) = self.pool_many(words, owner, 1)
        return np.zeros(self.dims, dtype=np.float32) if pooled is None else pooled


@dataclass(frozen=True, slots=True)
class Features:
    """The feature rows of several texts (see :func:`featurize_many`), CSR-like.

    Text ``i``'s hashed buckets are ``columns[bounds[i]:bounds[i + 1]]``, sorted and
    distinct, with their ``values`` (L2-normalised per text); ``pooled[i]`` is its
    word-vector block, None when there is no table or the text has no known word
    (the block is zeros).
    """

    columns: IntArray
    values: FloatArray
    bounds: IntArray
    pooled: list[FloatArray | None]


def featurize_many(
    texts: Sequence[str],
    n_features: int,
    idf: FloatArray | None = None,
    *,
    char_ngrams: Sequence[int] = CHAR_NGRAMS,
    char_limit: int = CHAR_LIMIT,
    embedding: WordVectors | None = None,
) -> Features:
    """The feature vector of each text: what a model reads, and what training fits on.

    Word unigrams and bigrams of the whole text and word-bounded character n-grams
    of its first ``char_limit`` bytes share ``n_features`` hashed buckets. Values are
    ``1 + log(count)`` (times ``idf[index]`` when given), L2-normalised. With
    ``embedding``, each text's words are also pooled into its word-vector block.
    The texts are hashed, bucketed and counted together (numpy's cost per call is
    paid once); each row is the same as for the text alone. Deterministic across
    processes and machines.
    """
    if n_features < 1:
        raise ValueError("n_features must be positive")
    n = len(texts)
    padded = [_padded(t) for t in texts]
    words, owner = hash_words_of_texts(padded)
    within = owner[:-1] == owner[1:]  # no bigram across two texts
    hashes = [words ^ _UNIGRAM_SALT, (words[:-1] * _BIGRAM_MUL + words[1:])[within]]
    owners = [owner, owner[:-1][within]]
    if char_ngrams:
        for i, text in enumerate(padded):
            grams = _char_hashes(text, char_ngrams, char_limit) if text.strip() else _NO_HASHES
            hashes.append(grams)
            owners.append(np.full(len(grams), i, dtype=np.intp))
    mixed = fmix64(np.concatenate(hashes))
    if n_features & (n_features - 1) == 0:  # a power of two: mask, same as the modulo
        buckets = (mixed & np.uint64(n_features - 1)).astype(np.int64)
    else:
        buckets = (mixed % np.uint64(n_features)).astype(np.int64)
    columns, counts, bounds = _counts_per_text(np.concatenate(owners), buckets, n_features, n)
    raw = 1.0 + np.log(counts.astype(np.float64))
    if idf is not None:
        raw *= np.take(idf, columns)
    values = np.empty(len(raw), dtype=np.float32)
    for start, end in itertools.pairwise(bounds):
        values[start:end] = _unit(raw[start:end])
    pooled: list[FloatArray | None] = (
        [None] * n if embedding is None else embedding.pool_many(words, owner, n)
    )
    return Features(columns, values, bounds, pooled)


def featurize(
    text: str,
    n_features: int,
    idf: FloatArray | None = None,
    *,
    char_ngrams: Sequence[int] = CHAR_NGRAMS,
    char_limit: int = CHAR_LIMIT,
) -> tuple[IntArray, FloatArray]:
    """Sparse feature vector of ``text``: sorted bucket indices and their values
    (its row of :func:`featurize_many`)."""
    row = featurize_many([text], n_features, idf, char_ngrams=char_ngrams, char_limit=char_limit)
    return row.columns, row.values


def _unit(values: npt.NDArray[np.float64]) -> FloatArray:
    """``values`` L2-normalised (unless all zero), as float32."""
    norm = float(np.sqrt(np.dot(values, values)))
    unit: FloatArray = (values / norm if norm > 0.0 else values).astype(np.float32)
    return unit


def softmax(logits: npt.NDArray[np.float64], temperature: float = 1.0) -> npt.NDArray[np.float64]:
    """Probabilities of ``logits / temperature`` (over the last axis: a row per text)."""
    z = logits / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    result: npt.NDArray[np.float64] = e / e.sum(axis=-1, keepdims=True)
    return result


def decide(
    probs: npt.NDArray[np.float64], fallback: int | None, threshold: float
) -> npt.NDArray[np.int64]:
    """Index of the reported label (over the last axis: a row per text): the top one,
    or ``fallback`` when the top probability is below ``threshold``."""
    pred = np.asarray(np.argmax(probs, axis=-1), dtype=np.int64)
    if fallback is not None and threshold > 0.0:
        pred = np.where(probs.max(axis=-1) < threshold, fallback, pred)
    return pred


def _fail(message: str) -> ModelError:
    return ModelError(f"invalid topic model artifact: {message}")


@dataclass(frozen=True, eq=False)
class TopicModel:
    """A trained linear topic classifier over hashed word features and word vectors.

    The feature vector is the ``n_features`` hashed values followed, when the model
    has ``embedding``, by its ``embedding.dims`` pooled word-vector values; ``weights``
    has a row for each. ``probabilities`` are ``softmax((x @ W + b) / temperature)``.
    When ``fallback`` names a label, a prediction whose top probability is below
    ``threshold`` is reported as that label instead ("other" for the default model);
    the scores of every label are kept as they are.
    """

    labels: tuple[str, ...]
    weights: FloatArray  # (n_features [+ embedding dims], n_labels) float32
    bias: FloatArray  # (n_labels,) float32
    n_features: int
    version: str
    metadata: dict[str, Any] = field(default_factory=dict)
    idf: FloatArray | None = None  # (n_features,) float32, or None for plain tf
    temperature: float = 1.0
    fallback: str | None = None
    threshold: float = 0.0
    char_ngrams: tuple[int, ...] = CHAR_NGRAMS
    char_limit: int = CHAR_LIMIT
    embedding: WordVectors | None = None

    def __post_init__(self) -> None:
        n_labels = len(self.labels)
        if n_labels < 2 or len(set(self.labels)) != n_labels:
            raise ValueError("a topic model needs at least two distinct labels")
        rows = self.n_features + (self.embedding.dims if self.embedding is not None else 0)
        if self.weights.shape != (rows, n_labels):
            raise ValueError(
                f"weights have shape {self.weights.shape}, expected ({rows}, {n_labels})"
            )
        if self.bias.shape != (n_labels,):
            raise ValueError(f"bias has shape {self.bias.shape}, expected ({n_labels},)")
        if self.idf is not None and self.idf.shape != (self.n_features,):
            raise ValueError(f"idf has shape {self.idf.shape}, expected ({self.n_features},)")
        if not (math.isfinite(self.temperature) and self.temperature > 0.0):
            raise ValueError(f"temperature must be a positive number, got {self.temperature}")
        if self.fallback is not None and self.fallback not in self.labels:
            raise ValueError(f"fallback label {self.fallback!r} is not one of the labels")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        if any(n < 1 for n in self.char_ngrams) or self.char_limit < 0:
            raise ValueError("character n-gram sizes must be positive and char_limit >= 0")

    # -- inference ---------------------------------------------------------

    def logits(self, text: str) -> npt.NDArray[np.float64]:
        """Raw scores ``x @ W + b`` (before the temperature), in the order of ``labels``."""
        row: npt.NDArray[np.float64] = self.logits_many([text])[0]
        return row

    def _scores(
        self, values: FloatArray, rows: FloatArray, pooled: FloatArray | None
    ) -> npt.NDArray[np.float64]:
        """``x @ W + b`` from the hashed features' values and weight rows and
        the pooled word vectors (None: zeros)."""
        scores = values @ rows
        if pooled is not None:
            scores += pooled @ self.weights[self.n_features :]
        result: npt.NDArray[np.float64] = scores.astype(np.float64) + self.bias
        return result

    def logits_many(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        """``logits`` of each text, one row each.

        The texts' features come from one :func:`featurize_many` call per
        ``_TEXTS_TOGETHER``; only the small products stay per text. numpy's cost
        per call was about a third of classifying one article.
        """
        if len(texts) > _TEXTS_TOGETHER:
            return np.concatenate(
                [
                    self.logits_many(texts[i : i + _TEXTS_TOGETHER])
                    for i in range(0, len(texts), _TEXTS_TOGETHER)
                ]
            )
        features = featurize_many(
            texts,
            self.n_features,
            self.idf,
            char_ngrams=self.char_ngrams,
            char_limit=self.char_limit,
            embedding=self.embedding,
        )
        rows = np.take(self.weights, features.columns, axis=0)  # faster than weights[columns]
        out = np.empty((len(texts), len(self.labels)), dtype=np.float64)
        for i, (start, end) in enumerate(itertools.pairwise(features.bounds)):
            out[i] = self._scores(features.values[start:end], rows[start:end], features.pooled[i])
        return out

    def probabilities(self, text: str) -> npt.NDArray[np.float64]:
        """Calibrated softmax probabilities, in the order of ``labels``."""
        return softmax(self.logits(text), self.temperature)

    @property
    def _fallback_index(self) -> int | None:
        return None if self.fallback is None else self.labels.index(self.fallback)

    def decide(self, probs: npt.NDArray[np.float64]) -> int:
        """Index of the reported label: the top one, or the fallback below the threshold."""
        return int(decide(probs, self._fallback_index, self.threshold))

    def predict(self, text: str) -> Classification:
        """Classify ``title + "\\n" + body``."""
        probs = self.probabilities(text)
        return self._classification(probs, self.decide(probs))

    def predict_many(self, texts: Iterable[str]) -> list[Classification]:
        """``predict`` of each text, classified together (see ``logits_many``)."""
        probs = softmax(self.logits_many(list(texts)), self.temperature)
        chosen = decide(probs, self._fallback_index, self.threshold).tolist()
        return [self._classification(p, c) for p, c in zip(probs, chosen, strict=True)]

    def _classification(self, probs: npt.NDArray[np.float64], chosen: int) -> Classification:
        # Built without re-validation: every field is in range by construction.
        return Classification.model_construct(
            topic=self.labels[chosen],
            confidence=min(1.0, max(0.0, float(probs[chosen]))),
            scores={
                label: round(float(p), 4)
                for label, p in zip(self.labels, probs.tolist(), strict=True)
            },
            model_version=self.version,
        )

    # -- serialisation -----------------------------------------------------

    def header(self) -> dict[str, Any]:
        """The JSON blob stored in the artifact."""
        return {
            "format": ARTIFACT_FORMAT,
            "featurizer": FEATURIZER,
            "labels": list(self.labels),
            "version": self.version,
            "n_features": self.n_features,
            "idf": self.idf is not None,
            "char_ngrams": list(self.char_ngrams),
            "char_limit": self.char_limit,
            "temperature": self.temperature,
            "fallback": self.fallback,
            "threshold": self.threshold,
            "embedding": None
            if self.embedding is None
            else {
                "scheme": EMBEDDER,
                "dims": self.embedding.dims,
                "n_words": len(self.embedding.hashes),
                "scale": self.embedding.scale,
                "source": self.embedding.source,
            },
            "metadata": self.metadata,
        }

    def to_bytes(self) -> bytes:
        """An ``.npz`` archive (no pickle). Same model, same bytes."""
        blob = json.dumps(self.header(), sort_keys=True, ensure_ascii=False, allow_nan=False)
        arrays: dict[str, npt.NDArray[Any]] = {
            "weights": np.ascontiguousarray(self.weights, dtype="<f4"),
            "bias": np.ascontiguousarray(self.bias, dtype="<f4"),
            "meta": np.frombuffer(blob.encode("utf-8"), dtype=np.uint8),
        }
        if self.idf is not None:
            arrays["idf"] = np.ascontiguousarray(self.idf, dtype="<f4")
        if self.embedding is not None:
            arrays["embed_hashes"] = np.ascontiguousarray(self.embedding.hashes, dtype="<u8")
            arrays["embed_vectors"] = np.ascontiguousarray(self.embedding.vectors, dtype="<f2")
        return npz_bytes(arrays)

    @classmethod
    def from_bytes(cls, data: bytes) -> TopicModel:
        """Load an artifact written by :meth:`to_bytes`; raise ``ModelError`` if unusable."""
        try:
            loaded = np.load(io.BytesIO(data), allow_pickle=False)
            if not isinstance(loaded, np.lib.npyio.NpzFile):
                raise _fail("it holds a single array, not an .npz archive")
            with loaded as npz:
                missing = {"weights", "bias", "meta"} - set(npz.keys())
                if missing:
                    raise _fail(f"missing arrays {sorted(missing)}")
                unknown = set(npz.keys()) - set(_ARRAY_KEYS)
                if unknown:
                    raise _fail(f"unexpected arrays {sorted(unknown)}")
                arrays = {key: npz[key] for key in npz.keys()}  # noqa: SIM118
        except ModelError:
            raise
        except Exception as exc:  # np.load raises many types on garbage
            raise _fail(f"cannot read it as .npz ({type(exc).__name__}: {exc})") from exc
        header = _parse_header(arrays["meta"])
        labels, n_features = header["labels"], header["n_features"]
        weights, bias = arrays["weights"], arrays["bias"]
        idf = arrays.get("idf")
        if header["idf"] != (idf is not None):
            raise _fail("the idf flag does not match the arrays")
        for name, array in (("weights", weights), ("bias", bias), ("idf", idf)):
            if array is None:
                continue
            if array.dtype != np.float32:
                raise _fail(f"{name} has dtype {array.dtype}, expected float32")
            if not np.all(np.isfinite(array)):
                raise _fail(f"{name} holds non-finite values")
        try:
            embedding = _embedding(header["embedding"], arrays)
            return cls(
                labels=tuple(labels),
                weights=weights,
                bias=bias,
                n_features=n_features,
                version=header["version"],
                metadata=header["metadata"],
                idf=idf,
                temperature=header["temperature"],
                fallback=header["fallback"],
                threshold=header["threshold"],
                char_ngrams=tuple(header["char_ngrams"]),
                char_limit=header["char_limit"],
                embedding=embedding,
            )
        except ValueError as exc:
            raise _fail(str(exc)) from exc


def _embedding(spec: dict[str, Any] | None, arrays: dict[str, Any]) -> WordVectors | None:
    """The model's word vectors from the header entry and the arrays (or None)."""
    hashes, vectors = arrays.get("embed_hashes"), arrays.get("embed_vectors")
    if spec is None:
        if hashes is not None or vectors is not None:
            raise _fail("word vector arrays without an embedding entry in the header")
        return None
    if hashes is None or vectors is None:
        raise _fail("the header names word vectors but the arrays are missing")
    if hashes.dtype != np.uint64 or vectors.dtype != np.float16:
        raise _fail(
            f"word vectors have dtypes {hashes.dtype}/{vectors.dtype}, expected uint64/float16"
        )
    if vectors.ndim != 2 or vectors.shape != (spec["n_words"], spec["dims"]):
        raise _fail(
            f"word vectors have shape {vectors.shape}, expected ({spec['n_words']}, {spec['dims']})"
        )
    as_float = vectors.astype(np.float32)
    if not np.all(np.isfinite(as_float)):
        raise _fail("word vectors hold non-finite values")
    return WordVectors(hashes, as_float, float(spec["scale"]), spec["source"])


def _parse_header(meta: npt.NDArray[Any]) -> dict[str, Any]:
    if meta.dtype != np.uint8 or meta.ndim != 1:
        raise _fail("the metadata blob is not a byte array")
    try:
        header = json.loads(meta.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _fail(f"the metadata blob is not JSON ({exc})") from exc
    if not isinstance(header, dict):
        raise _fail("the metadata blob is not a JSON object")
    fmt = header.get("format")
    if fmt != ARTIFACT_FORMAT:
        raise ModelError(
            f"unsupported topic model artifact format {fmt!r} "
            f"(this version of newswire reads format {ARTIFACT_FORMAT}); retrain the model"
        )
    if header.get("featurizer") != FEATURIZER:
        raise ModelError(
            f"unsupported featurizer {header.get('featurizer')!r} in topic model artifact "
            f"(expected {FEATURIZER!r}); retrain the model"
        )
    labels = header.get("labels")
    if not isinstance(labels, list) or not all(isinstance(x, str) and x for x in labels):
        raise _fail("labels must be a list of non-empty strings")
    n_features = header.get("n_features")
    if not isinstance(n_features, int) or isinstance(n_features, bool) or n_features < 1:
        raise _fail("n_features must be a positive integer")
    if not isinstance(header.get("version"), str) or not header["version"]:
        raise _fail("version must be a non-empty string")
    if not isinstance(header.get("idf"), bool):
        raise _fail("idf flag must be a boolean")
    char_ngrams = header.get("char_ngrams")
    if not isinstance(char_ngrams, list) or not all(_is_int(n) for n in char_ngrams):
        raise _fail("char_ngrams must be a list of integers")
    if not _is_int(header.get("char_limit")):
        raise _fail("char_limit must be an integer")
    for key in ("temperature", "threshold"):
        value = header.get(key)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise _fail(f"{key} must be a number")
    fallback = header.get("fallback")
    if fallback is not None and not isinstance(fallback, str):
        raise _fail("fallback must be a label or null")
    if not isinstance(header.get("metadata", {}), dict):
        raise _fail("metadata must be a JSON object")
    header.setdefault("metadata", {})
    header["embedding"] = _parse_embedding(header.get("embedding"))
    return header


def _parse_embedding(spec: object) -> dict[str, Any] | None:
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise _fail("embedding must be a JSON object or null")
    if spec.get("scheme") != EMBEDDER:
        raise ModelError(
            f"unsupported word-vector scheme {spec.get('scheme')!r} in topic model artifact "
            f"(expected {EMBEDDER!r}); retrain the model"
        )
    for key in ("dims", "n_words"):
        if not _is_int(spec.get(key)) or spec[key] < 1:
            raise _fail(f"embedding {key} must be a positive integer")
    scale = spec.get("scale")
    if not isinstance(scale, int | float) or isinstance(scale, bool):
        raise _fail("embedding scale must be a number")
    if not isinstance(spec.get("source", ""), str):
        raise _fail("embedding source must be a string")
    spec.setdefault("source", "")
    return spec


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
