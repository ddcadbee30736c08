"""Deterministic .npz archives: like ``np.savez_compressed``, but with fixed
zip timestamps and sorted members, so the bytes depend on the arrays only
(the shipped artifacts are rebuilt byte for byte). No pickle. Imports numpy
only, so the distillation script can use it outside the project's venv."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

__all__ = ["npz_bytes"]


def npz_bytes(arrays: Mapping[str, npt.ArrayLike]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(arrays[name]), allow_pickle=False)
            archive.writestr(info, member.getvalue(), compresslevel=6)
    return buffer.getvalue()
