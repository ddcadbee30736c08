"""Experiment: hashed n-grams vs distilled MiniLM word vectors vs both, same protocols.

Runs ``evaluate_heldout`` and ``evaluate_loco`` of :mod:`training` (same
de-duplication, splits, views, calibration and scoring) with the feature matrix
of :mod:`training.fit` swapped per variant:

- ``hash``: the shipped featurizer (hashed word uni/bigrams, idf, L2);
- ``emb``: only the SIF-weighted mean of the distilled word vectors
  (``training/data/minilm-static.npz``), L2-normalised, times ``--alpha``;
- ``concat``: both blocks side by side in one logistic regression.

The shipped model is ``concat`` built into :mod:`training.fit` (there the
lookup goes by word hash, here by a dict of words: the same words, the same
figures up to float rounding); this script also tries the variants that were not
kept (``emb`` alone, ``--norm mean``, other scales and dimensions).

    .venv/bin/python bench/embed_compare.py --variant concat --alpha 1 --json out.json

Figures of 2026-11-27 (seed 13; held-out macro-F1, title-only macro-F1, ECE |
leave-one-corpus-out macro-F1 per corpus and mean). Differences of about 0.003
held out (0.02 on sib200, 1,305 items) come and go with float rounding in the fit:

  variant                     held  title ECE  |ag    bbc   insh  mh    sib   tmn   uci  |mean
  hash (bench/classify.py)    0.912 0.856 0.012|0.895 0.912 0.829 0.913 0.638 0.835 0.799|0.832
  emb, C=10                   0.855 0.779 0.019|0.896 0.897 0.804 0.907 0.648 0.848 0.787|0.827
  emb, C=100                  0.855 0.779 0.020|0.896 0.897 0.804 0.906 0.625 0.847 0.786|0.823
  concat, alpha 0.5           0.912 0.855 0.016|0.913 0.923 0.844 0.928 0.673 0.873 0.831|0.855
  concat, alpha 1             0.911 0.852 0.019|0.913 0.922 0.845 0.929 0.665 0.871 0.832|0.854
  concat, alpha 2             0.912 0.851 0.019|0.913 0.923 0.846 0.928 0.684 0.870 0.831|0.856
  concat, alpha 2, 128 dims   0.912 0.847 0.016|0.913 0.922 0.849 0.924 0.665 0.870 0.831|0.853
  concat, alpha 1, norm mean  0.912 0.853 0.016|0.907 0.912 0.839 0.922 0.669 0.861 0.828|0.848
  shipped (training.fit)      0.909 0.851 0.018|0.912 0.921 0.846 0.928 0.664 0.871 0.831|0.853
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import training
from training import fit
from worker.pipeline.classify import DEFAULT_LABELS, tokenize

ROOT = Path(__file__).resolve().parents[1]
CORPORA_DIR = ROOT.parent / "shared" / "corpora"
TABLE = fit.DEFAULT_WORD_VECTORS
HASH = 2**18


class Emb:
    vectors: np.ndarray = np.zeros((0, 0))
    index: ClassVar[dict[str, int]] = {}
    alpha = 1.0
    dims = 256
    norm = "l2"
    sif = True
    variant = "concat"


def load_table(path: Path, dims: int) -> None:
    with np.load(path, allow_pickle=False) as npz:
        words = npz["words"].tobytes().decode("utf-8").split("\n")
        vectors = npz["vectors"].astype(np.float32)[:, :dims]
        sif = npz["sif"].astype(np.float32)
    if Emb.sif:
        vectors = vectors * sif[:, None]
    Emb.vectors = vectors
    Emb.index = {w: i for i, w in enumerate(words)}
    Emb.dims = vectors.shape[1]


def embed(texts: list[str]) -> np.ndarray:
    out = np.zeros((len(texts), Emb.dims), dtype=np.float64)
    index, vectors = Emb.index, Emb.vectors
    for row, text in enumerate(texts):
        ids = [i for i in (index.get(t) for t in tokenize(text)) if i is not None]
        if not ids:
            continue
        v = vectors[ids].sum(axis=0, dtype=np.float64)
        if Emb.norm == "l2":
            n = np.sqrt(v @ v)
            if n > 0:
                v /= n
        else:
            v /= len(ids)
        out[row] = v
    return out


_orig_tf = fit.feature_matrix
_orig_idf = fit._idf


def tf_matrix(texts: Any, settings: fit.TrainSettings) -> Any:
    sp = fit._import("scipy.sparse")

    texts = list(texts)
    hashed_settings = dataclasses.replace(settings, n_features=HASH, word_vectors=None)
    if Emb.variant == "emb":
        hashed = sp.csr_matrix((len(texts), HASH))
    else:
        hashed = _orig_tf(texts, hashed_settings)
    dense = embed(texts)
    return sp.hstack([hashed, sp.csr_matrix(dense)], format="csr")


def idf(tf: Any, n_features: int) -> Any:
    result = _orig_idf(tf, n_features)
    result[HASH:] = 1.0
    return result


def weighted(tf: Any, idf_: Any | None) -> Any:
    sp = fit._import("scipy.sparse")
    from sklearn.preprocessing import normalize

    hashed = tf[:, :HASH]
    if idf_ is not None:
        hashed = normalize((hashed @ sp.diags(idf_[:HASH].astype(np.float64))).tocsr(), norm="l2")
    return sp.hstack([hashed, tf[:, HASH:] * Emb.alpha], format="csr")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variant", choices=["hash", "emb", "concat"], default="concat")
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--dims", type=int, default=256)
    parser.add_argument("--norm", choices=["l2", "mean"], default="l2")
    parser.add_argument("--no-sif", action="store_true")
    parser.add_argument("--c", type=float, default=fit.C)
    parser.add_argument("--table", type=Path, default=TABLE)
    parser.add_argument("--protocols", default="heldout,loco")
    parser.add_argument("--corpus", action="append")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    Emb.variant, Emb.alpha, Emb.norm, Emb.sif = args.variant, args.alpha, args.norm, not args.no_sif
    if args.variant == "hash":
        settings = fit.TrainSettings(c=args.c, word_vectors=None)
    else:
        load_table(args.table, args.dims)
        fit.feature_matrix = tf_matrix
        fit._idf = idf
        fit._weighted = weighted  # type: ignore[assignment]
        settings = fit.TrainSettings(n_features=HASH + Emb.dims, c=args.c)
    figures: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}}
    protocols = args.protocols.split(",")
    if "heldout" in protocols:
        started = time.perf_counter()
        kept, _ = training.deduplicate(training.load_corpora(CORPORA_DIR))
        report, _ = training.evaluate_heldout(kept, DEFAULT_LABELS, settings=settings)
        brief = {
            "macro_f1": report["macro_f1"],
            "accuracy": report["accuracy"],
            "ece": report["ece"],
            "title_only": report["title_only"]["macro_f1"],
            "title_only_ece": report["title_only"].get("ece"),
            "per_corpus": report["macro_f1_per_corpus"],
            "temperature": report["temperature"],
            "threshold": report["threshold"],
            "seconds": round(time.perf_counter() - started),
        }
        print("heldout", json.dumps(brief), flush=True)
        figures["heldout"] = brief
    if "loco" in protocols:
        started = time.perf_counter()
        results = training.evaluate_loco(CORPORA_DIR, settings=settings, only=args.corpus)
        loco = {name: r["macro_f1"] for name, r in results.items()}
        loco_ece = {name: r["ece"] for name, r in results.items()}
        mean = sum(loco.values()) / len(loco)
        print("loco", json.dumps(loco), f"mean {mean:.4f}", flush=True)
        figures["loco"] = loco
        figures["loco_ece"] = loco_ece
        figures["loco_mean"] = round(mean, 4)
        figures["loco_seconds"] = round(time.perf_counter() - started)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
