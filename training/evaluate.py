"""Score the topic model: metrics, calibration error, the held-out and the
leave-one-corpus-out protocols, and the slices by length.

Both protocols fit with :mod:`training.fit` on de-duplicated items (no text on
both sides of a split) and score items the fit has not seen. ``bench/classify.py``
prints their figures; ``newswire eval`` prints them as JSON.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from training.corpora import Item, corpus_names, deduplicate, load_corpora, views
from training.fit import Calibrated, TrainSettings, calibrate, fit_items, label_ids
from worker.pipeline.classify import DEFAULT_LABELS

__all__ = [
    "AFTER_2018",
    "BEFORE_2015",
    "evaluate_heldout",
    "evaluate_loco",
    "evaluate_out_of_time",
    "expected_calibration_error",
    "heldout_report",
    "length_slices",
    "loco_summary",
    "metrics",
    "score",
    "stratified_split",
    "title_slice",
]


# The out-of-time protocol: the corpora dated before 2015 (BBC 2004-05, AG News
# 2004-05, TagMyNews 2011, UCI 2014) train; those of 2018-2021 (MachineHack
# 2018-19, Inshorts 2020-21) are scored. sib200 (undated sentences) sits out.
BEFORE_2015: Final = ("bbc-news", "ag-news-test", "tagmynews-2011", "uci-news-aggregator")
AFTER_2018: Final = ("machinehack-news", "inshorts-2020")


def expected_calibration_error(
    probs: npt.NDArray[np.float64], y: npt.NDArray[np.int64], bins: int = 15
) -> float:
    """ECE of the top-label probability over ``bins`` equal-width bins."""
    conf = probs.max(axis=1)
    correct = (np.argmax(probs, axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += float(mask.mean()) * abs(float(conf[mask].mean() - correct[mask].mean()))
    return total


def metrics(
    y_true: npt.NDArray[np.int64],
    y_pred: npt.NDArray[np.int64],
    probs: npt.NDArray[np.float64] | None,
    labels: Sequence[str],
) -> dict[str, Any]:
    """Accuracy, macro-F1 (over the labels present in ``y_true``), per-label P/R/F1,
    the confusion matrix and, given the probabilities, the calibration error."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    ids = list(range(len(labels)))
    present = sorted(set(y_true.tolist()))
    p, r, f, support = precision_recall_fscore_support(
        y_true, y_pred, labels=ids, average=None, zero_division=0
    )
    macro = float(np.mean([f[i] for i in present])) if present else 0.0
    result: dict[str, Any] = {
        "n": len(y_true),
        "accuracy": round(float(np.mean(y_true == y_pred)) if len(y_true) else 0.0, 4),
        "macro_f1": round(macro, 4),
        "per_label": {
            label: {
                "precision": round(float(p[i]), 4),
                "recall": round(float(r[i]), 4),
                "f1": round(float(f[i]), 4),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        "confusion": {
            "rows_true_cols_pred": list(labels),
            "matrix": confusion_matrix(y_true, y_pred, labels=ids).tolist(),
        },
    }
    if probs is not None:
        result["ece"] = round(expected_calibration_error(probs, y_true), 4)
    return result


def stratified_split(
    y: npt.NDArray[np.int64], fraction: float, seed: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | str:
    """Stratified (rest, split-off) indices, or the reason no split is possible."""
    if fraction <= 0.0:
        return "heldout_fraction is 0"
    from sklearn.model_selection import train_test_split

    n_labels = len(np.unique(y))
    n_out = math.ceil(fraction * len(y))
    if int(np.bincount(y)[np.unique(y)].min()) < 3:
        return "a label has fewer than 3 items"
    if n_out < n_labels or len(y) - n_out < n_labels:
        return "too few items for a stratified split"
    rest, out = train_test_split(np.arange(len(y)), test_size=n_out, random_state=seed, stratify=y)
    return np.sort(rest), np.sort(out)


def score(
    model: Calibrated, items: Sequence[Item], labels: Sequence[str], settings: TrainSettings
) -> dict[str, Any]:
    """Metrics of ``model`` on ``items`` (empty dict when there are none)."""
    if not items:
        return {"n": 0}
    probs = model.probabilities([i.text for i in items], settings)
    pred = model.decide(probs)
    result = metrics(label_ids(items, labels), pred, probs, labels)
    result["fallback_rate"] = round(
        float(np.mean(pred != np.argmax(probs, axis=1))) if len(pred) else 0.0, 4
    )
    return result


def length_slices(items: Sequence[Item]) -> dict[str, list[Item]]:
    """Items with a title and a body, cut three ways: title only, title + lead, full."""
    slices: dict[str, list[Item]] = {"title": [], "title+lead": [], "full": []}
    for item in items:
        cut = views(item.text)
        if "lead" in cut:
            slices["title"].append(Item(cut["title"], item.label, item.corpus))
            slices["title+lead"].append(Item(cut["lead"], item.label, item.corpus))
            slices["full"].append(item)
    return slices


def title_slice(items: Sequence[Item]) -> list[Item]:
    """The title of every item that has a title and a body."""
    return [
        Item(cut["title"], item.label, item.corpus)
        for item in items
        if "title" in (cut := views(item.text))
    ]


def evaluate_heldout(
    kept: Sequence[Item],
    labels: Sequence[str],
    *,
    seed: int = 13,
    heldout_fraction: float = 0.1,
    settings: TrainSettings | None = None,
) -> tuple[dict[str, Any], Calibrated | None]:
    """Stratified split of de-duplicated items: train / calibration / test.

    Fit on train (+ views), choose temperature and fallback threshold on the
    calibration items (+ their views), and score the test items as they are,
    per corpus, and cut by length. Returns the report and the calibration.
    """
    settings = settings or TrainSettings()
    y = label_ids(kept, labels)
    first = stratified_split(y, heldout_fraction, seed)
    if isinstance(first, str):
        return {"skipped": first}, None
    rest, test_idx = first
    second = stratified_split(y[rest], heldout_fraction / (1.0 - heldout_fraction), seed + 1)
    if isinstance(second, str):
        return {"skipped": second}, None
    train_idx, calib_idx = rest[second[0]], rest[second[1]]
    train = [kept[i] for i in train_idx]
    calib = [kept[i] for i in calib_idx]
    test = [kept[i] for i in test_idx]
    fitted = fit_items(train, [*calib, *test], labels, settings)
    model = calibrate(fitted, calib, labels, settings)
    report = score(model, test, labels, settings)
    report["n_train"] = len(train)
    report["n_calibration"] = len(calib)
    report["temperature"] = model.temperature
    report["threshold"] = model.threshold
    per_corpus: dict[str, float] = {}
    for name in sorted({i.corpus for i in test}):
        subset = [i for i in test if i.corpus == name]
        per_corpus[name] = score(model, subset, labels, settings)["macro_f1"]
    report["macro_f1_per_corpus"] = per_corpus
    report["length_slices"] = {
        name: _brief(score(model, subset, labels, settings))
        for name, subset in length_slices(test).items()
    }
    report["title_only"] = _brief(score(model, title_slice(test), labels, settings))
    return report, model


def _brief(result: dict[str, Any]) -> dict[str, Any]:
    keys = ("n", "accuracy", "macro_f1", "ece", "fallback_rate")
    return {k: result[k] for k in keys if k in result}


def evaluate_loco(
    corpora_dir: Path,
    *,
    n_features: int = 2**18,
    corpora: Sequence[str] | None = None,
    seed: int = 13,
    settings: TrainSettings | None = None,
    only: Sequence[str] | None = None,
    guide: bool = False,
) -> dict[str, dict[str, Any]]:
    """Leave one corpus out: for each corpus, fit on the others and score it.

    Temperature and threshold come from a 10% calibration split of the training
    corpora. The left-out corpus is scored on the labels it has (macro-F1 over
    those), as it is and on its titles where it has titles. Slow: one fit per
    corpus. ``only`` restricts which corpora are left out in turn.

    With ``guide``, every item carries the labelling guide's label
    (:func:`training.guide.relabel`) in training and in scoring; either way
    the left-out corpus is also scored on the other labels (``other_labels``:
    the corpus's own with ``guide``, the guide's without).
    """
    from training.guide import relabel

    settings = settings or TrainSettings(n_features=n_features)
    left_out = set(corpus_names(only)) if only is not None else None
    own, _ = deduplicate(load_corpora(corpora_dir, corpora))
    guided, _ = relabel(own)
    kept, other = (guided, own) if guide else (own, guided)
    labels = DEFAULT_LABELS
    results: dict[str, dict[str, Any]] = {}
    for name in sorted({i.corpus for i in kept}):
        if left_out is not None and name not in left_out:
            continue
        pool = [i for i in kept if i.corpus != name]
        test = [i for i in kept if i.corpus == name]
        model, result = _fit_and_score(pool, test, labels, settings, seed)
        titles = title_slice(test)
        if titles:
            result["title_only"] = _brief(score(model, titles, labels, settings))
        other_test = [i for i in other if i.corpus == name]
        result["other_labels"] = _brief(score(model, other_test, labels, settings))
        if other_titles := title_slice(other_test):
            result["other_labels"]["title_only"] = _brief(
                score(model, other_titles, labels, settings)
            )
        results[name] = result
    return results


def _fit_and_score(
    pool: list[Item], test: list[Item], labels: Sequence[str], settings: TrainSettings, seed: int
) -> tuple[Calibrated, dict[str, Any]]:
    """Fit on ``pool`` less a 10% calibration split (temperature and
    threshold), score ``test``: the model and its scores, with ``n_train``."""
    split = stratified_split(label_ids(pool, labels), 0.1, seed)
    assert not isinstance(split, str)
    train = [pool[i] for i in split[0]]
    calib = [pool[i] for i in split[1]]
    fitted = fit_items(train, [*calib, *test], labels, settings)
    model = calibrate(fitted, calib, labels, settings)
    result = score(model, test, labels, settings)
    result["n_train"] = len(train)
    return model, result


def loco_summary(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The figures the targets name: the mean macro-F1 over the left-out
    corpora, the lowest but sib200's, the mean on titles alone, the largest ECE."""
    if not results:
        return {}
    f1 = {name: r["macro_f1"] for name, r in results.items()}
    titles = [r["title_only"]["macro_f1"] for r in results.values() if "title_only" in r]
    others = {n: v for n, v in f1.items() if n != "sib200-eng"}
    return {
        "mean_macro_f1": round(float(np.mean(list(f1.values()))), 4),
        "lowest_but_sib200": min(others.items(), key=lambda kv: kv[1]) if others else None,
        "title_only_mean_macro_f1": round(float(np.mean(titles)), 4) if titles else None,
        "max_ece": max((r["ece"] for r in results.values() if "ece" in r), default=None),
    }


def evaluate_out_of_time(
    corpora_dir: Path,
    *,
    seed: int = 13,
    settings: TrainSettings | None = None,
    train_corpora: Sequence[str] = BEFORE_2015,
    test_corpora: Sequence[str] = AFTER_2018,
    guide: bool = False,
) -> dict[str, Any]:
    """Fit on the older corpora, score the newer ones: all together and each
    alone, as they are and on their titles alone (where items have titles).

    Temperature and threshold come from a 10% calibration split of the
    training corpora, as in :func:`evaluate_loco`; ``guide`` as there (the
    other labels are not scored here).
    """
    from training.guide import relabel

    settings = settings or TrainSettings()
    kept, _ = deduplicate(load_corpora(corpora_dir, [*train_corpora, *test_corpora]))
    if guide:
        kept, _ = relabel(kept)
    labels = DEFAULT_LABELS
    pool = [i for i in kept if i.corpus in train_corpora]
    test = [i for i in kept if i.corpus in test_corpora]
    model, result = _fit_and_score(pool, test, labels, settings, seed)
    result["train_corpora"] = list(train_corpora)
    titles = title_slice(test)
    if titles:
        result["title_only"] = _brief(score(model, titles, labels, settings))
    result["per_corpus"] = {}
    for name in test_corpora:
        subset = [i for i in test if i.corpus == name]
        entry = _brief(score(model, subset, labels, settings))
        if titles := title_slice(subset):
            entry["title_only"] = _brief(score(model, titles, labels, settings))
        result["per_corpus"][name] = entry
    return result


def heldout_report(
    corpora_dir: Path, *, seed: int = 13, settings: TrainSettings | None = None
) -> dict[str, Any]:
    """:func:`evaluate_heldout` of every corpus in ``corpora_dir``, de-duplicated, with
    the de-duplication counts under ``"dedup"``."""
    kept, stats = deduplicate(load_corpora(corpora_dir))
    report, _ = evaluate_heldout(kept, DEFAULT_LABELS, seed=seed, settings=settings)
    return {"dedup": stats, **report}
