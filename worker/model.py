"""The worker's topic model: where the shipped artifact is and how to load one.

The artifact is built by the ``training`` package (from a checkout), which the
worker never imports: loading needs only :class:`TopicModel`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from worker.pipeline.classify import TopicModel
from worker.pipeline.errors import ModelError

__all__ = ["DEFAULT_ARTIFACT", "load_model"]

DEFAULT_ARTIFACT: Final = Path(__file__).parent / "models" / "topic-v1.npz"


def load_model(path: Path | None = None) -> TopicModel:
    """Read a model artifact (default: the shipped one); ``ModelError`` naming the
    path when it is missing, unreadable or invalid."""
    path = DEFAULT_ARTIFACT if path is None else path
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
