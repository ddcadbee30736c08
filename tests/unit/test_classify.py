"""Tests of the topic classifier: features, the model, its artifact format and the
shipped artifact (its training and evaluation: tests/unit/test_training.py)."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import SAMPLE
from worker.model import DEFAULT_ARTIFACT, load_model
from worker.pipeline.classify import (
    ARTIFACT_FORMAT,
    DEFAULT_LABELS,
    TopicModel,
    WordVectors,
    decide,
    featurize,
    featurize_many,
    softmax,
    tokenize,
    word_hashes,
)
from worker.pipeline.errors import ModelError

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CORPORA_DIR = SHARED / "corpora"


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


def _word_vectors(scale: float = 1.0) -> WordVectors:
    words = ["cat", "dog", "bird", "2024", "cafe"]
    vectors = np.random.default_rng(1).normal(size=(len(words), 8))
    return WordVectors.from_words(words, vectors, scale=scale, source="test")


def _embedded_model(n_features: int = 64) -> TopicModel:
    base = _random_model(n_features)
    vectors = _word_vectors(scale=2.0)
    rng = np.random.default_rng(2)
    extra = rng.normal(size=(vectors.dims, len(base.labels))).astype(np.float32)
    return dataclasses.replace(
        base, weights=np.concatenate([base.weights, extra]), embedding=vectors
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
    if model.embedding is not None:
        arrays["embed_hashes"] = model.embedding.hashes
        arrays["embed_vectors"] = model.embedding.vectors.astype(np.float16)
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
    assert indices.tolist() == [28287, 66766, 72655, 131184, 240783, 250679]


def test_featurize_char_ngrams_are_pinned() -> None:
    indices, values = featurize("Hello world, hello again", 2**18, char_ngrams=(3, 4, 5))
    assert np.linalg.norm(values) == pytest.approx(1.0, abs=1e-6)
    # the 6 word features + 3 distinct five-letter words x 12 character n-grams each
    # (" he", "hel", ..., "lo ": 5 + 4 + 3)
    assert len(indices) == 6 + 3 * 12
    assert indices[:8].tolist() == [6202, 13187, 14976, 28287, 33627, 42031, 43667, 45968]
    assert indices[-4:].tolist() == [240783, 246454, 250679, 255208]


def test_featurize_empty_text() -> None:
    indices, values = featurize("  ...  ", 1024)
    assert indices.size == 0
    assert values.size == 0


def test_featurize_with_idf_stays_normalised() -> None:
    idf = np.linspace(1.0, 5.0, 1024, dtype=np.float32)
    _, values = featurize("the cat sat on the mat", 1024, idf)
    assert np.linalg.norm(values) == pytest.approx(1.0, abs=1e-6)


_UNICODE_PUNCTUATION = ["\u2019", "\u201c", "\u2014", "\u00a3", "\u00e9"]


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from([*"abcXYZ019_ .,;'-!?\n\t", *_UNICODE_PUNCTUATION]),
        max_size=200,
    )
)
def test_tokenize_fast_path_matches_the_word_regex(text: str) -> None:
    assert tokenize(text) == re.findall(r"\w+", text.lower())


def test_featurize_char_window() -> None:
    chars = (3, 4, 5)
    words, _ = featurize("Hello world, hello again", 2**18)
    full, _ = featurize("Hello world, hello again", 2**18, char_ngrams=chars)
    assert set(words.tolist()) < set(full.tolist())
    # character n-grams only come from the first char_limit bytes
    text = "alpha beta " * 50 + "gamma"
    few, _ = featurize(text, 2**18, char_ngrams=chars, char_limit=32)
    many, _ = featurize(text, 2**18, char_ngrams=chars, char_limit=4096)
    assert len(many) - len(few) == 12  # only "gamma", past the window, adds n-grams
    assert featurize("Zebra crossing", 2**18, char_ngrams=chars, char_limit=0)[0].tolist() == (
        featurize("Zebra crossing", 2**18)[0].tolist()
    )


def test_featurize_is_stable_across_text_shapes() -> None:
    a = featurize("Kim Jong Un \u2019s  visit\u2014today", 2**18)
    b = featurize("kim jong un s visit today", 2**18)
    assert a[0].tolist() == b[0].tolist()
    np.testing.assert_allclose(a[1], b[1])


def test_featurize_many_gives_each_texts_row() -> None:
    texts = ["Hello world, hello again", "", "Caf\u00e9 \u201cquoted\u201d", "bird bird"]
    table = _word_vectors()
    for chars in ((), (3, 4)):
        rows = featurize_many(texts, 2**10, char_ngrams=chars, embedding=table)
        assert rows.bounds.tolist()[0] == 0 and len(rows.bounds) == len(texts) + 1
        for i, text in enumerate(texts):
            indices, values = featurize(text, 2**10, char_ngrams=chars)
            start, end = rows.bounds[i], rows.bounds[i + 1]
            assert rows.columns[start:end].tolist() == indices.tolist()
            assert rows.values[start:end].tobytes() == values.tobytes()
            pooled = rows.pooled[i]
            expected = table.pool_text(text)
            if pooled is None:
                assert not expected.any()
            else:
                assert pooled.tobytes() == expected.tobytes()
    empty = featurize_many([], 16)
    assert empty.columns.size == 0 and empty.bounds.tolist() == [0] and empty.pooled == []


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


def test_fallback_threshold_and_temperature() -> None:
    base = _random_model()
    text = "title\nbody text here"
    top = base.predict(text)
    assert top.topic == max(top.scores, key=lambda k: top.scores[k])
    cautious = dataclasses.replace(base, fallback="c", threshold=1.0)
    low = cautious.predict(text)
    assert low.topic == "c"  # below the threshold: the fallback label
    assert low.scores == top.scores  # every label's score is kept
    assert low.confidence == pytest.approx(low.scores["c"], abs=1e-4)
    never = dataclasses.replace(base, fallback="c", threshold=0.0)
    assert never.predict(text).topic == top.topic
    hot = dataclasses.replace(base, temperature=100.0)
    probs = hot.probabilities(text)
    assert (
        probs.max() - probs.min() < base.probabilities(text).max() - base.probabilities(text).min()
    )
    assert np.argmax(probs) == np.argmax(base.probabilities(text))


def test_softmax_and_decide_work_on_one_row_or_many() -> None:
    logits = np.array([[2.0, 0.0, 1.0], [0.1, 0.2, 0.15], [-1.0, 3.0, 0.0]])
    probs = softmax(logits, 1.5)
    for row, p in zip(logits, probs, strict=True):
        assert softmax(row, 1.5).tobytes() == p.tobytes()
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert decide(probs, None, 0.9).tolist() == [0, 1, 1]
    assert decide(probs, 2, 0.5).tolist() == [0, 2, 1]
    assert [int(decide(p, 2, 0.5)) for p in probs] == [0, 2, 1]
    model = dataclasses.replace(_random_model(), fallback="c", threshold=0.5)
    assert [model.decide(p) for p in probs] == [0, 2, 1]


def test_round_trip_keeps_calibration_and_features() -> None:
    model = dataclasses.replace(
        _random_model(),
        temperature=1.7,
        fallback="b",
        threshold=0.45,
        char_ngrams=(2, 3),
        char_limit=77,
    )
    loaded = TopicModel.from_bytes(model.to_bytes())
    assert (loaded.temperature, loaded.fallback, loaded.threshold) == (1.7, "b", 0.45)
    assert (loaded.char_ngrams, loaded.char_limit) == ((2, 3), 77)
    assert loaded.predict("a b c d") == model.predict("a b c d")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"fallback": "zzz"}, "fallback label"),
        ({"fallback": 3}, "fallback must be"),
        ({"threshold": 1.5}, "threshold"),
        ({"threshold": "high"}, "threshold must be a number"),
        ({"temperature": 0}, "temperature"),
        ({"temperature": None}, "temperature must be a number"),
        ({"char_ngrams": "345"}, "char_ngrams"),
        ({"char_ngrams": [0]}, "n-gram sizes"),
        ({"char_limit": 1.5}, "char_limit"),
    ],
)
def test_from_bytes_rejects_bad_calibration(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ModelError, match=message):
        TopicModel.from_bytes(_with_header(_random_model(), **changes))


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
    with pytest.raises(ModelError, match=r"missing arrays \['bias', 'meta', 'weights'\]"):
        TopicModel.from_bytes(empty_zip.getvalue())


def test_from_bytes_rejects_pickled_arrays() -> None:
    arrays = {"weights": np.array([{"a": 1}], dtype=object), "bias": np.zeros(2), "meta": b""}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    # Refused unread, never unpickled (a pickle can run code).
    with pytest.raises(ModelError, match=r"cannot read it as \.npz .*allow_pickle=False"):
        TopicModel.from_bytes(buffer.getvalue())


def test_from_bytes_unsupported_format() -> None:
    model = _random_model()
    with pytest.raises(
        ModelError, match=rf"unsupported topic model artifact format {ARTIFACT_FORMAT + 1}"
    ):
        TopicModel.from_bytes(_with_header(model, format=ARTIFACT_FORMAT + 1))
    # The first release's artifacts (format 1, words-only features) are refused, not misread.
    with pytest.raises(ModelError, match=r"format 1 .*retrain the model"):
        TopicModel.from_bytes(_with_header(model, format=1))
    with pytest.raises(ModelError, match="unsupported featurizer"):
        TopicModel.from_bytes(_with_header(model, featurizer="something-else"))
    # Format 2 (hashed n-grams only, before word vectors) is refused with a clear message.
    with pytest.raises(ModelError, match=r"format 2 \(this version of newswire reads format 3\)"):
        TopicModel.from_bytes(_with_header(model, format=2))


# -- word vectors ------------------------------------------------------------------


def test_word_hashes_match_the_tokenizer() -> None:
    hashes = word_hashes(["cat", "dog"])
    assert hashes.dtype == np.uint64 and len(set(hashes.tolist())) == 2
    assert word_hashes(["cat"]).tolist() == hashes[:1].tolist()
    with pytest.raises(ValueError, match="single"):
        word_hashes(["two words"])


def test_word_vectors_pool_known_words_only() -> None:
    table = _word_vectors(scale=3.0)
    raw = np.random.default_rng(1).normal(size=(5, 8)).astype(np.float16).astype(np.float32)
    expected = raw[0] * 2 + raw[1]  # cat twice, dog once; unknown words count for nothing
    expected = 3.0 * expected / np.linalg.norm(expected)
    pooled = table.pool_text("The CAT, the dog and the cat\u2019s owner")
    np.testing.assert_allclose(pooled, expected, rtol=1e-5)
    assert pooled.dtype == np.float32
    assert not table.pool_text("nothing known here").any()
    assert not table.pool_text("").any()
    with pytest.raises(ValueError, match="increasing"):
        WordVectors(table.hashes[::-1].copy(), table.vectors)
    with pytest.raises(ValueError, match="scale"):
        dataclasses.replace(table, scale=0.0)


def test_model_with_word_vectors_round_trip() -> None:
    model = _embedded_model()
    data = model.to_bytes()
    assert data == model.to_bytes()
    loaded = TopicModel.from_bytes(data)
    assert loaded.embedding is not None and model.embedding is not None
    np.testing.assert_array_equal(loaded.embedding.hashes, model.embedding.hashes)
    np.testing.assert_array_equal(loaded.embedding.vectors, model.embedding.vectors)
    assert loaded.embedding.scale == 2.0
    text = "my cat chased a bird\nthen the dog barked"
    assert loaded.predict(text) == model.predict(text)
    assert loaded.to_bytes() == data
    # The word-vector block moves the scores: the same model without it differs.
    plain = dataclasses.replace(model, weights=model.weights[: model.n_features], embedding=None)
    assert not np.allclose(plain.logits(text), model.logits(text))
    pooled = model.embedding.pool_text(text)
    np.testing.assert_allclose(
        model.logits(text) - plain.logits(text),
        pooled @ model.weights[model.n_features :],
        rtol=1e-5,
        atol=1e-6,
    )


def test_model_with_word_vectors_rejects_inconsistent_artifacts() -> None:
    model = _embedded_model()
    with pytest.raises(ValueError, match="weights have shape"):
        dataclasses.replace(model, weights=model.weights[: model.n_features])
    header = model.header()["embedding"]
    with pytest.raises(ModelError, match="unsupported word-vector scheme"):
        TopicModel.from_bytes(_with_header(model, embedding={**header, "scheme": "other"}))
    with pytest.raises(ModelError, match="word vectors have shape"):
        TopicModel.from_bytes(_with_header(model, embedding={**header, "dims": 7}))
    assert model.embedding is not None and model.idf is not None
    meta = np.frombuffer(json.dumps(model.header()).encode(), dtype=np.uint8)
    arrays: dict[str, np.ndarray] = {
        "weights": model.weights,
        "bias": model.bias,
        "idf": model.idf,
        "meta": meta,
    }
    with pytest.raises(ModelError, match="arrays are missing"):
        TopicModel.from_bytes(_npz(arrays))
    without = _random_model()
    assert without.idf is not None
    meta = np.frombuffer(json.dumps(without.header()).encode(), dtype=np.uint8)
    arrays = {"weights": without.weights, "bias": without.bias, "idf": without.idf, "meta": meta}
    with pytest.raises(ModelError, match="without an embedding entry"):
        TopicModel.from_bytes(_npz({**arrays, "embed_hashes": model.embedding.hashes}))


def test_from_bytes_inconsistent_shapes() -> None:
    model = _random_model()
    with pytest.raises(ModelError, match="weights have shape"):
        TopicModel.from_bytes(_with_header(model, n_features=32))
    with pytest.raises(ModelError, match="labels"):
        TopicModel.from_bytes(_with_header(model, labels="abc"))


def test_load_model_missing(tmp_path: Path) -> None:
    missing = tmp_path / "nope.npz"
    with pytest.raises(ModelError, match=r"nope\.npz"):
        load_model(missing)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"junk")
    with pytest.raises(ModelError, match=r"bad\.npz"):
        load_model(bad)


def test_load_model_defaults_to_the_shipped_artifact() -> None:
    assert DEFAULT_ARTIFACT.name == "topic-v1.npz"
    assert load_model().to_bytes() == load_model(DEFAULT_ARTIFACT).to_bytes()


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
    return load_model(DEFAULT_ARTIFACT)


def test_shipped_artifact_kim_jong_un_sample(shipped: TopicModel) -> None:
    raw = SAMPLE.read_text(encoding="utf-8")
    article = raw.split("You may also like...")[0]
    title_line, _, body = article.partition("\n")
    title = title_line.rsplit(" - ", 1)[0]  # drop the outlet
    result = shipped.predict(f"{title}\n{body.strip()}")
    assert result.topic == "geopolitics"
    assert result.confidence > 0.8


def _sample_teasers() -> dict[str, str]:
    """The sample page's "You may also like..." teasers: title -> "title\\nteaser"."""
    block = SAMPLE.read_text(encoding="utf-8").split("You may also like...", 1)[1]
    lines = [line.strip() for line in block.splitlines() if line.strip()]
    return {
        title: f"{title}\n{teaser}" for title, teaser in zip(lines[::2], lines[1::2], strict=True)
    }


