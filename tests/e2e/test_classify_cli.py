"""`newswire classify` (issue 19): the real command on lines of text and JSON,
without Redis or a worker, and what it says about lines it cannot read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, clean_env
from worker.model import load_model

pytestmark = pytest.mark.e2e

HEADLINES = [
    "Manchester United beat Chelsea 3-1 to go top of the league",
    json.dumps(
        {
            "title": "Parliament passes the budget after a late-night vote",
            "body": "The prime minister won the vote by twelve; the opposition leader "
            "said the government had broken its promises on taxes.",
        }
    ),
    json.dumps({"text": "The film festival opened with the premiere of a new comedy."}),
    json.dumps({"title": "Orchestra", "body": ["The tour opens in Vienna.", "Tickets sold out."]}),
]


def classify(
    *args: str, stdin: bytes, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """`newswire classify ARGS` as a user runs it: no Redis configured or running."""
    environment = clean_env(NEWSWIRE_REDIS_URL="redis://127.0.0.1:1/0", **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "newswire.cli", "classify", *args],
        input=stdin,
        capture_output=True,
        env=environment,
        cwd=ROOT,
        timeout=120,
    )


def test_each_line_gets_the_models_topic_confidence_and_scores() -> None:
    done = classify("-", "--json", stdin="\n".join(HEADLINES).encode() + b"\n")
    assert done.returncode == 0, done.stderr.decode()
    assert done.stderr == b""
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert [a["line"] for a in answers] == [1, 2, 3, 4]
    assert [a["topic"] for a in answers] == [
        "sport",
        "geopolitics",
        "entertainment",
        "entertainment",
    ]
    # The same numbers the model gives in-process, for the text the worker would read.
    model = load_model()
    expected = model.predict_many(
        [
            HEADLINES[0],
            "Parliament passes the budget after a late-night vote\nThe prime minister won the "
            "vote by twelve; the opposition leader said the government had broken its "
            "promises on taxes.",
            "The film festival opened with the premiere of a new comedy.",
            "Orchestra\nThe tour opens in Vienna.\n\nTickets sold out.",
        ]
    )
    for answer, want in zip(answers, expected, strict=True):
        assert answer["scores"] == want.scores
        assert answer["confidence"] == pytest.approx(want.confidence, abs=1e-4)
        assert answer["model_version"] == want.model_version
        assert set(answer["scores"]) == {"geopolitics", "sport", "entertainment", "other"}


def test_plain_output_and_a_file_argument(tmp_path: Path) -> None:
    source = tmp_path / "headlines.txt"
    source.write_text(HEADLINES[0] + "\n\n" + HEADLINES[2] + "\n")
    done = classify(str(source), stdin=b"")
    assert done.returncode == 0, done.stderr.decode()
    lines = done.stdout.decode().splitlines()
    assert len(lines) == 2  # the blank line is skipped, its number kept
    assert lines[0].startswith("1\tsport ")
    assert lines[1].startswith("3\tentertainment ")


def test_unreadable_lines_are_named_one_line_each_and_the_rest_answered() -> None:
    stdin = b"\n".join(
        [
            HEADLINES[0].encode(),
            b'{"title": "unterminated',
            b'{"author": "nobody", "url": "https://example.org/"}',
            b"\xff\xfe not utf-8",
            b"[1, 2]",  # not an object: read as a plain headline
            HEADLINES[2].encode(),
        ]
    )
    done = classify("-", "--json", stdin=stdin)
    assert done.returncode == 1
    errors = done.stderr.decode().splitlines()
    assert errors[0].startswith("line 2: not valid JSON")
    assert errors[1] == "line 3: the JSON object has no title, body or text to classify"
    assert errors[2].startswith("line 4: not UTF-8")
    assert errors[3] == "3 line(s) refused"
    assert len(errors) == 4
    assert "Traceback" not in done.stderr.decode()
    answered = [json.loads(line)["line"] for line in done.stdout.splitlines()]
    assert answered == [1, 5, 6]


def test_a_missing_or_broken_model_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    broken = tmp_path / "model.npz"
    broken.write_bytes(b"not a model")
    for env in (
        {"NEWSWIRE_MODEL_PATH": str(broken)},
        {"NEWSWIRE_MODEL_PATH": str(tmp_path / "none")},
    ):
        done = classify("-", stdin=b"hello\n", env=env)
        assert done.returncode == 1
        message = done.stderr.decode()
        assert message.startswith("Error: ") and "Traceback" not in message
        assert str(tmp_path) in message
