"""Topic classification with hashed word and character n-grams and a linear softmax model.

Pure module: no I/O, no logging. A :class:`TopicModel` is trained elsewhere
(``worker.training``) and shipped as bytes (an ``.npz`` archive without pickle).

Features: the text is lower-cased and split into ``\\w+`` tokens. Every word
unigram and bigram of the whole text (and, when a model is built with
``char_ngrams``, every word-bounded character n-gram of its first ``char_limit``
bytes; the shipped model uses none) is hashed (a polynomial hash of the bytes
mod 2**64 mixed with MurmurHash3's finaliser; never Python's salted ``hash()``)
into ``n_features`` buckets; counts get sublinear scaling ``1 + log(tf)``, an IDF
weight, and the vector is L2-normalised. The whole text is hashed with a few
numpy operations, no Python loop per word.

The model is ``softmax((x @ W + b) / T)`` with a temperature ``T`` fitted on
held-out data; a top probability below the stored ``threshold`` reports the
``fallback`` label ("other") instead, keeping every label's score.
"""

from __future__ import annotations

import io
import json
import math
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from worker.pipeline.errors import ModelError
from worker.pipeline.models import Classification

__all__ = [
    "ARTIFACT_FORMAT",
    "DEFAULT_LABELS",
    "FEATURIZER",
    "TopicModel",
    "featurize",
    "normalize_text",
    "tokenize",
]

ARTIFACT_FORMAT: Final = 2
DEFAULT_LABELS: Final = ("geopolitics", "sport", "entertainment", "other")
# Name of the feature scheme below; stored in artifacts and checked on load.
FEATURIZER: Final = "words-uni-bi+chars-wb/poly64-fmix64/sublinear-tf/l2"
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
_SPACE: Final = 0x20

_FMIX_C1: Final = np.uint64(0xFF51AFD7ED558CCD)
_FMIX_C2: Final = np.uint64(0xC4CEB9FE1A85EC53)
_UNIGRAM_SALT: Final = np.uint64(0x9E3779B97F4A7C15)
_BIGRAM_MUL: Final = np.uint64(0xD6E8FEB86659FD93)
_SHIFT33: Final = np.uint64(33)
# Polynomial hash of byte strings mod 2**64: base Q (odd) and its inverse.
_POLY_Q: Final = 0x100000001B3
_POLY_P: Final = pow(_POLY_Q, -1, 2**64)

_ARRAY_KEYS: Final = ("weights", "bias", "idf", "meta")

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]
U64Array = npt.NDArray[np.uint64]


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


def _fmix64(keys: U64Array) -> U64Array:
    """MurmurHash3's 64-bit finaliser (a bijection with good avalanche)."""
    x = keys.copy()
    x ^= x >> _SHIFT33
    x *= _FMIX_C1
    x ^= x >> _SHIFT33
    x *= _FMIX_C2
    x ^= x >> _SHIFT33
    return x


class _Powers:
    """Cached powers ``Q**i`` and ``P**i`` mod 2**64, grown on demand (deterministic)."""

    q: U64Array = np.zeros(0, dtype=np.uint64)
    p: U64Array = np.zeros(0, dtype=np.uint64)

    @classmethod
    def get(cls, n: int) -> tuple[U64Array, U64Array]:
        if len(cls.q) < n:
            size = max(n, 2 * len(cls.q), 1 << 14)
            with np.errstate(over="ignore"):
                q = np.full(size, _POLY_Q, dtype=np.uint64)
                p = np.full(size, _POLY_P, dtype=np.uint64)
                q[0] = p[0] = 1
                cls.q, cls.p = np.cumprod(q, dtype=np.uint64), np.cumprod(p, dtype=np.uint64)
        return cls.q, cls.p


def _feature_hashes(
    padded: bytes, char_ngrams: Sequence[int] = CHAR_NGRAMS, char_limit: int = CHAR_LIMIT
) -> U64Array:
    """64-bit hashes of the word unigrams and bigrams and of the character n-grams.

    ``padded`` is the output of :func:`_padded`. A word's hash is a polynomial hash
    of its bytes, computed for all words at once from prefix sums. Character
    n-grams are the windows of the first ``char_limit`` bytes that hold no space
    inside (word-bounded, like scikit-learn's ``char_wb``), hashed the same way.
    """
    codes = np.frombuffer(padded, dtype=np.uint8)
    n = len(codes)
    pow_q, pow_p = _Powers.get(n + 1)
    prefix = np.zeros(n + 1, dtype=np.uint64)
    np.cumsum((codes.astype(np.uint64) + np.uint64(1)) * pow_q[:n], out=prefix[1:])
    is_space = codes == _SPACE
    edges = np.flatnonzero(is_space[1:] != is_space[:-1]) + 1  # start, end, start, end...
    starts, ends = edges[0::2], edges[1::2]
    words = (prefix[ends] - prefix[starts]) * pow_p[starts]
    parts = [words ^ _UNIGRAM_SALT, words[:-1] * _BIGRAM_MUL + words[1:]]
    limit = min(n, char_limit)
    if char_ngrams and limit > 0:
        spaces = np.zeros(limit + 1, dtype=np.int32)
        np.cumsum(is_space[:limit], out=spaces[1:])
        for size in char_ngrams:
            if limit < size:
                continue
            # window [i, i + size) with no space at i+1 .. i+size-2
            first = np.flatnonzero(spaces[size - 1 : limit] == spaces[1 : limit - size + 2])
            grams = (prefix[first + size] - prefix[first]) * pow_p[first]
            parts.append(grams ^ np.uint64(size))
    return _fmix64(np.concatenate(parts))