TEASER_TOPICS = {
    "Diddy's Legal Troubles & Racketeering Trial": "entertainment",  # a music mogul's trial
    "Thomas Partey Faces Rape & Sexual Assault Charges": "sport",  # a footballer
    "WAFCON 2024 African Women's Football Tournament": "sport",
    "Death of Nigerian Goalkeeping Legend Peter Rufai": "sport",
    "Nigeria Universities Changes Admission Policies": "other",  # education
    "Ghana's Economic Reforms & Gold Sector Initiatives": "other",  # economy
}


# Known miss of the hashed n-grams + word vectors model (topic-hash-minilm-v3): this
# education story comes out geopolitics 0.52 / other 0.47 (the n-grams-only model had
# it as other). Strict, so the test says so when a retrained model gets it right.
TEASER_MISSES = {
    "Nigeria Universities Changes Admission Policies": "education story scored geopolitics",
}


@pytest.mark.parametrize(
    ("title", "topic"),
    [
        pytest.param(
            title,
            topic,
            marks=[pytest.mark.xfail(strict=True, reason=TEASER_MISSES[title])]
            if title in TEASER_MISSES
            else [],
        )
        for title, topic in sorted(TEASER_TOPICS.items())
    ],
)
def test_shipped_artifact_sample_teasers(shipped: TopicModel, title: str, topic: str) -> None:
    teasers = _sample_teasers()
    assert title in teasers
    result = shipped.predict(teasers[title])
    assert result.topic == topic, result.scores


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


