"""Near-duplicate detection and story groups in a real Redis."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from worker.keys import Keys
from worker.model import load_model
from worker.pipeline.analyze import analyze
from worker.pipeline.classify import TopicModel
from worker.pipeline.models import ProcessedArticle, RawArticle
from worker.store import Store

PARAGRAPHS = [
    "The national rail operator said on Thursday it would reopen the coastal line between "
    "the two harbour towns next month, after repairs to a sea wall damaged in winter storms.",
    "Engineers had worked through the spring to rebuild four hundred metres of the wall, "
    "which carries the track along the cliffs, at a cost the operator put at twelve million.",
    "Passenger groups welcomed the news but said replacement buses had added an hour to "
    "daily journeys for commuters and students for most of the year.",
    "The operator said it would run extra trains in the first weeks to clear a backlog of "
    "freight, and that timetables would return to normal by the start of the school term.",
    "Local councillors asked for a review of how the line is protected from the sea, "
    "warning that storms of the kind seen this winter were becoming more frequent.",
]

# A second story, unrelated to the first.
FERRY = [
    "The island ferry company said fares would rise by six percent from April, blaming "
    "fuel costs and the price of a new vessel it ordered last year for the busiest route.",
    "Regular passengers will be able to buy discounted books of tickets, the company said, "
    "and island residents will keep their existing concession on all sailings.",
    "The company said it would also add two sailings a day in summer.",
]


@pytest.fixture(scope="module")
def model() -> TopicModel:
    return load_model()


def article(model: TopicModel, title: str, paragraphs: list[str]) -> ProcessedArticle:
    raw = RawArticle(kind="text", text=title + "\n" + "\n".join(paragraphs))
    return analyze(raw, model, now=datetime.now(UTC), max_payload_bytes=10**7)


def test_edited_copy_is_a_near_duplicate_in_the_first_story(
    store: Store, model: TopicModel
) -> None:
    first = article(model, "Coastal Rail Line To Reopen - Harbour Times", PARAGRAPHS)
    copy = article(
        model,
        "Coast line reopening next month - Wire Service",
        ["By Staff Reporter", *PARAGRAPHS[:4]],  # a by-line, the last paragraph dropped
    )
    other = article(model, "Ferry Fares To Rise - Harbour Times", FERRY[:2])
    outcomes = store.record_many([first, copy, other])
    assert [o.verdict for o in outcomes] == ["unique", "near_duplicate", "unique"]
    assert outcomes[1].canonical_id == first.id
    assert 0.5 <= outcomes[1].similarity < 1.0

    light = store.get(copy.id)
    assert light is not None
    assert (light["duplicate_of"], light["verdict"], light["outlet"]) == (
        first.id, "near_duplicate", "Wire Service"
    )  # fmt: skip
    assert light["similarity"] == pytest.approx(outcomes[1].similarity, abs=1e-3)
    assert "paragraphs" not in light  # a pointer, not a second copy
    canonical, copies = store.story(copy.id)
    assert canonical is not None and canonical["id"] == first.id
    assert [c["id"] for c in copies] == [copy.id]
    assert {a["id"] for a in store.results()} == {first.id, other.id}
    assert store.stats()["near_duplicates"] == 1


def test_index_entries_expire_after_the_window(store: Store, model: TopicModel) -> None:
    short = Store(store.redis, Keys(store.keys.prefix), replay_ttl=60, events_maxlen=1000,
                  dedup_window=4)  # fmt: skip
    first = article(model, "Coastal Rail Line To Reopen - Harbour Times", PARAGRAPHS)
    short.record_many([first])
    copy = article(model, "Coastal Rail Line To Reopen - Wire Service", PARAGRAPHS[:4])
    exact = store.keys.exact(first.body_hash)
    index = [
        *store.redis.scan_iter(match=f"{store.keys.lsh_prefix}*"),
        *store.redis.scan_iter(match=f"{store.keys.sketch_prefix}*"),
    ]
    assert index
    # Window 4 s: the exact key lives 4 s; the index lives in quarter-window
    # epochs, kept until their epoch has left the window, 4 to 5 s.
    assert 0 < store.redis.pttl(exact) <= 4000  # -1 would be no expiry
    ttls = [store.redis.pttl(key) for key in index]
    assert all(0 < ttl <= 5000 for ttl in ttls), ttls
    # Then wait for the keys to go, as their TTLs say, however late that is
    # on a busy machine: what matters next is what a lookup finds without them.
    deadline = time.monotonic() + 30
    while store.redis.exists(exact, *index):
        assert time.monotonic() < deadline, [k for k in [exact, *index] if store.redis.exists(k)]
        time.sleep(0.1)
    assert not list(store.redis.scan_iter(match=f"{store.keys.lsh_prefix}*"))
    assert not list(store.redis.scan_iter(match=f"{store.keys.sketch_prefix}*"))
    [late] = short.record_many([copy])
    assert late.verdict == "unique"
    assert store.get(first.id) is not None  # the article itself stays; only the index expires


def test_copies_are_found_across_index_generations(store: Store, model: TopicModel) -> None:
    """The index adds buckets as an epoch fills (after 16,384 documents):
    a copy of a story filed before the growth is still found, and so is one
    of a story filed after it, while the older generation's buckets are
    moved into the new one (one per document filed) and once they all have
    been (after 16 x 512 more documents), when lookups read only the new one."""
    import random

    rng = random.Random(5)
    early = article(model, "Coastal Rail Line To Reopen - Harbour Times", PARAGRAPHS)
    template = early.model_copy(update={"paragraphs": ("Filler.",)})

    def filler(i: int) -> ProcessedArticle:
        return template.model_copy(update={
            "id": f"{i:016x}", "submission_id": f"sub-filler-{i}", "body_hash": f"{i:032x}",
            "lsh_bands": tuple(rng.getrandbits(32) for _ in early.lsh_bands),
            "sketch": rng.randbytes(len(early.sketch)),
        })  # fmt: skip

    assert store.record_many([early])[0].verdict == "unique"
    fillers = [filler(i) for i in range(1, 16_500)]
    for i in range(0, len(fillers), 500):
        assert {o.verdict for o in store.record_many(fillers[i : i + 500])} == {"unique"}
    late = article(model, "Ferry Fares To Rise - Harbour Times", FERRY)
    assert store.record_many([late])[0].verdict == "unique"

    early_copy = article(model, "Coast line reopening - Wire Service",
                         ["By Staff Reporter", *PARAGRAPHS[:4]])  # fmt: skip
    late_copy = article(model, "Ferry fares up - Wire Service", ["By Staff Reporter", *FERRY[:2]])
    found = store.record_many([early_copy, late_copy])
    assert [(o.verdict, o.canonical_id) for o in found] == [
        ("near_duplicate", early.id), ("near_duplicate", late.id)
    ]  # fmt: skip

    def generations() -> set[str]:  # of the bucket keys {lsh}{epoch}:{gen}:{band}:{n}
        keys = store.redis.scan_iter(f"{store.keys.lsh_prefix}*")
        return {
            parts[1]
            for k in keys
            if len(parts := k.removeprefix(store.keys.lsh_prefix).split(":")) == 4
        }

    assert generations() == {"1", "2"}  # moving

    # Workers of an older version file documents without moving buckets: the
    # count of moved buckets, not the document number, says when to skip one.
    [counter] = store.redis.scan_iter(f"{store.keys.lsh_prefix}*:n")
    store.redis.incrby(counter, 16 * 512)
    early_third = article(model, "Harbour line back next month - Coast Radio",
                          [PARAGRAPHS[1], PARAGRAPHS[2], PARAGRAPHS[3], PARAGRAPHS[4]])  # fmt: skip
    [found_third] = store.record_many([early_third])
    assert (found_third.verdict, found_third.canonical_id) == ("near_duplicate", early.id)

    more = [filler(i) for i in range(16_500, 16_384 + 16 * 512 + 10)]
    for i in range(0, len(more), 500):
        assert {o.verdict for o in store.record_many(more[i : i + 500])} == {"unique"}
    assert generations() == {"2"}  # all moved
    early_again = article(model, "Rail line to reopen, operator says - Daily Post",
                          [PARAGRAPHS[0], PARAGRAPHS[1], PARAGRAPHS[2], PARAGRAPHS[4]])  # fmt: skip
    late_again = article(model, "Ferry fares to go up in April - Island News", [FERRY[0], FERRY[2]])
    found = store.record_many([early_again, late_again])
    assert [(o.verdict, o.canonical_id) for o in found] == [
        ("near_duplicate", early.id), ("near_duplicate", late.id)
    ]  # fmt: skip

    # Every index key expires with its epoch, however it was made: a bucket
    # new to the index, a field added to a bucket, a moved bucket, a sketch
    # hash whose first document number was skipped (by the INCRBY above).
    keys = [
        *store.redis.scan_iter(f"{store.keys.lsh_prefix}*", count=1000),
        *store.redis.scan_iter(f"{store.keys.sketch_prefix}*", count=1000),
    ]
    pipe = store.redis.pipeline(transaction=False)
    for key in keys:
        pipe.pttl(key)
    assert len(keys) > 16 * 8192 / 2 and min(pipe.execute()) > 0