def featurize(
    text: str,
    n_features: int,
    idf: FloatArray | None = None,
    *,
    char_ngrams: Sequence[int] = CHAR_NGRAMS,
    char_limit: int = CHAR_LIMIT,
) -> tuple[IntArray, FloatArray]:
    """Sparse feature vector of ``text``: sorted bucket indices and their values.

    Word unigrams and bigrams of the whole text and word-bounded character n-grams
    of its first ``char_limit`` bytes share ``n_features`` hashed buckets. Values are
    ``1 + log(count)`` (times ``idf[index]`` when given), L2-normalised.
    Deterministic across processes and machines.
    """
    if n_features < 1:
        raise ValueError("n_features must be positive")
    padded = _padded(text)
    if not padded.strip():
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    hashes = _feature_hashes(padded, char_ngrams, char_limit)
    if n_features & (n_features - 1) == 0:  # a power of two: mask, same as the modulo
        buckets = np.sort((hashes & np.uint64(n_features - 1)).astype(np.int64))
    else:
        buckets = np.sort((hashes % np.uint64(n_features)).astype(np.int64))
    first = np.flatnonzero(np.concatenate(([True], buckets[1:] != buckets[:-1])))
    indices = buckets[first]
    counts = np.diff(np.append(first, len(buckets)))
    values = 1.0 + np.log(counts.astype(np.float64))
    if idf is not None:
        values *= np.take(idf, indices)
    norm = float(np.sqrt(np.dot(values, values)))
    if norm > 0.0:
        values /= norm
    return indices, values.astype(np.float32)


def _softmax(logits: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    result: npt.NDArray[np.float64] = exp / exp.sum(axis=-1, keepdims=True)
    return result


def _fail(message: str) -> ModelError:
    return ModelError(f"invalid topic model artifact: {message}")


@dataclass(frozen=True, eq=False)
class TopicModel:
    """A trained linear topic classifier over hashed word and character features.

    ``probabilities`` are ``softmax((x @ W + b) / temperature)``. When ``fallback``
    names a label, a prediction whose top probability is below ``threshold`` is
    reported as that label instead ("other" for the default model); the scores of
    every label are kept as they are.
    """

    labels: tuple[str, ...]
    weights: FloatArray  # (n_features, n_labels) float32
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

    def __post_init__(self) -> None:
        n_labels = len(self.labels)
        if n_labels < 2 or len(set(self.labels)) != n_labels:
            raise ValueError("a topic model needs at least two distinct labels")
        if self.weights.shape != (self.n_features, n_labels):
            raise ValueError(
                f"weights have shape {self.weights.shape}, expected ({self.n_features}, {n_labels})"
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

    def features(self, text: str) -> tuple[IntArray, FloatArray]:
        """The sparse feature vector this model reads (see :func:`featurize`)."""
        return featurize(
            text,
            self.n_features,
            self.idf,
            char_ngrams=self.char_ngrams,
            char_limit=self.char_limit,
        )

    def logits(self, text: str) -> npt.NDArray[np.float64]:
        """Raw scores ``x @ W + b`` (before the temperature), in the order of ``labels``."""
        indices, values = self.features(text)
        rows = np.take(self.weights, indices, axis=0)  # much faster than weights[indices]
        result: npt.NDArray[np.float64] = (values @ rows).astype(np.float64) + self.bias
        return result

    def probabilities(self, text: str) -> npt.NDArray[np.float64]:
        """Calibrated softmax probabilities, in the order of ``labels``."""
        return _softmax(self.logits(text) / self.temperature)

    def decide(self, probs: npt.NDArray[np.float64]) -> int:
        """Index of the reported label: the top one, or the fallback below the threshold."""
        best = int(np.argmax(probs))
        if self.fallback is not None and float(probs[best]) < self.threshold:
            return self.labels.index(self.fallback)
        return best

    def predict(self, text: str) -> Classification:
        """Classify ``title + "\\n" + body``."""
        return self._classification(self.probabilities(text))

    def predict_many(self, texts: Iterable[str]) -> list[Classification]:
        return [self.predict(text) for text in texts]

    def _classification(self, probs: npt.NDArray[np.float64]) -> Classification:
        chosen = self.decide(probs)
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
        # Like np.savez_compressed, but with fixed zip timestamps so that the
        # bytes depend on the model only.
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name in sorted(arrays):
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                member = io.BytesIO()
                np.lib.format.write_array(member, arrays[name], allow_pickle=False)
                archive.writestr(info, member.getvalue(), compresslevel=6)
        return buffer.getvalue()

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
            )
        except ValueError as exc:
            raise _fail(str(exc)) from exc


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
    return header


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
