"""Dedup fingerprints: pure functions of the parsed article.

``fingerprint`` gives both of an article's fingerprints:

- the body hash: exact copies, up to case, punctuation and whitespace;
- LSH bands and a sketch of a MinHash signature of the body's word
  3-shingles; the share of equal positions of two signatures estimates the
  Jaccard similarity of their shingle sets, which survives re-titling,
  by-lines, boilerplate, dropped paragraphs, truncation and edited words.
- ``simhash``: a 64-bit SimHash of the same shingles, measured against
  MinHash by ``bench/dedup.py``.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from worker.pipeline.hashing import U64Array, fmix64, hash_words, hash_words_of_texts
from worker.pipeline.models import ParsedArticle
from worker.pipeline.text import normalize_for_hash

__all__ = [
    "BANDS",
    "SHINGLE_WORDS",
    "SKETCH_BYTES",
    "Fingerprint",
    "fingerprint",
    "fingerprints",
    "jaccard_estimate",
    "minhash",
    "shingles",
    "simhash",
    "sketch_similarity",
]

# LSH: 16 bands of 4 rows of a 64-permutation MinHash. A pair with Jaccard
# 0.7 (a copy truncated to 70%) becomes a candidate with probability 0.99,
# one with Jaccard 0.2 with probability 0.03 (bench/dedup.py).
BANDS, ROWS = 16, 4
# Candidates are verified on the low byte of the first 32 minima: 32 bytes a
# document keeps the index small (the store does the same sum in Lua).
SKETCH_BYTES = 32

SHINGLE_WORDS = 3
# MinHash permutations: x -> (a * x + b) mod 2**32 with odd a permutes the
# high halves of the (well mixed) 64-bit shingle hashes; 32-bit arithmetic
# runs twice as fast as 64-bit in numpy. Fixed seed: signatures must agree
# across processes and releases.
_rng = np.random.default_rng(20261127)
_A: Final = _rng.integers(0, 2**31, size=256, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
_B: Final = _rng.integers(0, 2**32, size=256, dtype=np.uint32)
# A shingle's hash: its word hashes, each times the odd constant of its place.
_PLACE: Final = _rng.integers(0, 2**63, size=8, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
# fingerprints() takes this many articles at a time: its permuted minima
# are 64 x 4 bytes a shingle, ~4 MB for 25 articles of 4 KB.
_ARTICLES_TOGETHER: Final = 25
_HIGH: Final = np.uint64(32)


@dataclass(frozen=True, slots=True)
class Fingerprint:
    body_hash: str  # exact copies
    bands: tuple[int, ...]  # LSH band hashes, for near-duplicate candidates
    sketch: bytes  # verifies a candidate's similarity


def fingerprint(parsed: ParsedArticle) -> Fingerprint:
    """Both fingerprints of the body, normalizing it once. Copies that differ
    only in title, outlet, case, punctuation or whitespace share the hash."""
    normalized = normalize_for_hash(parsed.body)
    # MinHash takes minima: repeated shingles need no de-duplication here.
    bands, sketch = _lsh(_shingle_hashes(normalized, distinct=False))
    return Fingerprint(hashlib.sha256(normalized.encode()).hexdigest()[:32], bands, sketch)


def fingerprints(articles: Sequence[ParsedArticle]) -> list[Fingerprint]:
    """``fingerprint`` of each article, bit for bit; their words hashed,
    shingled and min-hashed together, a few dozen articles at a time
    (numpy's fixed cost per call was most of an article's)."""
    out: list[Fingerprint] = []
    for i in range(0, len(articles), _ARTICLES_TOGETHER):
        normals = [normalize_for_hash(a.body) for a in articles[i : i + _ARTICLES_TOGETHER]]
        out += _fingerprints(normals)
    return out


def _fingerprints(normals: list[str]) -> list[Fingerprint]:
    n, k = len(normals), SHINGLE_WORDS
    words, owner = hash_words_of_texts([_padded(text) for text in normals])
    # Shingles inside one text (a text of fewer than k words has none here).
    grams = _grams(words, k)
    within = owner[: len(grams)] == owner[k - 1 :]
    hashes = fmix64(grams[within])
    owners = owner[: len(grams)][within]
    bounds = np.searchsorted(owners, np.arange(n + 1))
    high = (hashes >> _HIGH).astype(np.uint32)
    permuted = np.multiply.outer(_A[: BANDS * ROWS], high)
    permuted += _B[: BANDS * ROWS, None]
    starts = bounds[:-1][bounds[:-1] < bounds[1:]]
    minima = np.minimum.reduceat(permuted, starts, axis=1) if len(starts) else permuted[:, :0]
    signatures = iter(np.ascontiguousarray(minima.T))
    out = []
    for text, first, last in zip(normals, bounds[:-1], bounds[1:], strict=True):
        if last > first:
            bands, sketch = _bands(next(signatures))
        else:  # too short for a shingle here: fingerprint() pads it with empty words
            bands, sketch = _lsh(_shingle_hashes(text, distinct=False))
        out.append(Fingerprint(hashlib.sha256(text.encode()).hexdigest()[:32], bands, sketch))
    return out


def _padded(normalized: str) -> bytes:
    """Normalized text as hash_words takes it: UTF-8 with a space at each end."""
    return b" " + normalized.encode("utf-8", "surrogatepass") + b" "


def _grams(words: U64Array, k: int) -> U64Array:
    """The (unmixed) hash of each run of ``k`` consecutive words."""
    n = max(len(words) - k + 1, 0)
    grams: U64Array = words[:n] * _PLACE[0]
    for i in range(1, k):
        grams += words[i : i + n] * _PLACE[i]
    return grams


def shingles(text: str, k: int = SHINGLE_WORDS) -> U64Array:
    """Distinct 64-bit hashes of the normalized text's k-word shingles."""
    return _shingle_hashes(normalize_for_hash(text), k)


