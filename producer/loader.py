"""Turn files, directories and stdin into RawArticles, or refusals with reasons.

Refusals happen here, before anything is queued, for what can never become an
article: empty or binary files, files over the size limit, unsupported types,
special files (FIFOs, devices, sockets), malformed or hostile JSON, and JSON
records without a body, which the worker could only dead-letter (unless
``require_json_body=False``). Nothing a file holds makes
``load_paths`` raise, block, or read more than the limit.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import stat
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import charset_normalizer
from pydantic import JsonValue, ValidationError

from worker.contract import JSON_BODY_KEYS, PayloadKind, RawArticle, json_field_key

__all__ = ["SUPPORTED_SUFFIXES", "Item", "Refusal", "load_bytes", "load_paths"]

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


# Real news records nest a few levels (a record, a list of authors, an object
# per author). 100 leaves ample room while staying well below both Python's
# recursion limit (json.loads, json.dumps) and pydantic-core's recursion guard
# (about 255 levels), whose error would otherwise name every level it passed.
MAX_JSON_DEPTH = 100
# A refusal reason is printed on one line after the file name.
MAX_REASON_CHARS = 200
_TOO_DEEP = f"JSON nested deeper than {MAX_JSON_DEPTH} levels"


@dataclass(frozen=True, slots=True)
class Refusal:
    source: str
    reason: str

    def __post_init__(self) -> None:
        # Whatever built it, a reason is one short line.
        reason = " ".join(self.reason.split()) or "refused"
        if len(reason) > MAX_REASON_CHARS:
            reason = reason[: MAX_REASON_CHARS - 1] + "…"
        object.__setattr__(self, "reason", reason)


def _size(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f} MB"
    return f"{n / 1000:.1f} KB" if n >= 1000 else f"{n} bytes"


def _too_big(size: int | None, limit: int) -> str:
    """``size`` None: more than ``limit`` bytes were there, how many more is unknown."""
    over = f"over the {_size(limit)} limit (NEWSWIRE_MAX_PAYLOAD_BYTES)"
    return over if size is None else f"{_size(size)} is {over}"


def _decode(data: bytes) -> str:
    """The text in ``data``, or a ValueError saying why these bytes are not text.

    UTF-8 (the bytes of any other encoding are almost never valid UTF-8),
    else the charset the page declares (``<meta charset>``, ``http-equiv``,
    an XML declaration), else Windows-1252 for Western text, else what
    charset-normalizer detects. Bytes no encoding reads sensibly are refused.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise ValueError("not UTF-16 text, though it starts with a UTF-16 mark") from None
    if b"\0" in data:
        raise ValueError("binary content (NUL bytes), not a text page")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        not_utf8 = f"byte 0x{data[exc.start]:02x} at offset {exc.start} is not UTF-8"
    for encoding in (_declared_charset(data), "cp1252"):
        if encoding is None:
            continue
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding != "cp1252" or _reads_as_western(text):
            return text
    best = charset_normalizer.from_bytes(data).best()
    if best is None:
        raise ValueError(f"not text in any encoding found ({not_utf8})")
    return str(best)


