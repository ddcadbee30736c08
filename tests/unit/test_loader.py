"""What the producer accepts and refuses, before anything is queued."""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import resource
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producer.loader import Item, Refusal, load_bytes, load_paths

pytestmark = pytest.mark.hostile

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
    assert str(tmp_path / "latin1.txt") not in reasons  # read as Latin-1: test_loader_charset.py
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


# -- hostile files (issue 24): bounded reads, no hangs, no crashes -----------

MAX_REASON = 200


def short_line(reason: str) -> bool:
    return bool(reason) and "\n" not in reason and "\r" not in reason and len(reason) < MAX_REASON


def summary(results: list[Item | Refusal]) -> list[tuple[str, str, str]]:
    """Picklable: (``item``, source, kind) or (``refusal``, source, reason)."""
    return [
        ("item", r.source, r.article.kind.value)
        if isinstance(r, Item)
        else ("refusal", r.source, r.reason)
        for r in results
    ]


def _child(conn: Connection, job: Callable[[], object], memory: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (memory, hard))
    try:
        conn.send(("ok", job()))
    except BaseException as exc:  # a regression: report it, whatever it is
        conn.send(("error", f"{type(exc).__name__}: {str(exc)[:300]}"))


def guarded(job: Callable[[], object], timeout: float = 20) -> object:
    """``job()`` in a forked child with a deadline and a memory cap, so that a
    regression (a read that blocks or grows without bound) fails this test
    instead of hanging it or exhausting the machine's memory."""
    used = int(Path("/proc/self/statm").read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, job, used + 1_000_000_000), daemon=True)
    started = time.monotonic()
    proc.start()
    child.close()
    try:
        if not parent.poll(timeout):
            raise AssertionError(f"load_paths did not finish within {timeout:.0f}s")
        status, value = parent.recv()
    finally:
        proc.kill()
        proc.join()
    assert status == "ok", value
    assert time.monotonic() - started < timeout
    return value


def load_safely(*paths: Path | str, limit: int = LIMIT) -> list[tuple[str, str, str]]:
    def job() -> list[tuple[str, str, str]]:
        return summary(list(load_paths([str(p) for p in paths], max_payload_bytes=limit)))

    result = guarded(job)
    assert isinstance(result, list)
    return result


def only_refusal(results: list[tuple[str, str, str]]) -> str:
    [(what, _source, reason)] = results
    assert what == "refusal", results
    assert short_line(reason), reason
    return reason


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_symlink_to_dev_zero_is_refused_without_reading_it(tmp_path: Path) -> None:
    (tmp_path / "zero.txt").symlink_to("/dev/zero")
    reason = only_refusal(load_safely(tmp_path / "zero.txt"))
    assert reason == "not a regular file (a character device)"


def test_a_regular_file_is_read_to_the_limit_only_whatever_its_size_says(
    tmp_path: Path,
) -> None:
    # /proc files are regular yet report size 0: only the bytes read count.
    (tmp_path / "maps.txt").symlink_to("/proc/self/maps")
    reason = only_refusal(load_safely(tmp_path / "maps.txt", limit=100))
    assert reason == "over the 100 bytes limit (NEWSWIRE_MAX_PAYLOAD_BYTES)"


def test_fifo_is_refused_without_being_opened(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "x.txt")
    assert only_refusal(load_safely(tmp_path / "x.txt")) == "not a regular file (a FIFO)"


def test_fifo_swapped_in_after_the_check_does_not_block(tmp_path: Path) -> None:
    """Between the stat and the open a regular file can become a FIFO: the open
    must not block, and what was opened is checked again."""
    fifo = tmp_path / "x.txt"
    os.mkfifo(fifo)
    (tmp_path / "regular.txt").write_text("Title - Outlet\nBody.")
    real_stat = os.stat

    def job() -> list[tuple[str, str, str]]:
        def stale_stat(path: object, *args: Any, **kwargs: Any) -> os.stat_result:
            if str(path) == str(fifo):  # what the check saw, a moment earlier
                return real_stat(tmp_path / "regular.txt")
            return real_stat(path, *args, **kwargs)  # type: ignore[arg-type]

        os.stat = stale_stat  # only in the forked child
        return summary(list(load_paths([str(fifo)], max_payload_bytes=LIMIT)))

    result = guarded(job)
    assert isinstance(result, list)
    assert only_refusal(result) == "not a regular file (a FIFO)"