def _shingle_hashes(normalized: str, k: int = SHINGLE_WORDS, *, distinct: bool = True) -> U64Array:
    """Shingle hashes of already normalized text (words between single
    spaces): word hashes combined k at a time, all in numpy."""
    words = hash_words(_padded(normalized))
    if len(words) < k:  # a short text is one shingle, padded with empty words
        words = np.concatenate([words, np.zeros(k - len(words), dtype=np.uint64)])
    hashes = fmix64(_grams(words, k))
    return np.unique(hashes) if distinct else hashes


def minhash(hashes: U64Array, num_perm: int = 64) -> npt.NDArray[np.uint32]:
    """The MinHash signature of a shingle set under ``num_perm`` fixed
    permutations of the 32-bit hash space."""
    if num_perm > len(_A):
        raise ValueError(f"at most {len(_A)} permutations")
    if hashes.size == 0:
        return np.full(num_perm, 0xFFFFFFFF, dtype=np.uint32)
    high = (hashes >> _HIGH).astype(np.uint32)
    permuted = np.multiply.outer(_A[:num_perm], high)
    permuted += _B[:num_perm, None]
    lowest: npt.NDArray[np.uint32] = permuted.min(axis=1)
    return lowest


def jaccard_estimate(a: npt.NDArray[np.uint32], b: npt.NDArray[np.uint32]) -> float:
    return float(np.count_nonzero(a == b)) / len(a)


def simhash(hashes: U64Array) -> int:
    """64-bit SimHash, each shingle weighted once; bits from a remix of the
    shingle hashes."""
    if hashes.size == 0:
        return 0
    x = hashes * np.uint64(0x9E3779B97F4A7C15)
    x ^= x >> np.uint64(29)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(32)
    bits = (x[:, None] >> np.arange(64, dtype=np.uint64)[None, :]) & np.uint64(1)
    votes = bits.sum(axis=0).astype(np.int64) * 2 - len(hashes)
    return int(sum(1 << i for i in range(64) if votes[i] > 0))


def _lsh(hashes: npt.NDArray[np.uint64]) -> tuple[tuple[int, ...], bytes]:
    """The 16 LSH band hashes (32-bit) and the 32-byte verification sketch."""
    return _bands(minhash(hashes, BANDS * ROWS))


def _bands(sig: npt.NDArray[np.uint32]) -> tuple[tuple[int, ...], bytes]:
    """LSH band hashes and sketch of a MinHash signature."""
    raw, width = sig.tobytes(), ROWS * sig.itemsize  # one copy, then bytes slices
    bands = tuple(zlib.crc32(raw[b * width : (b + 1) * width]) for b in range(BANDS))
    sketch = (sig[:SKETCH_BYTES] & np.uint32(0xFF)).astype(np.uint8).tobytes()
    return bands, sketch


def sketch_similarity(a: bytes, b: bytes) -> float:
    """Jaccard estimate from two sketches, corrected for chance byte matches."""
    share = sum(x == y for x, y in zip(a, b, strict=True)) / len(a)
    return max(0.0, (share - 1 / 256) / (1 - 1 / 256))
