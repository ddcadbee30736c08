"""Every route of a real `newswire serve` against random requests: bodies,
content types, headers, query parameters, path ids and cursors. Each answer
is a 2xx or a 4xx with a reason, never a 5xx; and nothing is half-stored:
every item a 202 accepted (and every dead letter a replay re-queued) ends
stored or dead-lettered, and the counters add up to exactly that.

`GET /v1/articles` (the listing) and `POST /v1/classify` are fuzzed too,
whether this build has them or not (a 404 or 422 is then the answer)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newswire.api import KINDS
from tests.conftest import WorkerProcess
from tests.e2e.test_api import EXAMPLES, TOKEN, serving
from tests.e2e.test_fuzz_path import json_values
from worker.store import Store

pytestmark = [pytest.mark.e2e, pytest.mark.hostile]

LIMIT = 16 * 1024  # the server's NEWSWIRE_MAX_PAYLOAD_BYTES
PAGES = [p.read_text() for p in sorted(EXAMPLES.glob("*.txt"))]
# Every reason a dead letter can have (docs/architecture.md).
REASONS = {
    "invalid_payload", "payload_too_large", "parse_error", "not_an_article", "batch_too_large",
    "invalid_message", "internal_error", "time_limit", "poison_message", "already_dead_lettered",
    "disallowed_content_type", "invalid_task_message",
}  # fmt: skip

# What a client can send as a header value (no surrounding blanks).
_printable = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(str.strip)
_any_text = st.text(max_size=40)
_path_ids = st.one_of(
    st.from_regex(r"[0-9a-f]{16}", fullmatch=True),
    st.from_regex(r"[0-9]{1,20}-[0-9]{1,20}", fullmatch=True),
    _any_text.filter(bool),
    st.sampled_from(["..", "%2e%2e", "0" * 200, "1-0", "-1", "99999999999999999999999-0"]),
)
_content_types = st.one_of(
    st.sampled_from([*KINDS, "application/json; charset=utf-8", "multipart/form-data"]),
    _printable,
)
_tokens = st.sampled_from([f"Bearer {TOKEN}"] * 12 + ["", "Bearer", "Bearer x", f"Basic {TOKEN}"])
_extra_headers = st.dictionaries(
    st.sampled_from(["Accept", "Content-Encoding", "X-Forwarded-For", "Last-Event-ID", "Range"]),
    _printable,
    max_size=2,
)
_record = st.fixed_dictionaries(
    {"title": st.text(max_size=60), "body": st.text(max_size=400)},
    optional={"url": st.text(max_size=40), "extra": json_values},
)
_bodies = st.one_of(
    st.binary(max_size=600),
    st.sampled_from(PAGES).map(str.encode),
    st.sampled_from(PAGES).map(lambda p: json.dumps({"text": p, "body": p}).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.lists(_record, max_size=3).map(lambda v: json.dumps(v).encode()),
    st.lists(_record | json_values, max_size=4).map(
        lambda v: "\n".join(json.dumps(x) for x in v).encode()
    ),
)


def _selections(*, everything: bool) -> st.SearchStrategy[bytes]:
    """Bodies for the bulk dead-letter routes; ``everything=False`` never
    selects a real entry (so no purge hides where an accepted item went)."""
    optional: dict[str, st.SearchStrategy[Any]] = {
        "entries": st.lists(_path_ids, max_size=3) | json_values,
        "reason": _any_text.filter(lambda r: r.strip() not in REASONS) | json_values,
        "other": json_values,
    }
    if everything:
        optional |= {"all": st.booleans() | json_values, "reason": _any_text | json_values}
    return st.one_of(
        st.fixed_dictionaries({}, optional=optional).map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=100),
    )


_query_values = st.one_of(
    _any_text,
    st.integers(-(10**12), 10**12).map(str),
    st.floats(allow_nan=True).map(str),
    st.datetimes().map(lambda d: d.isoformat()),
    st.sampled_from(["newest", "oldest", "asc", "desc", "", "sport", "en", "true"]),
)
_listing_params = st.dictionaries(
    st.sampled_from(
        [
            "topic",
            "outlet",
            "language",
            "since",
            "until",
            "min_confidence",
            "limit",
            "cursor",
            "order",
            "unknown",
        ]
    ),
    _query_values,
    max_size=5,
)


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    content_type: str | None = None


def _in_path(template: str) -> st.SearchStrategy[str]:
    return _path_ids.map(lambda i: template.format(quote(i, safe="")))


# Well-formed pushes too, so that a good share of the examples is accepted
# (and the ledger has something to check).
_good_posts = st.one_of(
    st.builds(Call, st.just("POST"), st.just("/v1/articles"), st.just({}),
              st.sampled_from(PAGES).map(str.encode), st.just("text/plain")),
    st.builds(Call, st.just("POST"), st.just("/v1/articles"), st.just({}),
              st.lists(st.sampled_from(PAGES), min_size=1, max_size=3).map(
                  lambda ps: "\n".join(json.dumps({"body": p}) for p in ps).encode()),
              st.just("application/x-ndjson")),
)  # fmt: skip
_calls = st.one_of(
    _good_posts,
    _good_posts,
    st.builds(Call, st.just("GET"), st.just("/v1/articles"), _listing_params),
    st.builds(Call, st.just("POST"), st.just("/v1/articles"), st.just({}), _bodies, _content_types),
    st.builds(Call, st.just("GET"), _in_path("/v1/articles/{}")),
    st.builds(Call, st.just("GET"), _in_path("/v1/stories/{}")),
    st.builds(Call, st.just("GET"), st.just("/v1/stats")),
    st.builds(
        Call,
        st.just("GET"),
        st.just("/v1/dlq"),
        st.dictionaries(st.sampled_from(["reason", "limit", "other"]), _query_values, max_size=2),
    ),
    st.builds(Call, st.just("GET"), _in_path("/v1/dlq/{}")),
    st.builds(Call, st.just("DELETE"), _in_path("/v1/dlq/{}")),
    st.builds(Call, st.just("POST"), _in_path("/v1/dlq/{}/replay")),
    *(
        st.builds(
            Call,
            st.just("POST"),
            st.just(path),
            st.just({}),
            _selections(everything=path.endswith("replay")),
            st.sampled_from(["application/json", "text/plain", ""]),
        )
        for path in ("/v1/dlq/replay", "/v1/dlq/purge")
    ),
    st.builds(
        Call,
        st.just("GET"),
        st.just("/v1/events"),
        st.dictionaries(st.sampled_from(["from_start"]), _query_values, max_size=1),
    ),
    st.builds(Call, st.just("GET"), st.sampled_from(["/metrics", "/healthz", "/readyz"])),
    st.builds(Call, st.just("POST"), st.just("/v1/classify"), st.just({}), _bodies, _content_types),
)


@dataclass
class Ledger:
    """What the server accepted: items queued, dead letters re-queued."""

    queued: list[str] = field(default_factory=list)
    replayed: int = 0


def _send(http: httpx.Client, call: Call, headers: dict[str, str]) -> httpx.Response:
    if call.content_type is not None:
        headers = {**headers, "Content-Type": call.content_type}
    request = http.build_request(
        call.method, call.path, params=call.params, content=call.body, headers=headers
    )
    if call.path != "/v1/events":
        return http.send(request)
    response = http.send(request, stream=True)
    try:
        if response.status_code == 200:
            # The stream: its first message (the retry hint), then goodbye.
            assert next(response.iter_lines()).startswith("retry:")
        else:
            response.read()
    finally:
        response.close()
    return response


def test_fuzz_every_route_answers_2xx_or_4xx_and_stores_whole(
    redis_url: str, worker: WorkerProcess, store: Store, tmp_path: Path
) -> None:
    ledger = Ledger()
    env = {"NEWSWIRE_API_TOKEN": TOKEN, "NEWSWIRE_MAX_PAYLOAD_BYTES": str(LIMIT)}
    # The key wipe between tests takes the worker's heartbeat until its next
    # beat; /readyz is 503 until then, rightly: the fuzz starts once it is back.
    deadline = time.monotonic() + 30
    while not store.live_workers():
        assert time.monotonic() < deadline, "the worker sent no heartbeat in 30 s"
        time.sleep(0.2)

    @settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
    @given(call=_calls, token=_tokens, extra=_extra_headers)
    def check(call: Call, token: str, extra: dict[str, str]) -> None:
        headers = {**extra, **({"Authorization": token} if token else {})}
        response = _send(http, call, headers)
        status = response.status_code
        assert status < 500, (call, headers, status, response.text)
        assert 200 <= status < 300 or 400 <= status < 500, (call, status)
        if status >= 400:
            answer = response.json()
            assert answer["detail"], (call, response.text)
            return
        if call.path == "/v1/articles" and call.method == "POST":
            assert status == 202
            ledger.queued += [q["id"] for q in response.json()["queued"]]
        elif call.path.endswith("/replay"):
            ledger.replayed += len(response.json()["replayed"])
        elif call.path == "/metrics":
            assert response.text.startswith("# HELP")

    with serving(redis_url, tmp_path / "serve.log", **env) as base, httpx.Client(
        base_url=base, timeout=30
    ) as http:  # fmt: skip
        check()
    assert ledger.queued, "the fuzz never had an item accepted: it tests nothing"

    expected = len(ledger.queued) + ledger.replayed
    assert store.wait_for(expected, timeout=120), (store.stats(), expected)
    time.sleep(0.5)  # anything beyond the ledger would show now
    stats = store.stats()
    assert (
        stats.get("stored", 0) + stats.get("duplicates", 0) + stats.get("dead_lettered", 0)
        == expected
    ), (stats, ledger)
    assert sum(v for k, v in stats.items() if k.startswith("topic:")) == stats.get("stored", 0)
    assert sum(v for k, v in stats.items() if k.startswith("dlq:")) == stats.get("dead_lettered", 0)
    lettered = {fields.get("article_id") for _, fields in store.dlq(limit=None)}
    for article_id in set(ledger.queued):
        assert store.get(article_id) is not None or article_id in lettered, article_id
