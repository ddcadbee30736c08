"""Turn files, directories and stdin into RawArticles, or refusals with reasons.

Refusals happen here, before anything is queued, for what can never become an
article: empty or binary files, files over the size limit, unsupported types,
malformed JSON.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pydantic import ValidationError

from worker.contract import PayloadKind, RawArticle

__all__ = ["SUPPORTED_SUFFIXES", "Item", "Refusal", "load_paths"]

SUPPORTED_SUFFIXES = {
    ".txt": "text",
    ".html": "html",
    ".htm": "html",
    ".json": "json",
    ".jsonl": "jsonl",
}


@dataclass(frozen=True, slots=True)
class Item:
    source: str
    article: RawArticle


@dataclass(frozen=True, slots=True)
class Refusal:
    source: str
    reason: str


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB"


def _too_big(size: int, limit: int) -> str:
    return f"{_mb(size)} is over the {_mb(limit)} limit (NEWSWIRE_MAX_PAYLOAD_BYTES)"


def _decode(data: bytes) -> str:
    """UTF-8 text, or a ValueError saying why these bytes are not text."""
    if b"\0" in data[:65536]:
        raise ValueError("binary content (NUL bytes), not a text page")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err.get("loc", ()))
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{loc}: {msg}" if loc else msg


def _build(source: str, **fields: object) -> Item | Refusal:
    try:
        return Item(source, RawArticle.model_validate({"source": source, **fields}))
    except ValidationError as exc:
        return Refusal(source, _first_error(exc))


def _records(source: str, text: str, kind: str, limit: int) -> Iterator[Item | Refusal]:
    if kind == "jsonl":
        lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
        if not lines:
            yield Refusal(source, "empty file")
        for n, line in lines:
            yield from _one_record(f"{source}:{n}", line, limit)
        return
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        yield Refusal(source, f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
        return
    if isinstance(value, list):
        if not value:
            yield Refusal(source, "empty JSON list")
        for n, record in enumerate(value):
            yield _record_item(f"{source}[{n}]", record, limit)
    else:
        yield _record_item(source, value, limit)


def _one_record(source: str, line: str, limit: int) -> Iterator[Item | Refusal]:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        yield Refusal(source, f"invalid JSON: {exc.msg} at column {exc.colno}")
        return
    yield _record_item(source, value, limit)


def _record_item(source: str, value: object, limit: int) -> Item | Refusal:
    if not isinstance(value, dict):
        return Refusal(source, f"a JSON record must be an object, not {type(value).__name__}")
    size = len(json.dumps(value, ensure_ascii=False).encode())
    if size > limit:
        return Refusal(source, _too_big(size, limit))
    url = value.get("url") or value.get("link")
    return _build(
        source, kind=PayloadKind.JSON, record=value, url=url if isinstance(url, str) else None
    )


def _sniff(text: str) -> str:
    head = text.lstrip()[:1]
    if head in "{[" and head:
        return "json" if head == "[" or text.strip().count("\n") == 0 else "jsonl"
    if head == "<":
        return "html"
    return "text"


def load_bytes(source: str, data: bytes, kind: str | None, limit: int) -> Iterator[Item | Refusal]:
    """Items from one file's (or stdin's) bytes; ``kind`` None means sniff it."""
    if not data.strip():
        yield Refusal(source, "empty file")
        return
    try:
        text = _decode(data)
    except ValueError as exc:
        yield Refusal(source, str(exc))
        return
    kind = kind or _sniff(text)
    if kind in ("json", "jsonl"):
        if kind == "json" and len(data) > limit:
            yield Refusal(source, _too_big(len(data), limit))
            return
        yield from _records(source, text, kind, limit)
        return
    if len(data) > limit:
        yield Refusal(source, _too_big(len(data), limit))
        return
    yield _build(source, kind=kind, text=text)


def _read_capped(stream: BinaryIO, cap: int) -> bytes:
    return stream.read(cap + 1)


def _files(paths: Iterable[str]) -> Iterator[tuple[str, Path | None]]:
    for p in paths:
        if p == "-":
            yield "-", None
            continue
        path = Path(p)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and not child.name.startswith("."):
                    yield str(child), child
        else:
            yield p, path


def load_paths(
    paths: Iterable[str], *, max_payload_bytes: int, stdin: BinaryIO | None = None
) -> Iterator[Item | Refusal]:
    """Every article found under ``paths`` ("-" is stdin), in order."""
    # A .jsonl file (or stdin) may be bigger than one payload; each record is
    # still held to the limit.
    jsonl_cap = 64 * max_payload_bytes
    for source, path in _files(paths):
        if path is None:
            stream = stdin or sys.stdin.buffer
            data = _read_capped(stream, jsonl_cap)
            yield from load_bytes("<stdin>", data, None, max_payload_bytes)
            continue
        kind = SUPPORTED_SUFFIXES.get(path.suffix.lower())
        if kind is None:
            expected = ", ".join(SUPPORTED_SUFFIXES)
            yield Refusal(
                source,
                f"unsupported file type {path.suffix or '(none)'!r}; expected one of {expected}",
            )
            continue
        try:
            size = path.stat().st_size
            cap = jsonl_cap if kind == "jsonl" else max_payload_bytes
            if size > cap:
                yield Refusal(source, _too_big(size, cap))
                continue
            data = path.read_bytes()
        except OSError as exc:
            yield Refusal(source, f"cannot read: {exc.strerror or exc}")
            continue
        yield from load_bytes(source, data, kind, max_payload_bytes)
