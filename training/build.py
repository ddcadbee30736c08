"""Build the topic model artifact: evaluate on held-out splits, refit on all
items, and write the ``.npz`` (see the package docstring for the procedure).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from training.corpora import CORPORA, Item, dataset_sha256, deduplicate, load_corpora, load_jsonl
from training.evaluate import evaluate_heldout
from training.fit import TrainSettings, fit_items
from worker.pipeline.classify import DEFAULT_LABELS, TopicModel

__all__ = ["DEFAULT_VERSION", "train", "train_items", "train_jsonl", "write_artifact"]

DEFAULT_VERSION: Final = "topic-hash-minilm-v3"


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
    labelling: dict[str, Any] | None = None,
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
    fitted = fit_items(kept, [], label_order, settings)
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
        **({"labelling": labelling} if labelling else {}),
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
    guide: bool = False,
) -> tuple[TopicModel, dict[str, Any]]:
    """Train the default 4-topic model on the corpora in ``corpora_dir`` (default: all);
    with ``guide``, on the labelling guide's labels (:mod:`training.guide`)."""
    from training.guide import GUIDE_VERSION, relabel

    items = load_corpora(corpora_dir, corpora)
    labelling = None
    if guide:
        items, moved = relabel(items)
        labelling = {"rules": GUIDE_VERSION, "moved": moved}
    return train_items(
        items,
        labels=DEFAULT_LABELS,
        seed=seed,
        n_features=n_features,
        heldout_fraction=heldout_fraction,
        version=version,
        corpus_terms={c.name: c.terms for c in CORPORA},
        settings=settings,
        labelling=labelling,
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