def test_special_files_in_a_directory_are_listed_as_refusals(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.txt")
    (tmp_path / "zero.html").symlink_to("/dev/zero")
    (tmp_path / "gone.txt").symlink_to(tmp_path / "nowhere")
    os.mkfifo(tmp_path / ".hidden-pipe.txt")  # hidden files stay skipped
    (tmp_path / "page.txt").write_text("Title - Outlet\nBody.")
    results = load_safely(tmp_path)
    assert [(what, Path(source).name) for what, source, _ in results] == [
        ("refusal", "gone.txt"),
        ("item", "page.txt"),
        ("refusal", "pipe.txt"),
        ("refusal", "zero.html"),
    ]
    reasons = {Path(source).name: reason for what, source, reason in results if what == "refusal"}
    assert reasons["pipe.txt"] == "not a regular file (a FIFO)"
    assert reasons["zero.html"] == "not a regular file (a character device)"
    assert reasons["gone.txt"].startswith("cannot read")


def test_endless_stdin_is_read_to_the_limit_only() -> None:
    class Endless(io.RawIOBase):
        read_so_far = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            n = len(buffer)
            buffer[:n] = b"a" * n
            self.read_so_far += n
            return n

    stream = Endless()
    results = list(load_paths(["-"], max_payload_bytes=1000, stdin=stream))  # type: ignore[arg-type]
    [refusal] = results
    assert isinstance(refusal, Refusal)
    assert refusal.reason == "over the 64.0 KB limit (NEWSWIRE_MAX_PAYLOAD_BYTES)"
    assert stream.read_so_far <= 64 * 1000 + 1


def test_stdin_over_the_limit_is_refused_whole_rather_than_cut() -> None:
    line = json.dumps({"title": "T", "body": "x" * 80}) + "\n"
    data = (line * (64 * 1000 // len(line) + 5)).encode()
    results = list(load_paths(["-"], max_payload_bytes=1000, stdin=io.BytesIO(data)))
    assert [type(r).__name__ for r in results] == ["Refusal"]


def test_deeply_nested_json_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "deep.json").write_text(nested(100_000))
    reason = only_refusal(load_safely(tmp_path / "deep.json"))
    assert reason == "JSON nested deeper than 100 levels"


def test_deeply_nested_jsonl_line_is_refused_and_its_neighbours_kept(tmp_path: Path) -> None:
    good = json.dumps({"title": "T", "body": "B"})
    deep = '{"title": "T", "x": ' + nested(1_500) + "}"
    (tmp_path / "deep.jsonl").write_text(f"{good}\n{deep}\n{good}\n")
    results = load_safely(tmp_path / "deep.jsonl")
    source = str(tmp_path / "deep.jsonl")
    assert results == [
        ("item", f"{source}:1", "json"),
        ("refusal", f"{source}:2", "JSON nested deeper than 100 levels"),
        ("item", f"{source}:3", "json"),
    ]


def test_json_nested_just_too_deep_for_the_model_gets_a_short_reason(tmp_path: Path) -> None:
    # Deep enough for pydantic's own recursion guard (its error location
    # would be ".list.0" 900 times), not for json.loads.
    (tmp_path / "deep.json").write_text('{"title": "T", "x": ' + nested(900) + "}")
    assert only_refusal(load_safely(tmp_path / "deep.json")) == "JSON nested deeper than 100 levels"


def test_json_within_the_depth_limit_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "ok.json").write_text('{"title": "T", "body": "B", "x": ' + nested(99) + "}")
    brackets = json.dumps({"title": "[[[[" * 100, "body": "{" * 500})
    (tmp_path / "brackets.json").write_text(brackets)
    assert [what for what, _, _ in load_safely(tmp_path)] == ["item", "item"]


def test_huge_json_integer_is_refused(tmp_path: Path) -> None:
    (tmp_path / "big.json").write_text('{"title": "T", "n": ' + "9" * 1_000_000 + "}")
    (tmp_path / "big.jsonl").write_text('{"title": "T", "n": ' + "9" * 5_000 + "}\n")
    results = load_safely(tmp_path)
    assert [reason for _, _, reason in results] == ["JSON integer too long"] * 2


def test_unpaired_surrogate_in_json_is_refused(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text('{"title": "\\ud800", "body": "B"}')
    reason = only_refusal(load_safely(tmp_path / "s.json"))
    assert reason == "JSON string holds an unpaired surrogate (\\ud800)"


def test_nul_byte_anywhere_makes_a_file_binary(tmp_path: Path) -> None:
    data = bytearray(b"Title - Outlet\n" + b"word " * 30_000)
    data[100_000] = 0
    (tmp_path / "late-nul.txt").write_bytes(bytes(data))
    assert "binary content" in only_refusal(load_safely(tmp_path / "late-nul.txt"))


def test_jsonl_lines_split_on_newlines_only(tmp_path: Path) -> None:
    record = {"title": "T", "body": "a\u2028b\x1cc\x85d"}
    (tmp_path / "u.jsonl").write_text(json.dumps(record, ensure_ascii=False) + "\n")
    [item] = load(tmp_path / "u.jsonl")
    assert isinstance(item, Item) and item.article.record == record


HOSTILE: dict[str, Callable[[Path], None]] = {
    "fifo": lambda p: os.mkfifo(p / "hostile.txt"),
    "dev-zero": lambda p: (p / "hostile.txt").symlink_to("/dev/zero"),
    "deep-json": lambda p: (p / "hostile.json").write_text(nested(100_000)),
    "deep-jsonl": lambda p: (p / "hostile.jsonl").write_text(nested(1_500) + "\n"),
    "model-deep-json": lambda p: (p / "hostile.json").write_text('{"x": ' + nested(900) + "}"),
    "big-int": lambda p: (p / "hostile.json").write_text('{"n": ' + "1" * 1_000_000 + "}"),
    "surrogate": lambda p: (p / "hostile.json").write_text('{"title": "\\udfff"}'),
    "late-nul": lambda p: (p / "hostile.txt").write_bytes(b"T - O\n" + b"x" * 100_000 + b"\0"),
}


@pytest.mark.parametrize("hostile", sorted(HOSTILE))
def test_one_hostile_file_never_stops_its_neighbours(tmp_path: Path, hostile: str) -> None:
    (tmp_path / "a.txt").write_text("First - Outlet\nBody one.")
    (tmp_path / "b.json").write_text(json.dumps({"title": "Second", "body": "Body two."}))
    HOSTILE[hostile](tmp_path)
    results = load_safely(tmp_path)
    assert sorted(what for what, _, _ in results) == ["item", "item", "refusal"]
    [reason] = [reason for what, _, reason in results if what == "refusal"]
    assert short_line(reason), reason


def depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=30,
)


@st.composite
def json_records(draw: st.DrawFn) -> dict[str, object]:
    """A record holding arbitrary JSON, sometimes wrapped far too deep."""
    value = draw(JSON_VALUES)
    for wrap in draw(st.lists(st.sampled_from(["list", "dict"]), max_size=250)):
        value = [value] if wrap == "list" else {"k": value}
    return {"title": draw(st.text(max_size=20)), "x": value}


@settings(max_examples=150, deadline=None)
@given(record=json_records(), as_lines=st.booleans(), ascii_only=st.booleans())
def test_any_json_record_becomes_an_item_or_a_short_refusal(
    record: dict[str, object], as_lines: bool, ascii_only: bool
) -> None:
    text = json.dumps(record, ensure_ascii=ascii_only)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("r.jsonl" if as_lines else "r.json")
        path.write_text(text + "\n", encoding="utf-8")
        # The record's shape is what is tested here, not whether it has a body.
        results = list(load_paths([str(path)], max_payload_bytes=LIMIT, require_json_body=False))
    [result] = results
    if depth(record) <= 100:
        assert isinstance(result, Item), result
        assert result.article.record == record
    else:
        assert isinstance(result, Refusal)
        assert result.reason == "JSON nested deeper than 100 levels"


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=3000) | st.text(max_size=1000).map(str.encode),
    suffix=st.sampled_from([".txt", ".html", ".htm", ".json", ".jsonl", ".pdf"]),
)
def test_any_file_becomes_items_or_short_refusals(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"f{suffix}"
        path.write_bytes(data)
        results = list(load_paths([str(path)], max_payload_bytes=1000))
    assert results
    for result in results:
        assert isinstance(result, Item | Refusal)
        if isinstance(result, Refusal):
            assert short_line(result.reason), result.reason
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = None
    pages = suffix in (".txt", ".html", ".htm")
    if pages and text and text.strip() and "\0" not in text and len(data) <= 1000:
        [item] = results
        assert isinstance(item, Item) and item.article.text == text
    elif pages and text is None and data.strip() and len(data) <= 1000:
        assert len(results) == 1  # another encoding: read as text, or refused as none
    elif pages or suffix == ".pdf":
        [refusal] = results
        assert isinstance(refusal, Refusal)
