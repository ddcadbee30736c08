"""A batch through the task's handler, with the real pipeline and a real Redis."""

from __future__ import annotations

import dataclasses
import json
import random
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import pytest

from config.settings import Settings
from worker.contract import BatchMessage
from worker.model import load_model
from worker.pipeline.analyze import analyze, analyze_many
from worker.pipeline.classify import TopicModel
from worker.pipeline.errors import PermanentError
from worker.pipeline.models import RawArticle
from worker.store import Store
from worker.tasks import Runtime, handle_batch

SENTENCE = (
    "the council said on Thursday it would reopen the coastal path between two harbour "
    "towns next month after repairs to a sea wall damaged in winter storms"
)
WORDS = SENTENCE.split(" ")


# Parses, but is no article: the parse stage refuses it.
SHORT = RawArticle(kind="text", text="Short note\nToo short to count.", source="short.txt")


def page(n: int, title: str | None = None) -> RawArticle:
    """A page of its own: no two share a run of words."""
    rng = random.Random(n)
    paragraphs = [" ".join(rng.sample(WORDS, len(WORDS))).capitalize() + "." for _ in range(3)]
    body = "\n".join(paragraphs)
    return RawArticle(kind="text", text=f"{title or f'Coastal path {n} to reopen'}\n{body}")


@pytest.fixture(scope="module")
def model() -> TopicModel:
    return load_model()


def test_analyze_many_gives_each_payloads_analysis(model: TopicModel) -> None:
    now = datetime.now(UTC)
    raws = [page(1), SHORT, page(2), page(3, "Dodgy")]
    many = analyze_many(raws, model, now=now, max_payload_bytes=10**7)
    assert isinstance(many[1], PermanentError) and many[1].reason == "not_an_article"
    for raw, got in zip(raws, many, strict=True):
        if not isinstance(got, PermanentError):
            assert got == analyze(raw, model, now=now, max_payload_bytes=10**7)


@dataclasses.dataclass(frozen=True, eq=False)
class BuggyModel(TopicModel):
    """The shipped model with a bug that only one title sets off."""

    def logits(self, text: str) -> npt.NDArray[np.float64]:
        if text.startswith("Detonator"):
            raise ZeroDivisionError("a bug in the model")
        return super().logits(text)

    def logits_many(self, texts: list[str]) -> npt.NDArray[np.float64]:  # type: ignore[override]
        if any(t.startswith("Detonator") for t in texts):
            raise ZeroDivisionError("a bug in the model")
        return super().logits_many(texts)


def test_a_bug_in_one_article_dead_letters_only_that_one(
    model: TopicModel, store: Store, settings: Settings
) -> None:
    buggy = BuggyModel(**{f.name: getattr(model, f.name) for f in dataclasses.fields(model)})
    runtime = Runtime(settings=settings, store=store, model=buggy)
    items = [page(1), page(2, "Detonator"), SHORT, page(3)]
    message = json.loads(BatchMessage.of(items).model_dump_json())
    message["articles"].insert(1, {"kind": "text", "text": "", "source": "empty.txt"})
    report = handle_batch(runtime, message, delivery_id="3f2c1a9e-delivery")
    assert (report.stored, report.dead_lettered) == (2, 3)
    assert store.get(items[0].article_id) is not None
    assert store.get(items[3].article_id) is not None
    # Newest first: the letters were written in the batch's order.
    letters = [f for _, f in store.dlq()][::-1]
    assert [(f.get("source"), f["reason"]) for f in letters] == [
        ("empty.txt", "invalid_payload"),
        (None, "internal_error"),
        ("short.txt", "not_an_article"),
    ]
    crashed = letters[1]
    assert crashed["article_id"] == items[1].article_id
    assert "ZeroDivisionError: a bug in the model" in crashed["message"]
    # The letter keeps the payload as pushed, to replay once the bug is fixed.
    assert json.loads(crashed["payload"])["text"] == items[1].text


def test_items_over_the_batch_limit_make_one_dead_letter_not_one_each(
    model: TopicModel, store: Store, settings: Settings
) -> None:
    small = settings.model_copy(update={"max_batch_articles": 3})
    runtime = Runtime(settings=small, store=store, model=model)
    items = [page(n) for n in range(3)] + [SHORT] * 500
    message = json.loads(BatchMessage.of(items).model_dump_json())
    report = handle_batch(runtime, message, delivery_id="over-limit-delivery")
    assert (report.stored, report.dead_lettered) == (3, 1)
    [(_, letter)] = store.dlq(limit=None)
    assert letter["reason"] == "batch_too_large"
    assert "the 500 after the first 3" in letter["message"]
    assert len(json.loads(letter["payload"])) == 500  # kept, unprocessed
    # Delivered again: nothing new.
    again = handle_batch(runtime, message, delivery_id="over-limit-delivery")
    assert again.dead_lettered == 0 and len(store.dlq(limit=None)) == 1
