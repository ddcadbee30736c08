"""What the producer accepts and refuses, before anything is queued."""

from __future__ import annotations

import io
import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from producer.loader import Item, Refusal, load_bytes, load_paths

LIMIT = 2_000_000


def load(*paths: Path | str, stdin: bytes | None = None) -> list[Item | Refusal]:
    return list(
        load_paths(
            [str(p) for p in paths],
            max_payload_bytes=LIMIT,
            stdin=io.BytesIO(stdin) if stdin is not None else None,
        )
    )


def refusals(results: list[Item | Refusal]) -> dict[str, str]:
    return {r.source: r.reason for r in results if isinstance(r, Refusal)}


def test_text_html_json_and_jsonl_files(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Title - Outlet\nBody line.")
    (tmp_path / "b.html").write_text("<html><title>T</title><body><p>x</p></body></html>")
    (tmp_path / "c.json").write_text(json.dumps({"title": "T", "body": "B"}))
    (tmp_path / "d.jsonl").write_text(
        '{"title": "1", "body": "x"}\n\n{"title": "2", "body": "y"}\n'
    )
    results = load(tmp_path)
    kinds = [(Path(r.source).name, r.article.kind.value) for r in results if isinstance(r, Item)]
    assert kinds == [
        ("a.txt", "text"),
        ("b.html", "html"),
        ("c.json", "json"),
        ("d.jsonl:1", "json"),
        ("d.jsonl:3", "json"),
    ]


def test_directories_are_walked_recursively(tmp_path: Path) -> None:
    (tmp_path / "x" / "y").mkdir(parents=True)
    (tmp_path / "x" / "y" / "deep.txt").write_text("Deep - Outlet\nBody.")
    (tmp_path / ".hidden.txt").write_text("ignored")
    assert [Path(r.source).name for r in load(tmp_path)] == ["deep.txt"]


def test_empty_binary_oversized_and_unknown_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "blank.txt").write_text("  \n\n ")
    (tmp_path / "binary.txt").write_bytes(bytes(range(256)) * 10)
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (tmp_path / "huge.txt").write_bytes(b"word " * 2_000_000)  # 10 MB
    (tmp_path / "doc.pdf").write_bytes(b"%PDF-1.4")
    reasons = refusals(load(tmp_path))
    assert reasons[str(tmp_path / "empty.txt")] == "empty file"
    assert reasons[str(tmp_path / "blank.txt")] == "empty file"
    assert "binary content" in reasons[str(tmp_path / "binary.txt")]
    assert "not UTF-8" in reasons[str(tmp_path / "latin1.txt")]
    assert "10.0 MB is over the 2.0 MB limit" in reasons[str(tmp_path / "huge.txt")]
    assert "unsupported file type '.pdf'" in reasons[str(tmp_path / "doc.pdf")]


def test_bad_json_is_refused_with_the_position(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"title": ')
    (tmp_path / "list.json").write_text("[1, {}]")
    (tmp_path / "lines.jsonl").write_text('{"title": "ok", "body": "b"}\nnot json\n')
    reasons = refusals(load(tmp_path))
    assert reasons[str(tmp_path / "bad.json")].startswith("invalid JSON: Expecting value at line 1")
    assert (
        reasons[str(tmp_path / "list.json") + "[0]"] == "a JSON record must be an object, not int"
    )
    assert "empty" in reasons[str(tmp_path / "list.json") + "[1]"]
    assert reasons[str(tmp_path / "lines.jsonl") + ":2"].startswith("invalid JSON")


def test_missing_file_is_refused(tmp_path: Path) -> None:
    reasons = refusals(load(tmp_path / "nope.txt"))
    assert "cannot read" in reasons[str(tmp_path / "nope.txt")]


def test_stdin_is_sniffed() -> None:
    [text] = load("-", stdin=b"Title - Outlet\nBody")
    [html] = load("-", stdin=b"<!doctype html><html><body><p>Hi</p></body></html>")
    lines = load("-", stdin=b'{"title": "a", "body": "b"}\n{"title": "c", "body": "d"}\n')
    assert isinstance(text, Item) and text.article.kind == "text"
    assert isinstance(html, Item) and html.article.kind == "html"
    assert [r.article.kind for r in lines if isinstance(r, Item)] == ["json", "json"]


def test_url_of_a_json_record_is_kept(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text(
        json.dumps({"title": "T", "body": "B", "url": "https://x.test/a"})
    )
    [item] = load(tmp_path / "r.json")
    assert isinstance(item, Item) and item.article.url == "https://x.test/a"


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=3000), kind=st.sampled_from([None, "text", "html", "json", "jsonl"]))
def test_any_bytes_become_items_or_refusals(data: bytes, kind: str | None) -> None:
    for result in load_bytes("fuzz", data, kind, 1000):
        assert isinstance(result, Item | Refusal)
        if isinstance(result, Refusal):
            assert result.reason  # always says why
