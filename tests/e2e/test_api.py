"""`newswire serve`: a real uvicorn server (a subprocess, as a user runs it),
a real worker and a real Redis; the fuzz runs the app in-process."""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.embedded import EmbeddedRedis, free_port
from config.settings import Settings
from newswire.api import KINDS
from tests.conftest import PREFIX, ROOT, WorkerProcess, run_cli, spawn_cli
from tests.e2e.test_fuzz_path import json_values
from tests.e2e.test_heartbeat import QUICK, kill_group, start_group_worker

pytestmark = pytest.mark.e2e

EXAMPLES = ROOT / "newswire" / "examples"
TOKEN = "test-api-token-5d1c0e"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LIMIT = 64 * 1024  # the API server's NEWSWIRE_MAX_PAYLOAD_BYTES


@contextmanager
def serving(redis_url: str, log_path: Path, **env: str) -> Iterator[str]:
    """A real `newswire serve` on a free loopback port; its base URL."""
    port = free_port()
    server = spawn_cli(redis_url, log_path, "serve", "--port", str(port), **env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if not server.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"serve did not start:\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base
    finally:
        server.stop()


@pytest.fixture(scope="module")
def api_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("api") / "serve.log"


@pytest.fixture(scope="module")
def api(redis_url: str, worker: WorkerProcess, api_log: Path) -> Iterator[str]:
    """The server the worker consumes from, with a token and a 64 KiB limit."""
    env = {"NEWSWIRE_API_TOKEN": TOKEN, "NEWSWIRE_MAX_PAYLOAD_BYTES": str(LIMIT)}
    with serving(redis_url, api_log, **env) as base:
        yield base


def post(base: str, body: bytes, content_type: str, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{base}/v1/articles",
        content=body,
        headers={**AUTH, "Content-Type": content_type, **headers},
        timeout=30,
    )


def record(name: str) -> dict[str, str]:
    """An example text page as a JSON record."""
    title, _, body = (EXAMPLES / name).read_text().partition("\n")
    return {"title": title, "body": body, "url": f"https://example.test/{name}"}


def stored(base: str, article_id: str, timeout: float = 30) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = httpx.get(f"{base}/v1/articles/{article_id}", headers=AUTH, timeout=10)
        if response.status_code == 200:
            return response.json()  # type: ignore[no-any-return]
        assert response.status_code == 404, response.text
        time.sleep(0.1)
    raise AssertionError(f"{article_id} was not stored in {timeout}s")


def test_every_content_type_is_queued_then_read_back_by_id(api: str, client: redis.Redis) -> None:
    ndjson = json.dumps(record("geopolitics-leaders-summit.txt")) + "\n{not json\n"
    bodies = {
        "text/plain; charset=utf-8": (EXAMPLES / "sport-city-derby.txt").read_bytes(),
        "text/html": (EXAMPLES / "science-deep-sea-survey.html").read_bytes(),
        "application/json": (EXAMPLES / "world-water-deal.json").read_bytes(),
        "application/json; list": json.dumps(
            [
                record("business-quarterly-earnings.txt"),
                record("entertainment-film-festival-premiere.txt"),
            ]
        ).encode(),
        "application/x-ndjson": ndjson.encode(),
    }
    ids: list[str] = []
    for content_type, body in bodies.items():
        response = post(api, body, content_type.replace("; list", ""))
        assert response.status_code == 202, (content_type, response.text)
        answer = response.json()
        assert answer["queued"] and answer["batches"], answer
        ids += [queued["id"] for queued in answer["queued"]]
        if content_type == "application/x-ndjson":  # the producer's rules: a bad line is refused
            assert answer["refused"] == [
                {"source": "api:2", "reason": answer["refused"][0]["reason"]}
            ]
            assert answer["refused"][0]["reason"].startswith("invalid JSON")
        else:
            assert answer["refused"] == []
    assert len(set(ids)) == 6
    for article_id in ids:
        article = stored(api, article_id)
        assert article["id"] == article_id and article["topic"]
    stats = httpx.get(f"{api}/v1/stats", headers=AUTH, timeout=10).json()
    assert stats["stored"] == 6 and "queued_batches" in stats
    missing = httpx.get(f"{api}/v1/articles/0000000000000000", headers=AUTH, timeout=10)
    assert missing.status_code == 404 and missing.json()["detail"]


def test_too_large_unsupported_and_invalid_bodies_are_refused(
    api: str, client: redis.Redis
) -> None:
    page = (EXAMPLES / "sport-city-derby.txt").read_bytes()
    big = page + b"x" * (LIMIT + 1 - len(page))
    assert post(api, big, "text/plain").status_code == 413
    assert post(api, b"[" + b" " * LIMIT + b"]", "application/json").status_code == 413
    # JSON lines may be 64x the limit, as push allows a .jsonl file.
    line = json.dumps(record("sport-city-derby.txt")).encode() + b"\n"
    lines = line * (LIMIT // len(line) + 2)
    assert len(lines) > LIMIT
    accepted = post(api, lines, "application/x-ndjson")
    assert accepted.status_code == 202, accepted.text
    assert len(accepted.json()["queued"]) == lines.count(b"\n")
    assert (
        post(api, line * (64 * LIMIT // len(line) + 1), "application/x-ndjson").status_code == 413
    )

    for content_type in ("application/xml", "multipart/form-data", ""):
        response = post(api, page, content_type)
        assert response.status_code == 415 and "text/plain" in response.json()["detail"]

    for content_type, body in [
        ("application/json", b'{"title": "unterminated'),
        ("application/x-ndjson", b"{nope\n[1, 2\n"),
    ]:
        response = post(api, body, content_type)
        assert response.status_code == 422, response.text
        assert "invalid JSON" in response.json()["detail"]
    no_body = post(api, b'{"title": "a title, no body"}', "application/json")
    assert no_body.status_code == 422 and "no article body" in no_body.json()["detail"]


def test_a_full_queue_is_answered_429_with_retry_after(redis_url: str, tmp_path: Path) -> None:
    queue = "nwtest-api-full"  # no worker reads it
    c = redis.Redis.from_url(redis_url)
    page = (EXAMPLES / "sport-city-derby.txt").read_bytes()
    env = {"NEWSWIRE_QUEUE": queue, "NEWSWIRE_MAX_QUEUED": "3", "NEWSWIRE_API_TOKEN": TOKEN}
    try:
        with serving(redis_url, tmp_path / "serve.log", **env) as base:
            c.lpush(queue, *[b"dummy"] * 3)
            assert post(base, page, "text/plain").status_code == 202  # 3 queued: not over
            refused = post(base, page, "text/plain")  # 4 now: over
            assert refused.status_code == 429
            assert int(refused.headers["Retry-After"]) > 0
            assert "NEWSWIRE_MAX_QUEUED" in refused.json()["detail"]
            c.delete(queue)
            assert post(base, page, "text/plain").status_code == 202
    finally:
        c.delete(queue, *c.keys(f"_kombu.binding*{queue}"))
        c.close()


def test_v1_routes_need_the_token_and_it_is_never_logged(api: str, api_log: Path) -> None:
    page = (EXAMPLES / "sport-city-derby.txt").read_bytes()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        for method, path in [("GET", "/v1/stats"), ("GET", "/v1/articles/0123456789abcdef")]:
            response = httpx.request(method, f"{api}{path}", headers=headers, timeout=10)
            assert response.status_code == 401, (headers, path)
            assert response.headers["WWW-Authenticate"] == "Bearer"
        response = httpx.post(
            f"{api}/v1/articles",
            content=page,
            headers={"Content-Type": "text/plain", **headers},
            timeout=10,
        )
        assert response.status_code == 401
    assert httpx.get(f"{api}/v1/stats", headers=AUTH, timeout=10).status_code == 200
    for path in ("/healthz", "/docs", "/openapi.json"):  # open
        assert httpx.get(f"{api}{path}", timeout=10).status_code == 200, path
    # Open too; 200 once the worker's next heartbeat follows the tests' wipe
    # of the prefix.
    assert ready(api)["status"] == "ready"
    assert TOKEN not in api_log.read_text()


def test_readyz_follows_redis(tmp_path: Path) -> None:
    with (
        EmbeddedRedis(tmp_path / "redis", appendonly=False) as own,
        serving(own.url, tmp_path / "serve.log") as base,
    ):
        worker = start_group_worker(own.url, tmp_path / "worker.log", QUICK)
        try:
            ready(base)
            own.stop()
            down = httpx.get(f"{base}/readyz", timeout=10)
            assert down.status_code == 503 and "Redis unavailable" in down.json()["detail"]
            assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
            own.start()
            ready(base)  # the worker beats again once Redis is back
        finally:
            worker.stop()


def test_readyz_wants_a_live_worker(tmp_path: Path) -> None:
    with (
        EmbeddedRedis(tmp_path / "redis", appendonly=False) as own,
        serving(own.url, tmp_path / "serve.log") as base,
    ):
        idle = httpx.get(f"{base}/readyz", timeout=10)
        assert idle.status_code == 503, idle.text
        assert "no live worker" in idle.json()["detail"]
        assert idle.headers["Retry-After"]
        worker = start_group_worker(own.url, tmp_path / "worker.log", QUICK)
        try:
            assert ready(base)["workers"] == 1
            kill_group(worker)
            deadline = time.monotonic() + 30
            while (dead := httpx.get(f"{base}/readyz", timeout=10)).status_code == 200:
                assert time.monotonic() < deadline, "readyz stayed 200 after the worker died"
                time.sleep(0.2)
            assert dead.status_code == 503 and "no live worker" in dead.json()["detail"]
        finally:
            worker.stop()


def ready(base: str, timeout: float = 30) -> dict[str, object]:
    """/readyz's answer once it is 200."""
    deadline = time.monotonic() + timeout
    while (answer := httpx.get(f"{base}/readyz", timeout=10)).status_code != 200:
        assert time.monotonic() < deadline, f"readyz stayed {answer.status_code}: {answer.text}"
        time.sleep(0.1)
    return answer.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1"])
def test_serve_beyond_loopback_without_a_token_exits_2(redis_url: str, host: str) -> None:
    result = run_cli(redis_url, "serve", "--host", host, timeout=30)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "NEWSWIRE_API_TOKEN" in result.stderr


_RECORD = st.fixed_dictionaries(
    {"title": st.text(max_size=60), "body": st.text(max_size=600)},
    optional={"url": st.text(max_size=40), "extra": json_values},
)
_BODIES = st.one_of(
    st.binary(max_size=1500),
    st.text(max_size=1500).map(str.encode),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.lists(_RECORD, max_size=3).map(lambda v: json.dumps(v).encode()),
    st.lists(_RECORD | json_values, max_size=4).map(
        lambda v: "\n".join(json.dumps(x) for x in v).encode()
    ),
)
_CONTENT_TYPES = st.one_of(
    st.sampled_from([*KINDS, "application/json; charset=utf-8", "TEXT/HTML; charset=latin-1"]),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
)


def test_fuzz_post_answers_202_or_a_4xx_with_a_reason(redis_url: str, tmp_path: Path) -> None:
    with warnings.catch_warnings():  # starlette's notice about its httpx client
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from newswire.api import make_api

    queue = "nwtest-api-fuzz"
    config = Settings(
        redis_url=redis_url,
        key_prefix=PREFIX,
        queue=queue,
        data_dir=tmp_path,
        max_payload_bytes=1024,
        api_token=TOKEN,
        _env_file=None,
    )  # type: ignore[call-arg]

    @settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(body=_BODIES, content_type=_CONTENT_TYPES, token=st.sampled_from([TOKEN, "", "x"]))
    def check(body: bytes, content_type: str, token: str) -> None:
        response = http.post(
            "/v1/articles",
            content=body,
            headers={"Content-Type": content_type, "Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 202 or 400 <= response.status_code < 500, response.text
        answer = response.json()
        if response.status_code == 202:
            assert answer["queued"] and all(len(q["id"]) == 16 for q in answer["queued"])
        else:
            assert answer["detail"], response.text

    c = redis.Redis.from_url(redis_url)
    try:
        with TestClient(make_api(config)) as http:
            check()
    finally:
        c.delete(queue, *c.keys(f"_kombu.binding*{queue}"))
        c.close()
