"""Tests of the topic classifier, its artifact format and its training adapter."""

from __future__ import annotations

import io
import json
import random
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.pipeline.classify import (
    ARTIFACT_FORMAT,
    DEFAULT_LABELS,
    TopicModel,
    featurize,
    tokenize,
)
from worker.pipeline.errors import ModelError
from worker.training import DEFAULT_ARTIFACT, load_artifact, write_artifact

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CORPORA_DIR = SHARED / "corpora"
SAMPLE = SHARED / "samples" / "business-insider-kim-jong-un.txt"

needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"shared corpora/samples folder not found at {SHARED}"
)


def _random_model(n_features: int = 64, labels: tuple[str, ...] = ("a", "b", "c")) -> TopicModel:
    rng = np.random.default_rng(0)
    return TopicModel(
        labels=labels,
        weights=rng.normal(size=(n_features, len(labels))).astype(np.float32),
        bias=rng.normal(size=len(labels)).astype(np.float32),
        n_features=n_features,
        version="test-v1",
        metadata={"note": "synthetic", "nested": {"x": [1, 2.5, "é"]}},
        idf=rng.uniform(1.0, 3.0, size=n_features).astype(np.float32),
    )


def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def _with_header(model: TopicModel, **changes: object) -> bytes:
    header = {**model.header(), **changes}
    meta = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    arrays: dict[str, np.ndarray] = {"weights": model.weights, "bias": model.bias, "meta": meta}
    if model.idf is not None:
        arrays["idf"] = model.idf
    return _npz(arrays)


# -- features ------------------------------------------------------------------


def test_tokenize_lowercases_words() -> None:
    assert tokenize("Kim Jong-Un's 2024 visit!") == ["kim", "jong", "un", "s", "2024", "visit"]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_tokenize_matches_the_word_regex(text: str) -> None:
    assert tokenize(text) == re.findall(r"\w+", text.lower())


def test_featurize_is_sorted_normalised_and_pinned() -> None:
    indices, values = featurize("Hello world, hello again", 2**18)
    assert indices.dtype == np.int64
    assert values.dtype == np.float32
    assert list(indices) == sorted(set(indices.tolist()))
    assert np.linalg.norm(values) == pytest.approx(1.0, abs=1e-6)
    # 3 distinct unigrams + 3 bigrams; "hello" counts twice.
    assert len(indices) == 6
    # Pinned: a change here silently invalidates every shipped artifact.
    assert indices.tolist() == [22132, 42222, 159911, 161817, 190602, 222816]


def test_featurize_empty_text() -> None:
    indices, values = featurize("  ...  ", 1024)
    assert indices.size == 0
    assert values.size == 0


def test_featurize_with_idf_stays_normalised() -> None:
    idf = np.linspace(1.0, 5.0, 1024, dtype=np.float32)
    _, values = featurize("the cat sat on the mat", 1024, idf)
    assert np.linalg.norm(values) == pytest.approx(1.0, abs=1e-6)


# -- model and artifact -------------------------------------------------------


def test_round_trip_bytes() -> None:
    model = _random_model()
    data = model.to_bytes()
    assert data == model.to_bytes()  # no timestamps inside
    loaded = TopicModel.from_bytes(data)
    assert loaded.labels == model.labels
    assert loaded.version == model.version
    assert loaded.n_features == model.n_features
    assert loaded.metadata == model.metadata
    np.testing.assert_array_equal(loaded.weights, model.weights)
    np.testing.assert_array_equal(loaded.bias, model.bias)
    assert loaded.idf is not None
    assert model.idf is not None
    np.testing.assert_array_equal(loaded.idf, model.idf)
    text = "some words to classify\nand a body"
    assert loaded.predict(text) == model.predict(text)
    assert loaded.to_bytes() == data


