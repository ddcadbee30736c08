"""Tests of the training package: corpora, views, fitting, calibration, evaluation
helpers and the provenance recorded in the shipped artifact."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from training import (
    CORPORA,
    DEFAULT_VERSION,
    DEFAULT_WORD_VECTORS,
    Item,
    augment,
    load_word_vectors,
    views,
    write_artifact,
)
from worker.model import DEFAULT_ARTIFACT, load_model
from worker.pipeline.classify import DEFAULT_LABELS, featurize

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
CORPORA_DIR = SHARED / "corpora"


def test_importing_training_has_no_side_effects() -> None:
    code = (
        "import csv; limit = csv.field_size_limit(); import training, training.fit, "
        "training.evaluate; assert csv.field_size_limit() == limit; import sys; "
        "assert 'sklearn' not in sys.modules and 'scipy' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_word_vectors_are_a_training_input_only() -> None:
    shipped = load_model()
    assert shipped.embedding is not None  # the artifact carries the rows it uses
    assert DEFAULT_WORD_VECTORS.is_file()
    assert DEFAULT_WORD_VECTORS.parent == ROOT / "training" / "data"
    assert not (DEFAULT_ARTIFACT.parent / DEFAULT_WORD_VECTORS.name).exists()


def test_distilled_word_vectors_are_semantic() -> None:
    table = load_word_vectors(DEFAULT_WORD_VECTORS)
    assert table.dims == 256 and len(table.hashes) > 20_000

    def unit(word: str) -> np.ndarray:
        v = table.pool_text(word)
        assert v.any(), word
        return v / np.linalg.norm(v)

    assert unit("football") @ unit("soccer") > unit("football") @ unit("parliament")
    assert unit("election") @ unit("parliament") > unit("election") @ unit("guitar")
    assert unit("film") @ unit("actress") > unit("film") @ unit("striker")


def test_training_features_match_inference(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    from training.fit import TrainSettings, feature_matrix

    settings = TrainSettings(n_features=2**10)
    table = settings.embedding()
    assert table is not None
    texts = ["Striker scores late winner\nThe club celebrated.", "Minister resigns", ""]
    matrix = feature_matrix(texts, settings).toarray()
    assert matrix.shape == (3, 2**10 + table.dims)
    for row, text in zip(matrix, texts, strict=True):
        indices, values = featurize(text, 2**10)
        hashed = np.zeros(2**10)
        hashed[indices] = values
        np.testing.assert_array_equal(row[: 2**10], hashed)
        np.testing.assert_array_equal(row[2**10 :], table.pool_text(text))


def test_shipped_artifact_metadata() -> None:
    shipped = load_model(DEFAULT_ARTIFACT)
    assert shipped.labels == DEFAULT_LABELS
    assert shipped.weights.dtype == np.float32
    assert DEFAULT_ARTIFACT.stat().st_size < 30 * 1024 * 1024
    assert shipped.embedding is not None
    assert shipped.weights.shape == (shipped.n_features + shipped.embedding.dims, 4)
    meta = shipped.metadata
    assert meta["labels"] == list(DEFAULT_LABELS)
    assert meta["version"] == shipped.version == DEFAULT_VERSION
    data = meta["data"]
    assert len(data["sha256"]) == 64
    assert {c["name"] for c in data["corpora"]} == {c.name for c in CORPORA}
    # Its quality is scored on news it never saw (test_model_quality.py), not
    # read from the figures it reports about itself.
    heldout = meta["heldout"]
    # "other" is the fallback for low confidence, with the threshold chosen on held-out data
    assert shipped.fallback == "other"
    assert 0.0 < shipped.threshold < 1.0
    assert shipped.threshold == heldout["threshold"] == meta["params"]["threshold"]
    assert shipped.temperature == heldout["temperature"]


# -- training -------------------------------------------------------------------


def test_views_cut_titles_and_leads() -> None:
    assert views("one line only") == {}
    assert views("Title\nbody") == {"title": "Title"}
    assert views("Title\n\n first para \n\nsecond para") == {
        "title": "Title",
        "lead": "Title\nfirst para",
    }


def test_augment_adds_views_but_never_held_out_texts() -> None:
    train = [
        Item("Striker signs new deal\nThe club confirmed it.\nMore here.", "sport", "x"),
        Item("Minister resigns over row\nHe quit on Monday.", "geopolitics", "x"),
    ]
    held_out = [Item("minister resigns over row", "geopolitics", "y")]
    extra = augment(train, held_out)
    texts = {i.text: i for i in extra}
    assert set(texts) == {
        "Striker signs new deal",
        "Striker signs new deal\nThe club confirmed it.",
    }
    assert all(i.label == "sport" and i.corpus.startswith("x:") for i in extra)


def test_calibration_helpers() -> None:
    pytest.importorskip("sklearn")
    from training.evaluate import expected_calibration_error
    from training.fit import choose_threshold
    from worker.pipeline.classify import decide, softmax

    probs = np.array([[0.9, 0.05, 0.05], [0.4, 0.35, 0.25], [0.2, 0.7, 0.1], [0.5, 0.1, 0.4]])
    y = np.array([0, 2, 1, 2])
    assert decide(probs, None, 0.9).tolist() == [0, 0, 1, 0]
    assert decide(probs, 2, 0.55).tolist() == [0, 2, 1, 2]
    threshold = choose_threshold(probs, y, 2)
    assert 0.5 < threshold <= 0.7  # sends the two unsure rows to label 2, keeps the others
    assert choose_threshold(probs, y, None) == 0.0
    sure = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert expected_calibration_error(sure, np.array([0, 1])) == pytest.approx(0.0)
    assert expected_calibration_error(sure, np.array([1, 0])) == pytest.approx(1.0)
    logits = np.array([[2.0, 0.0], [0.0, 2.0]])
    assert softmax(logits, 2.0)[0, 0] == pytest.approx(1 / (1 + np.exp(-1.0)))


_VOCAB = {
    "cats": "meow whiskers purr litter kitten tabby claws catnip",
    "dogs": "bark leash puppy fetch kennel bone retriever walkies",
    "birds": "feather beak nest wings chirp flock seed migrate",
}
_SHARED_WORDS = ["the", "a", "today", "local", "owner", "said", "very", "happy", "new", "pet"]


def _synthetic_jsonl(path: Path, per_label: int = 40) -> None:
    rng = random.Random(7)
    lines = []
    for label, words in _VOCAB.items():
        vocab = words.split()
        for _ in range(per_label):
            tokens = rng.choices(vocab, k=4) + rng.choices(_SHARED_WORDS, k=6)
            rng.shuffle(tokens)
            lines.append(json.dumps({"text": " ".join(tokens), "label": label}))
    lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")


def test_train_jsonl_is_deterministic_and_uses_user_labels(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    from training import train_jsonl

    data = tmp_path / "pets.jsonl"
    _synthetic_jsonl(data)
    first, report = train_jsonl(data, n_features=2**12, heldout_fraction=0.25)
    second, _ = train_jsonl(data, n_features=2**12, heldout_fraction=0.25)
    assert first.to_bytes() == second.to_bytes()

    assert first.labels == ("birds", "cats", "dogs")
    assert first.version.startswith("custom-hash-minilm-v3-")
    assert first.embedding is not None
    assert report["heldout"]["accuracy"] > 0.9
    assert report["data"]["counts_per_label"] == {"birds": 40, "cats": 40, "dogs": 40}
    result = first.predict("my new kitten likes to purr and play with catnip")
    assert result.topic == "cats"
    assert set(result.scores) == {"birds", "cats", "dogs"}

    path = tmp_path / "models" / "pets.npz"
    write_artifact(first, path)
    write_artifact(second, tmp_path / "again.npz")
    assert path.read_bytes() == (tmp_path / "again.npz").read_bytes()
    assert load_model(path).predict("bark fetch bone").topic == "dogs"


def test_train_jsonl_rejects_bad_lines(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    from training import train_jsonl

    data = tmp_path / "bad.jsonl"
    data.write_text('{"text": "ok", "label": "a"}\n{"text": "", "label": "b"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2"):
        train_jsonl(data)


@pytest.mark.skipif(not CORPORA_DIR.is_dir(), reason=f"corpora folder not found at {CORPORA_DIR}")
def test_corpus_loaders_apply_the_mappings() -> None:
    from collections import Counter

    from training import CORPORA, deduplicate, load_corpora

    items = load_corpora(CORPORA_DIR)
    kept, _ = deduplicate(items)
    by_corpus = Counter(item.corpus for item in kept)
    assert set(by_corpus) == {c.name for c in CORPORA}
    labels = Counter(item.label for item in kept)
    assert set(labels) == set(DEFAULT_LABELS)
    assert 49_000 < len(kept) < 51_000
    bbc = Counter(item.label for item in kept if item.corpus == "bbc-news")
    assert set(bbc) == set(DEFAULT_LABELS)
    ag = Counter(item.label for item in kept if item.corpus == "ag-news-test")
    assert "entertainment" not in ag
    ag_texts = [item.text for item in kept if item.corpus == "ag-news-test"]
    assert not any("\\" in text or "#39;" in text for text in ag_texts)