_BATCH_TEXTS = [
    "Cat and dog\nThe cat chased the dog across the 2024 garden, cat after dog.",
    "",
    "   ",
    "!!! --- ...",
    "a",
    "Caf\u00e9 \u201cquoted\u201d \u2014 na\u00efve r\u00e9sum\u00e9 \u5317\u4eac cafe",
    "zzqx qqqz wholly unknown words",
    "bird bird bird bird",
]


@pytest.mark.parametrize("make", [_random_model, _embedded_model], ids=["ngrams", "embedded"])
def test_predict_many_gives_each_texts_prediction_bit_for_bit(
    make: Callable[[], TopicModel],
) -> None:
    model = make()
    pairs = zip(_BATCH_TEXTS, reversed(_BATCH_TEXTS), strict=True)
    texts = (_BATCH_TEXTS + [f"{a} {b}" for a, b in pairs]) * 4  # 64: chunks of 25
    batch = model.logits_many(texts)
    assert batch.shape == (len(texts), len(model.labels))
    assert np.array_equal(batch, np.array([model.logits(t) for t in texts]))
    assert model.predict_many(texts) == [model.predict(t) for t in texts]
    assert model.predict_many([]) == []
    chars = dataclasses.replace(model, char_ngrams=(3,))  # one text at a time
    assert chars.predict_many(texts) == [chars.predict(t) for t in texts]


def test_shipped_predict_many_matches_predict_on_the_sample(shipped: TopicModel) -> None:
    page = SAMPLE.read_text(encoding="utf-8")
    texts = [page, *page.split("\n\n")] * 2
    assert np.array_equal(shipped.logits_many(texts), np.array([shipped.logits(t) for t in texts]))
    assert shipped.predict_many(texts) == [shipped.predict(t) for t in texts]
