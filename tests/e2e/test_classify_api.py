"""`POST /v1/classify` (issue 19) on a real `newswire serve`: the same answers
as `newswire classify`, nothing stored or queued, the token required, and
413/415/422 as for POST /v1/articles."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from hypothesis import HealthCheck, given, settings

from config.settings import Settings
from tests.conftest import PREFIX, QUEUE, ROOT, clean_env
from tests.e2e.test_api import _BODIES, _CONTENT_TYPES, AUTH, LIMIT, TOKEN, serving

pytestmark = pytest.mark.e2e

ITEMS = [
    {"title": "Striker signs for the champions", "body": "The club paid a record fee."},
    {"text": "The film festival opened with the premiere of a new comedy."},
    {"title": "Parliament passes the budget", "body": ["The prime minister won.", "By twelve."]},
]


@pytest.fixture(scope="module")
def api(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {"NEWSWIRE_API_TOKEN": TOKEN, "NEWSWIRE_MAX_PAYLOAD_BYTES": str(LIMIT)}
    log = tmp_path_factory.mktemp("classify-api") / "serve.log"
    with serving(redis_url, log, **env) as base:
        yield base


def classify(base: str, body: bytes, content_type: str, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{base}/v1/classify",
        content=body,
        headers={**AUTH, "Content-Type": content_type, **headers},
        timeout=30,
    )


def cli_answers(lines: list[str]) -> list[dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-m", "newswire.cli", "classify", "-", "--json"],
        input="\n".join(lines).encode(),
        capture_output=True,
        env=clean_env(),
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    for answer in answers:
        del answer["line"]
    return answers


def test_an_object_a_list_and_plain_text_answer_as_the_cli_does(
    api: str, client: redis.Redis
) -> None:
    expected = cli_answers([json.dumps(item) for item in ITEMS])
    assert [e["topic"] for e in expected] == ["sport", "entertainment", "geopolitics"]

    one = classify(api, json.dumps(ITEMS[0]).encode(), "application/json")
    assert one.status_code == 200, one.text
    assert one.json() == expected[0]

    many = classify(api, json.dumps(ITEMS).encode(), "application/json")
    assert many.status_code == 200, many.text
    assert many.json() == expected

    text = classify(api, str(ITEMS[1]["text"]).encode(), "text/plain; charset=utf-8")
    assert text.status_code == 200, text.text
    assert text.json() == expected[1]

    # Nothing stored, nothing queued.
    assert list(client.scan_iter(match=f"{PREFIX}:*")) == []
    assert client.llen(QUEUE) == 0


def test_refusals_say_why(api: str, tmp_path: Path) -> None:
    cases = [
        (b"x" * (LIMIT + 1), "text/plain", 413, "NEWSWIRE_MAX_PAYLOAD_BYTES"),
        (b"<p>hi</p>", "text/html", 415, "Content-Type"),
        (b'{"title": ', "application/json", 422, "not valid JSON"),
        (b'{"url": "https://example.org/"}', "application/json", 422, "no title, body or text"),
        (b'[{"title": "ok"}, 3]', "application/json", 422, "item 1: expected a JSON object"),
        (b"[]", "application/json", 422, "a list of 1 to"),
        (b"\xff\xfe", "text/plain", 422, "not UTF-8"),
    ]
    for body, content_type, status, reason in cases:
        response = classify(api, body, content_type)
        assert response.status_code == status, (body[:20], response.text)
        assert reason in response.json()["detail"], response.text


def test_the_token_is_required(api: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = httpx.post(
            f"{api}/v1/classify",
            content=b"Goal in the last minute",
            headers={"Content-Type": "text/plain", **headers},
            timeout=10,
        )
        assert response.status_code == 401


def test_fuzz_classify_answers_200_or_a_4xx_with_a_reason(redis_url: str, tmp_path: Path) -> None:
    with warnings.catch_warnings():  # starlette's notice about its httpx client
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from newswire.api import make_api

    config = Settings(
        redis_url=redis_url,
        key_prefix=PREFIX,
        queue=QUEUE,
        data_dir=tmp_path,
        max_payload_bytes=1024,
        _env_file=None,
    )  # type: ignore[call-arg]

    @settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(body=_BODIES, content_type=_CONTENT_TYPES)
    def check(body: bytes, content_type: str) -> None:
        response = http.post("/v1/classify", content=body, headers={"Content-Type": content_type})
        assert response.status_code == 200 or 400 <= response.status_code < 500, response.text
        answer = response.json()
        if response.status_code == 200:
            for result in answer if isinstance(answer, list) else [answer]:
                assert set(result["scores"]) == {"geopolitics", "sport", "entertainment", "other"}
                assert result["topic"] in result["scores"]
        else:
            assert answer["detail"], response.text

    with TestClient(make_api(config)) as http:
        check()
