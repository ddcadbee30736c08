"""Hostile input through the whole path: every item ends somewhere."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from celery import Celery
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from config.settings import Settings as NewswireSettings
from tests.conftest import QUEUE, WorkerProcess
from worker.contract import TASK_PROCESS_BATCH, BatchMessage
from worker.store import Store

pytestmark = pytest.mark.e2e

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
article_items = st.fixed_dictionaries(
    {"kind": st.sampled_from(["text", "html", "json", "pdf", 3])},
    optional={
        "text": st.one_of(
            st.text(max_size=300),
            st.just("<div>" * 3000 + "deep" + "</div>" * 3000),  # deeply nested HTML
            st.just("Big Page - Outlet\n" + "word " * 600_000),  # over the 2 MB limit
        ),
        "record": json_values,
        "url": json_values,
        # Unique when valid; sometimes too short or long, so invalid.
        "submission_id": st.uuids().map(lambda u: u.hex) | st.uuids().map(lambda u: u.hex[:5]),
        "received_at": json_values,
    },
)
messages = st.one_of(
    st.fixed_dictionaries({"articles": st.lists(article_items, min_size=1, max_size=6)}),
    st.fixed_dictionaries({"articles": st.lists(st.just({"kind": "text", "text": "x y"}),
                                                min_size=1001, max_size=1001)}),  # too many
    json_values,
)  # fmt: skip


def expected_outcomes(message: Any) -> int:
    """One outcome per article of a valid batch, one for a message that is not."""
    try:
        return len(BatchMessage.model_validate(message).articles)
    except ValidationError:
        return 1


@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=st.lists(messages, min_size=5, max_size=10))
# Each message is its own task with its own id, so even equal messages are
# separate deliveries; within one, an article's outcome is keyed by its
# submission id (or its place when it has no valid one).
def test_random_messages_are_stored_or_dead_lettered_and_the_worker_survives(
    worker: WorkerProcess, settings: NewswireSettings, store: Store, batch: list[Any]
) -> None:
    for message in batch:  # hypothesis repeats values: make valid submission ids unique
        for item in message.get("articles", []) if isinstance(message, dict) else []:
            if isinstance(item, dict) and len(item.get("submission_id", "")) == 32:
                item["submission_id"] = uuid.uuid4().hex
    before = store.stats()
    done_before = sum(before.get(k, 0) for k in ("stored", "duplicates", "dead_lettered"))
    sender = Celery("fuzz", broker=settings.redis_url_value, set_as_current=False)
    for message in batch:
        sender.send_task(TASK_PROCESS_BATCH, args=[message], queue=QUEUE)
    sender.close()
    total = sum(expected_outcomes(m) for m in batch)
    assert store.wait_for(done_before + total, timeout=120), store.stats()
    after = store.stats()
    done_after = sum(after.get(k, 0) for k in ("stored", "duplicates", "dead_lettered"))
    assert done_after == done_before + total  # nothing lost, nothing counted twice
    assert worker.alive()
