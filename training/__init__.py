"""Train and evaluate the topic model from labelled corpora (run from a checkout).

Not part of the runtime: the worker only loads the artifact this package writes
(:mod:`worker.model`), and never imports it. It reads the model's own feature,
softmax and decision functions from :mod:`worker.pipeline.classify`, so training
and inference compute the same features. scikit-learn (the ``train`` extra) is
imported inside the functions that fit.

- :mod:`training.corpora`: corpus loaders, JSON lines, de-duplication, the data
  set hash, title / lead views;
- :mod:`training.fit`: settings, the feature matrix, fitting and calibration;
- :mod:`training.evaluate`: metrics, held-out and leave-one-corpus-out protocols;
- :mod:`training.build`: :func:`train` / :func:`train_jsonl` and the artifact file.

Procedure of :func:`train` (and :func:`train_jsonl`, same code path):

1. load the items ``(text, label, corpus)`` in a fixed order (sorted files);
2. de-duplicate on normalised text (lower-cased word tokens); a text seen with
   two different labels is dropped as ambiguous. Everything below splits the
   de-duplicated items, so no text is on both sides of a split;
3. split them stratified into train / calibration / test (``heldout_fraction``
   each, ``seed``); fit on train plus *views* of its items (title only, title +
   first paragraph, see :func:`augment`) so that short inputs are seen in
   training; on the calibration items and their views choose the softmax
   temperature (least log-loss) and the "other" fallback threshold (best
   macro-F1); score the test items (accuracy, macro-F1, per-label P/R/F1,
   confusion, ECE, per corpus, by length);
   Features are the hashed word n-grams and, by default, the pooled static word
   vectors of ``training/data/minilm-static.npz`` (distilled from
   all-MiniLM-L6-v2 by ``bench/distill.py``; training only reads that file, it
   needs no torch; the artifact carries the rows the model uses);
4. refit the weights with the same settings on *all* items (+ views) and ship
   them with the temperature and threshold from step 3 (the held-out figures
   describe this procedure; the shipped weights have also seen those items).

Everything is deterministic: same data and settings, byte-identical artifact.
"""

from __future__ import annotations

from training.build import DEFAULT_VERSION, train, train_items, train_jsonl, write_artifact
from training.corpora import (
    CORPORA,
    Corpus,
    Item,
    augment,
    corpus_names,
    dataset_sha256,
    deduplicate,
    load_corpora,
    load_jsonl,
    views,
)
from training.evaluate import (
    AFTER_2018,
    BEFORE_2015,
    evaluate_heldout,
    evaluate_loco,
    evaluate_out_of_time,
    heldout_report,
    loco_summary,
    metrics,
)
from training.fit import DEFAULT_WORD_VECTORS, TrainSettings, load_word_vectors

__all__ = [
    "AFTER_2018",
    "BEFORE_2015",
    "CORPORA",
    "DEFAULT_VERSION",
    "DEFAULT_WORD_VECTORS",
    "Corpus",
    "Item",
    "TrainSettings",
    "augment",
    "corpus_names",
    "dataset_sha256",
    "deduplicate",
    "evaluate_heldout",
    "evaluate_loco",
    "evaluate_out_of_time",
    "heldout_report",
    "load_corpora",
    "load_jsonl",
    "load_word_vectors",
    "loco_summary",
    "metrics",
    "train",
    "train_items",
    "train_jsonl",
    "views",
    "write_artifact",
]
