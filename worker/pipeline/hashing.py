"""Vectorised 64-bit hashes of the words of a text, all at once.

A word's hash is a polynomial hash of its UTF-8 bytes computed from prefix
sums over the whole text, so a 4 KB article costs a handful of numpy passes
instead of a Python call per word. Deterministic across processes and
machines (everything is arithmetic mod 2**64).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "PolyHashes",
    "Powers",
    "U64Array",
    "fmix64",
    "hash_words",
    "hash_words_of_texts",
    "poly_hashes",
]

U64Array = npt.NDArray[np.uint64]

SPACE: Final = 0x20
_POLY_Q: Final = 0x100000001B3  # the 64-bit FNV prime: odd, so invertible mod 2**64
_POLY_P: Final = pow(_POLY_Q, -1, 2**64)
_FMIX_C1: Final = np.uint64(0xFF51AFD7ED558CCD)
_FMIX_C2: Final = np.uint64(0xC4CEB9FE1A85EC53)
_SHIFT33: Final = np.uint64(33)


def fmix64(keys: U64Array) -> U64Array:
    """MurmurHash3's 64-bit finaliser (a bijection with good avalanche)."""
    x = keys.copy()
    x ^= x >> _SHIFT33
    x *= _FMIX_C1
    x ^= x >> _SHIFT33
    x *= _FMIX_C2
    x ^= x >> _SHIFT33
    return x


class Powers:
    """Cached powers ``Q**i`` and ``Q**-i`` mod 2**64, grown on demand."""

    q: U64Array = np.zeros(0, dtype=np.uint64)
    p: U64Array = np.zeros(0, dtype=np.uint64)

    @classmethod
    def get(cls, n: int) -> tuple[U64Array, U64Array]:
        if len(cls.q) < n:
            size = max(n, 2 * len(cls.q), 1 << 14)
            q = np.full(size, _POLY_Q, dtype=np.uint64)
            p = np.full(size, _POLY_P, dtype=np.uint64)
            q[0] = p[0] = 1
            cls.q, cls.p = np.cumprod(q, dtype=np.uint64), np.cumprod(p, dtype=np.uint64)
        return cls.q, cls.p


@dataclass(frozen=True, slots=True)
class PolyHashes:
    """Prefix sums of a padded text's polynomial hash: any window's hash in
    O(1), every word's at once. Equal byte strings hash equal wherever they
    are: a window's prefix difference is shifted back to offset 0 by the
    inverse power."""

    prefix: U64Array
    inverse: U64Array
    is_space: npt.NDArray[np.bool_]
    starts: npt.NDArray[np.intp]
    ends: npt.NDArray[np.intp]

    def windows(self, first: npt.NDArray[np.intp], size: int) -> U64Array:
        """Hashes of the ``size``-byte windows starting at ``first``."""
        hashes: U64Array = (self.prefix[first + size] - self.prefix[first]) * self.inverse[first]
        return hashes

    def words(self) -> U64Array:
        """Hash of every space-separated word, in order."""
        hashes: U64Array = (self.prefix[self.ends] - self.prefix[self.starts]) * self.inverse[
            self.starts
        ]
        return hashes


def poly_hashes(padded: bytes) -> PolyHashes:
    """``padded`` must start and end with a space (runs of spaces are fine)."""
    codes = np.frombuffer(padded, dtype=np.uint8)
    n = len(codes)
    pow_q, pow_p = Powers.get(n + 1)
    prefix = np.zeros(n + 1, dtype=np.uint64)
    np.cumsum((codes.astype(np.uint64) + np.uint64(1)) * pow_q[:n], out=prefix[1:])
    is_space = codes == SPACE
    edges = np.flatnonzero(is_space[1:] != is_space[:-1]) + 1  # start, end, start, end...
    return PolyHashes(prefix, pow_p, is_space, edges[0::2], edges[1::2])


def hash_words(padded: bytes) -> U64Array:
    """The hash of every space-separated word of ``padded`` (which must start
    and end with a space), in order."""
    return poly_hashes(padded).words()


def hash_words_of_texts(padded: Sequence[bytes]) -> tuple[U64Array, npt.NDArray[np.intp]]:
    """:func:`hash_words` of several texts at once (each must start and end
    with a space): every word's hash in order, and the index of its text."""
    ends = np.cumsum(np.fromiter(map(len, padded), dtype=np.int64, count=len(padded)))
    poly = poly_hashes(b"".join(padded))
    return poly.words(), np.searchsorted(ends, poly.starts, side="right")
