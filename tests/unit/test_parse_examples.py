"""The example pages shipped for the demo, of each payload kind, through parse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from worker.pipeline.models import PayloadKind, RawArticle
from worker.pipeline.parse import parse

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "newswire" / "examples"


def _example(path: Path) -> RawArticle:
    if path.suffix == ".json":
        return RawArticle(
            kind=PayloadKind.JSON, record=json.loads(path.read_text(encoding="utf-8"))
        )
    kind = PayloadKind.HTML if path.suffix == ".html" else PayloadKind.TEXT
    return RawArticle(kind=kind, text=path.read_text(encoding="utf-8"))


EXAMPLE_FILES = sorted(p for p in EXAMPLES.glob("*") if p.suffix in {".txt", ".html", ".json"})


def test_there_are_examples_of_each_kind() -> None:
    suffixes = [p.suffix for p in EXAMPLE_FILES]
    assert suffixes.count(".txt") >= 4
    assert ".html" in suffixes and ".json" in suffixes


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_examples_parse_cleanly(path: Path) -> None:
    article = parse(_example(path))
    assert article.title and article.outlet
    assert 5 <= len(article.paragraphs) <= 10
    if path.suffix == ".txt":
        assert 3 <= len(article.related) <= 4
        assert all(item.title and item.teaser for item in article.related)
        assert not any(item.title in article.body for item in article.related)