def test_round_trip_without_idf() -> None:
    base = _random_model()
    model = TopicModel(base.labels, base.weights, base.bias, base.n_features, "v", {}, None)
    loaded = TopicModel.from_bytes(model.to_bytes())
    assert loaded.idf is None
    assert loaded.predict("x y z") == model.predict("x y z")


def test_predict_shape() -> None:
    model = _random_model()
    result = model.predict("title\nbody text here")
    assert set(result.scores) == set(model.labels)
    assert sum(result.scores.values()) == pytest.approx(1.0, abs=1e-3)
    assert result.topic == max(result.scores, key=lambda k: result.scores[k])
    assert result.confidence == pytest.approx(result.scores[result.topic], abs=1e-4)
    assert result.model_version == "test-v1"
    assert model.predict_many(["a", "title\nbody text here"])[1] == result


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"definitely not a model",
        bytes(range(256)) * 4,
        b"PK\x03\x04garbage",
    ],
)
def test_from_bytes_garbage(data: bytes) -> None:
    with pytest.raises(ModelError, match="invalid topic model artifact"):
        TopicModel.from_bytes(data)


def test_from_bytes_other_npz_and_npy() -> None:
    with pytest.raises(ModelError, match="missing arrays"):
        TopicModel.from_bytes(_npz({"x": np.zeros(3)}))
    single = io.BytesIO()
    np.save(single, np.zeros(3))
    with pytest.raises(ModelError, match=r"not an \.npz archive"):
        TopicModel.from_bytes(single.getvalue())
    empty_zip = io.BytesIO()
    with zipfile.ZipFile(empty_zip, "w"):
        pass
    with pytest.raises(ModelError):
        TopicModel.from_bytes(empty_zip.getvalue())


def test_from_bytes_rejects_pickled_arrays() -> None:
    arrays = {"weights": np.array([{"a": 1}], dtype=object), "bias": np.zeros(2), "meta": b""}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    with pytest.raises(ModelError):
        TopicModel.from_bytes(buffer.getvalue())


def test_from_bytes_unsupported_format() -> None:
    model = _random_model()
    with pytest.raises(ModelError, match=r"unsupported topic model artifact format 2"):
        TopicModel.from_bytes(_with_header(model, format=ARTIFACT_FORMAT + 1))
    with pytest.raises(ModelError, match="unsupported featurizer"):
        TopicModel.from_bytes(_with_header(model, featurizer="something-else"))


def test_from_bytes_inconsistent_shapes() -> None:
    model = _random_model()
    with pytest.raises(ModelError, match="weights have shape"):
        TopicModel.from_bytes(_with_header(model, n_features=32))
    with pytest.raises(ModelError, match="labels"):
        TopicModel.from_bytes(_with_header(model, labels="abc"))


def test_load_artifact_missing(tmp_path: Path) -> None:
    missing = tmp_path / "nope.npz"
    with pytest.raises(ModelError, match=r"nope\.npz"):
        load_artifact(missing)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"junk")
    with pytest.raises(ModelError, match=r"bad\.npz"):
        load_artifact(bad)


# -- the shipped artifact --------------------------------------------------------

SPORT = """Arsenal beat Chelsea 2-1 in thrilling London derby
Bukayo Saka scored a late winner as Arsenal came from behind to beat Chelsea 2-1 at the \
Emirates Stadium on Sunday. Cole Palmer had given the visitors the lead in the first half \
before Martin Odegaard equalised with a curling shot after the break. The result moves \
Mikel Arteta's side three points clear at the top of the Premier League table, while \
Chelsea's manager said his players had deserved at least a draw."""

ENTERTAINMENT = """Review: a dazzling premiere for the new Spielberg drama
The film premiered at the Venice Film Festival on Friday night, where the cast walked the \
red carpet before a seven-minute standing ovation. The director's latest drama stars Tom \
Hanks as an ageing stage actor and features a haunting score. Critics praised the \
performances, and the studio plans a wide release in cinemas next month ahead of the \
awards season."""

