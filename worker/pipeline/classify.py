"""Topic classification with a hashed bag of words and a linear softmax model.

Pure module: no I/O, no logging. A :class:`TopicModel` is trained elsewhere
(``worker.training``) and shipped as bytes (an ``.npz`` archive without pickle).

Features: the text is lower-cased and split into ``\\w+`` tokens; every word
unigram and bigram is hashed (``zlib.crc32`` of the token, mixed with a fixed
64-bit finaliser; never Python's salted ``hash()``) into ``n_features``
buckets; counts get sublinear scaling ``1 + log(tf)``, optionally an IDF
weight, and the vector is L2-normalised. The model is ``softmax(x @ W + b)``.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
import zlib
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

ARTIFACT_FORMAT: Final = 1
DEFAULT_LABELS: Final = ("geopolitics", "sport", "entertainment", "other")
# Name of the feature scheme below; stored in artifacts and checked on load.
FEATURIZER: Final = "words-uni-bi/crc32-fmix64/sublinear-tf/l2"

_TOKEN_RE: Final = re.compile(r"\w+")
# Non-word characters that commonly glue words together (never "_", which is \w).
_SEPARATORS: Final = str.maketrans(
    dict.fromkeys(
        "!\"#$%&'()*+,-./:;<=>?@[\\]^`{|}~\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f"
        "\u2013\u2014\u2015\u2026\u00ab\u00bb\u2039\u203a\u00b7\u2022\u2032\u2033",
        " ",
    )
)
_FMIX_C1: Final = np.uint64(0xFF51AFD7ED558CCD)
_FMIX_C2: Final = np.uint64(0xC4CEB9FE1A85EC53)
_UNIGRAM_SALT: Final = np.uint64(0x9E3779B97F4A7C15)
_SHIFT32: Final = np.uint64(32)
_SHIFT33: Final = np.uint64(33)

_ARRAY_KEYS: Final = ("weights", "bias", "idf", "meta")

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens: exactly ``re.findall(r"\\w+", text.lower())``, but faster.

    Common punctuation becomes a space and the text is split on whitespace; a chunk
    that is not all word characters (``str.isalnum``, which is what ``\\w`` tests
    besides ``_``) goes through the regular expression.
    """
    chunks = text.lower().translate(_SEPARATORS).split()
    if all(map(str.isalnum, chunks)):
        return chunks
    return [tok for chunk in chunks for tok in _word_tokens(chunk)]


def _word_tokens(chunk: str) -> list[str]:
    return [chunk] if chunk.isalnum() else _TOKEN_RE.findall(chunk)


def normalize_text(text: str) -> str:
    """Key for de-duplication: the tokens joined by single spaces."""
    return " ".join(tokenize(text))


def _fmix64(keys: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """MurmurHash3's 64-bit finaliser (a bijection with good avalanche)."""
    x = keys.copy()
    x ^= x >> _SHIFT33
    x *= _FMIX_C1
    x ^= x >> _SHIFT33
    x *= _FMIX_C2
    x ^= x >> _SHIFT33
    return x


def _feature_hashes(tokens: Sequence[str]) -> npt.NDArray[np.uint64]:
    """One 64-bit hash per unigram and per bigram of ``tokens``."""
    unique = list(dict.fromkeys(tokens))
    crc = dict(zip(unique, map(zlib.crc32, map(str.encode, unique)), strict=True))
    words = np.array(list(map(crc.__getitem__, tokens)), dtype=np.uint64)
    unigrams = _fmix64(words ^ _UNIGRAM_SALT)
    bigrams = _fmix64((words[:-1] << _SHIFT32) | words[1:])
    return np.concatenate((unigrams, bigrams))


def featurize(
    text: str, n_features: int, idf: FloatArray | None = None
) -> tuple[IntArray, FloatArray]:
    """Sparse feature vector of ``text``: sorted bucket indices and their values.

    Values are ``1 + log(count)`` (times ``idf[index]`` when given), L2-normalised.
    Deterministic across processes and machines.
    """
    if n_features < 1:
        raise ValueError("n_features must be positive")
    tokens = tokenize(text)
    if not tokens:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    buckets = (_feature_hashes(tokens) % np.uint64(n_features)).astype(np.int64)
    indices, counts = np.unique(buckets, return_counts=True)
    values = 1.0 + np.log(counts.astype(np.float64))
    if idf is not None:
        values *= idf[indices]
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
    """A trained linear topic classifier over hashed word features."""

    labels: tuple[str, ...]
    weights: FloatArray  # (n_features, n_labels) float32
    bias: FloatArray  # (n_labels,) float32
    n_features: int
    version: str
    metadata: dict[str, Any] = field(default_factory=dict)
    idf: FloatArray | None = None  # (n_features,) float32, or None for plain tf

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

    # -- inference ---------------------------------------------------------

    def probabilities(self, text: str) -> npt.NDArray[np.float64]:
        """Softmax probabilities, in the order of ``labels``."""
        indices, values = featurize(text, self.n_features, self.idf)
        logits = values.astype(np.float64) @ self.weights[indices] + self.bias
        return _softmax(logits)

    def predict(self, text: str) -> Classification:
        """Classify ``title + "\\n" + body``."""
        return self._classification(self.probabilities(text))

    def predict_many(self, texts: Iterable[str]) -> list[Classification]:
        return [self.predict(text) for text in texts]

    def _classification(self, probs: npt.NDArray[np.float64]) -> Classification:
        best = int(np.argmax(probs))
        return Classification(
            topic=self.labels[best],
            confidence=min(1.0, max(0.0, float(probs[best]))),
            scores={label: round(float(p), 4) for label, p in zip(self.labels, probs, strict=True)},
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
    if not isinstance(header.get("metadata", {}), dict):
        raise _fail("metadata must be a JSON object")
    header.setdefault("metadata", {})
    return header