# A declared charset, in the first bytes of a page: <meta charset="...">,
# <meta http-equiv="Content-Type" content="text/html; charset=...">, or
# <?xml ... encoding="..."?>.
_DECLARED_CHARSET = re.compile(
    rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([\w.:-]{1,40})"""
    rb"""|<\?xml[^>]{0,100}?encoding\s*=\s*["']([\w.:-]{1,40})""",
    re.IGNORECASE,
)
_DECLARED_WINDOW = 4096
# What browsers read these labels as (the WHATWG Encoding Standard): pages
# labelled Latin-1 or ASCII are Windows-1252 (curly quotes, euro sign and all).
_LABEL_ALIASES = {"iso8859-1": "cp1252", "ascii": "cp1252"}
# Western text decoded as Windows-1252 has a few accented letters among
# ASCII ones; Cyrillic or Greek bytes read so are almost all "accented".
_WESTERN_MAX_SHARE = 0.3


def _declared_charset(data: bytes) -> str | None:
    """The Python codec for the charset the page declares, if it names one."""
    match = _DECLARED_CHARSET.search(data[:_DECLARED_WINDOW])
    if match is None:
        return None
    label = (match.group(1) or match.group(2)).decode("ascii").lower()
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    if name.startswith(("utf-16", "utf-32")):
        return None  # a declaration read as ASCII is not in UTF-16: a wrong label
    return _LABEL_ALIASES.get(name, name)


def _reads_as_western(text: str) -> bool:
    letters = sum(1 for c in text if c.isalpha())
    accented = sum(1 for c in text if c.isalpha() and not c.isascii())
    return accented <= _WESTERN_MAX_SHARE * letters


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    parts = [str(p) for p in err.get("loc", ())]
    loc = ".".join(parts[:4]) + (".…" if len(parts) > 4 else "")
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{loc}: {msg}" if loc else msg


def _build(source: str, **fields: object) -> Item | Refusal:
    try:
        return Item(source, RawArticle.model_validate({"source": source, **fields}))
    except ValidationError as exc:
        return Refusal(source, _first_error(exc))
    except RecursionError:  # belt and braces: _parse already refused deep records
        return Refusal(source, _TOO_DEEP)


# A JSON string (escapes included) or one bracket: brackets inside strings do
# not nest anything.
_STRING_OR_BRACKET = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
_LINE_BREAK = re.compile(r"\r\n?|\n")


def _too_deep(text: str) -> bool:
    """Whether the JSON ``text`` nests over MAX_JSON_DEPTH, found without recursion."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return False  # the usual case, at the cost of two C-speed counts
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        opener = match.group()[0]
        if opener in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return True
        elif opener != '"':
            depth -= 1
    return False


def _parse(text: str, *, one_line: bool = False) -> object:
    """``json.loads``, or a ValueError whose message is a short refusal reason."""
    if _too_deep(text):
        raise ValueError(_TOO_DEEP)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"column {exc.colno}" if one_line else f"line {exc.lineno} column {exc.colno}"
        raise ValueError(f"invalid JSON: {exc.msg} at {where}") from None
    except RecursionError:
        raise ValueError(_TOO_DEEP) from None
    except ValueError:  # Python refuses to convert over 4300 digits to an int
        raise ValueError("JSON integer too long") from None


def _records(source: str, text: str, kind: str, limit: int) -> Iterator[Item | Refusal]:
    if kind == "jsonl":
        # Not str.splitlines(): it also breaks at U+2028, U+0085 and others
        # that a JSON string may hold as they are.
        numbered = enumerate(_LINE_BREAK.split(text), 1)
        lines = [(n, line) for n, line in numbered if line.strip()]
        if not lines:
            yield Refusal(source, "empty file")
        for n, line in lines:
            yield _one_record(f"{source}:{n}", line, limit)
        return
    try:
        value = _parse(text)
    except ValueError as exc:
        yield Refusal(source, str(exc))
        return
    if isinstance(value, list):
        if not value:
            yield Refusal(source, "empty JSON list")
        for n, record in enumerate(value):
            yield _record_item(f"{source}[{n}]", record, limit)
    else:
        yield _record_item(source, value, limit)


def _one_record(source: str, line: str, limit: int) -> Item | Refusal:
    try:
        value = _parse(line, one_line=True)
    except ValueError as exc:
        return Refusal(source, str(exc))
    return _record_item(source, value, limit)


def _record_item(source: str, value: object, limit: int) -> Item | Refusal:
    if not isinstance(value, dict):
        return Refusal(source, f"a JSON record must be an object, not {type(value).__name__}")
    dumped = json.dumps(value, ensure_ascii=False)
    try:
        size = len(dumped.encode())
    except UnicodeEncodeError as exc:  # a lone "\ud800" escape: valid JSON, not text
        code = ord(exc.object[exc.start])
        return Refusal(source, f"JSON string holds an unpaired surrogate (\\u{code:04x})")
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


def load_bytes(
    source: str, data: bytes, kind: str | None, limit: int, *, require_json_body: bool = False
) -> Iterator[Item | Refusal]:
    """Items from one file's (or stdin's) bytes; ``kind`` None means sniff it.
    With ``require_json_body``, a JSON record without a body is refused, as
    ``load_paths`` does."""
    found = _load_bytes(source, data, kind, limit)
    return map(_with_body, found) if require_json_body else found


def _load_bytes(source: str, data: bytes, kind: str | None, limit: int) -> Iterator[Item | Refusal]:
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
    """At most ``cap + 1`` bytes: one more than ``cap`` means "over"."""
    return stream.read(cap + 1)


_SPECIAL = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
}
# O_NONBLOCK: a FIFO swapped in after the check must not block the open.
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | os.O_CLOEXEC


def _not_to_read(status: os.stat_result, cap: int) -> str | None:
    """Why a file with this status is not read: not a regular file, or too big."""
    if not stat.S_ISREG(status.st_mode):
        kind = _SPECIAL.get(stat.S_IFMT(status.st_mode), "of an unknown type")
        return f"not a regular file ({kind})"
    return _too_big(status.st_size, cap) if status.st_size > cap else None


def _read_file(path: Path, cap: int) -> bytes | str:
    """The file's bytes, or why not. Only a regular file is opened (a FIFO or a
    device could block or never end), and at most ``cap + 1`` bytes are read
    whatever size it claims (/proc files claim 0)."""
    try:
        why = _not_to_read(os.stat(path), cap)
        if why:
            return why
        fd = os.open(path, _OPEN_FLAGS)
        with open(fd, "rb") as stream:
            why = _not_to_read(os.fstat(fd), cap)  # what was opened, not what was checked
            if why:
                return why
            data = _read_capped(stream, cap)
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    return data if len(data) <= cap else _too_big(None, cap)


def _files(paths: Iterable[str]) -> Iterator[tuple[str, Path | None]]:
    for p in paths:
        if p == "-":
            yield "-", None
            continue
        path = Path(p)
        if path.is_dir():
            # Every non-hidden entry but directories: a FIFO, a device or a
            # broken link is refused with a reason, not skipped unseen.
            for child in sorted(path.rglob("*")):
                if not child.is_dir() and not child.name.startswith("."):
                    yield str(child), child
        else:
            yield p, path


def _usable(value: JsonValue) -> bool:
    """Whether the parser could read some text from a body field's value (a
    value of the wrong type is let through: the worker names the type)."""
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list):
        return any(_usable(v) for v in value)
    return value is not None


def _with_body(result: Item | Refusal) -> Item | Refusal:
    """``result``, or a refusal for a JSON record without a body field the
    worker reads: it could only be dead-lettered as not_an_article."""
    record = result.article.record if isinstance(result, Item) else None
    if record is None:
        return result
    names = JSON_BODY_KEYS
    if any(json_field_key(k) in names and _usable(v) for k, v in record.items()):
        return result
    fields = f"{', '.join(names[:-1])} or {names[-1]}"
    return Refusal(result.source, f"no article body: none of the fields {fields} holds text")


def load_paths(
    paths: Iterable[str],
    *,
    max_payload_bytes: int,
    stdin: BinaryIO | None = None,
    require_json_body: bool = True,
) -> Iterator[Item | Refusal]:
    """Every article found under ``paths`` ("-" is stdin), in order. A JSON
    record without a body is refused too, unless ``require_json_body`` is
    False."""
    found = _load_paths(paths, max_payload_bytes, stdin)
    return map(_with_body, found) if require_json_body else found


def _load_paths(
    paths: Iterable[str], max_payload_bytes: int, stdin: BinaryIO | None
) -> Iterator[Item | Refusal]:
    # A .jsonl file (or stdin) may be bigger than one payload; each record is
    # still held to the limit.
    jsonl_cap = 64 * max_payload_bytes
    for source, path in _files(paths):
        if path is None:
            piped = _read_capped(stdin or sys.stdin.buffer, jsonl_cap)
            if len(piped) > jsonl_cap:  # refused whole, as a file would be, not cut
                yield Refusal("<stdin>", _too_big(None, jsonl_cap))
            else:
                yield from load_bytes("<stdin>", piped, None, max_payload_bytes)
            continue
        kind = SUPPORTED_SUFFIXES.get(path.suffix.lower())
        if kind is None:
            expected = ", ".join(SUPPORTED_SUFFIXES)
            yield Refusal(
                source,
                f"unsupported file type {path.suffix or '(none)'!r}; expected one of {expected}",
            )
            continue
        data = _read_file(path, jsonl_cap if kind == "jsonl" else max_payload_bytes)
        if isinstance(data, str):
            yield Refusal(source, data)
        else:
            yield from load_bytes(source, data, kind, max_payload_bytes)