OTHER = """Acme Corp quarterly profit beats forecasts as cloud sales grow
Acme Corp reported third-quarter revenue of $4.2 billion, up 8% from a year earlier, and \
earnings per share of $1.35, ahead of analyst estimates. The company raised its full-year \
guidance, citing strong demand for its cloud software, and its shares rose 5% in \
after-hours trading. The chief financial officer said operating margins improved thanks \
to cost cuts and lower component prices."""


@pytest.fixture(scope="module")
def shipped() -> TopicModel:
    return load_artifact(DEFAULT_ARTIFACT)


def test_shipped_artifact_metadata(shipped: TopicModel) -> None:
    assert shipped.labels == DEFAULT_LABELS
    assert shipped.weights.dtype == np.float32
    assert DEFAULT_ARTIFACT.stat().st_size < 10 * 1024 * 1024
    data = shipped.metadata["data"]
    assert len(data["sha256"]) == 64
    assert {c["name"] for c in data["corpora"]} >= {"bbc-news", "ag-news-test"}
    assert shipped.metadata["heldout"]["accuracy"] > 0.85


@needs_shared
def test_shipped_artifact_kim_jong_un_sample(shipped: TopicModel) -> None:
    raw = SAMPLE.read_text(encoding="utf-8")
    article = raw.split("You may also like...")[0]
    title_line, _, body = article.partition("\n")
    title = title_line.rsplit(" - ", 1)[0]  # drop the outlet
    result = shipped.predict(f"{title}\n{body.strip()}")
    assert result.topic == "geopolitics"
    assert result.confidence > 0.8


@pytest.mark.parametrize(
    ("text", "topic"),
    [(SPORT, "sport"), (ENTERTAINMENT, "entertainment"), (OTHER, "other")],
    ids=["sport", "entertainment", "other"],
)
def test_shipped_artifact_topics(shipped: TopicModel, text: str, topic: str) -> None:
    result = shipped.predict(text)
    assert result.topic == topic
    assert set(result.scores) == set(DEFAULT_LABELS)
    assert sum(result.scores.values()) == pytest.approx(1.0, abs=1e-3)
    assert result.model_version == shipped.version


# -- training -------------------------------------------------------------------

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
    from worker.training import train_jsonl

    data = tmp_path / "pets.jsonl"
    _synthetic_jsonl(data)
    first, report = train_jsonl(data, n_features=2**12, heldout_fraction=0.25)
    second, _ = train_jsonl(data, n_features=2**12, heldout_fraction=0.25)
    assert first.to_bytes() == second.to_bytes()

    assert first.labels == ("birds", "cats", "dogs")
    assert first.version.startswith("custom-hash-v1-")
    assert report["heldout"]["accuracy"] > 0.9
    assert report["data"]["counts_per_label"] == {"birds": 40, "cats": 40, "dogs": 40}
    result = first.predict("my new kitten likes to purr and play with catnip")
    assert result.topic == "cats"
    assert set(result.scores) == {"birds", "cats", "dogs"}

    path = tmp_path / "models" / "pets.npz"
    write_artifact(first, path)
    write_artifact(second, tmp_path / "again.npz")
    assert path.read_bytes() == (tmp_path / "again.npz").read_bytes()
    assert load_artifact(path).predict("bark fetch bone").topic == "dogs"


def test_train_jsonl_rejects_bad_lines(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    from worker.training import train_jsonl

    data = tmp_path / "bad.jsonl"
    data.write_text('{"text": "ok", "label": "a"}\n{"text": "", "label": "b"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2"):
        train_jsonl(data)


@pytest.mark.skipif(not CORPORA_DIR.is_dir(), reason=f"corpora folder not found at {CORPORA_DIR}")
def test_corpus_loaders_apply_the_mappings() -> None:
    from collections import Counter

    from worker.training import CORPORA, deduplicate, load_corpora

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
