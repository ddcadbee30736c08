"""The ``json`` path: a record of named fields.

The record's common field names (title/headline, body/content, url/link,
...) are mapped; the fields it does not know go to ``metadata``.
"""

from __future__ import annotations

import json as _json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

import lxml.etree  # type: ignore[import-untyped]  # no stubs installed
import lxml.html  # type: ignore[import-untyped]
from pydantic import JsonValue

from worker.pipeline.errors import ParseError
from worker.pipeline.fields import field_key
from worker.pipeline.models import ParsedArticle
from worker.pipeline.parse.article import _finish, _language, _split_authors, _unique
from worker.pipeline.parse.patterns import (
    _AUTHOR_KEYS,
    _BLOCK_TAGS,
    _BODY_KEYS,
    _DATE_KEYS,
    _HTML_MARKUP,
    _JUNK_TAGS,
    _LANGUAGE_KEYS,
    _OUTLET_KEYS,
    _TITLE_KEYS,
    _URL_KEYS,
)
from worker.pipeline.parse.text import _split_teasers, _strip_outlet_suffix
from worker.pipeline.text import clean_line, clean_text, sanitize

# Epoch timestamps above this are in milliseconds.
_EPOCH_MS_THRESHOLD: Final = 100_000_000_000
# Unmapped fields kept with a stored article: at most this much JSON in all,
# and names at most this long; the names of those left out, up to a count.
MAX_METADATA_BYTES: Final = 16_384
MAX_METADATA_KEY_CHARS: Final = 100
MAX_DROPPED_NAMES: Final = 20


def _type_name(value: JsonValue) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")


class _Record:
    """Field lookup by alias over a JSON record; remembers which keys it used."""

    def __init__(self, record: dict[str, JsonValue]) -> None:
        self.record = record
        self.used: set[str] = set()
        self._by_alias: dict[str, list[str]] = {}
        for key in record:
            self._by_alias.setdefault(field_key(key), []).append(key)

    def pick(self, aliases: Sequence[str]) -> tuple[str, JsonValue] | None:
        """First present, non-null, non-blank field among ``aliases``."""
        for alias in aliases:
            for key in self._by_alias.get(alias, ()):
                value = self.record[key]
                if value is None or (isinstance(value, str) and not value.strip()):
                    continue
                self.used.add(key)
                return key, value
        return None

    def metadata(self) -> dict[str, JsonValue]:
        """The fields newswire does not map, kept with the article while they
        are small: a record must not grow the store by its own junk (a 1.5 MB
        record once came with a 250-byte article). What is left out is named
        in ``dropped_fields``."""
        kept: dict[str, JsonValue] = {}
        dropped: list[str] = []
        budget = MAX_METADATA_BYTES
        for key, value in self.record.items():
            if key in self.used:
                continue
            size = len(key) + len(_json.dumps(value, ensure_ascii=False, default=str))
            if len(key) > MAX_METADATA_KEY_CHARS or size > budget:
                dropped.append(key[:MAX_METADATA_KEY_CHARS])
                continue
            budget -= size
            kept[key] = value
        if dropped:
            names: list[JsonValue] = list(dropped[:MAX_DROPPED_NAMES])
            kept["dropped_fields"] = names
        return kept


def _wrong_type(key: str, value: JsonValue, expected: str) -> ParseError:
    return ParseError(f"field {key!r} must be {expected}, not {_type_name(value)}")


def _string_field(record: _Record, aliases: Sequence[str]) -> str | None:
    found = record.pick(aliases)
    if found is None:
        return None
    key, value = found
    if not isinstance(value, str):
        raise _wrong_type(key, value, "a string")
    return clean_line(value) or None


def _html_fragment_lines(fragment: str, key: str) -> list[str]:
    """Text lines of an HTML fragment: one per block element or <br>."""
    try:
        root = lxml.html.fragment_fromstring(sanitize(fragment), create_parent="div")
        lxml.etree.strip_elements(
            root, *_JUNK_TAGS, lxml.etree.Comment, lxml.etree.ProcessingInstruction, with_tail=False
        )
        for element in root.iter():
            tag = element.tag.lower() if isinstance(element.tag, str) else ""
            if tag in _BLOCK_TAGS:
                element.text = "\n" + (element.text or "")
                element.tail = "\n" + (element.tail or "")
            elif tag == "br":
                element.tail = "\n" + (element.tail or "")
        text: str = root.text_content()
    except Exception as exc:  # lxml raises a variety of errors on broken markup
        raise ParseError(f"field {key!r} holds HTML that could not be parsed") from exc
    return text.split("\n")


def _text_lines(value: str, key: str) -> list[str]:
    """Cleaned lines of a text field; HTML markup in it is reduced to text."""
    if _HTML_MARKUP.search(value):
        return [clean_line(line) for line in _html_fragment_lines(value, key)]
    return clean_text(value).split("\n")


def _json_body(record: _Record) -> list[str]:
    found = record.pick(_BODY_KEYS)
    if found is None:
        return []
    key, value = found
    if isinstance(value, str):
        return _text_lines(value, key)
    if isinstance(value, list):
        lines: list[str] = []
        for index, item in enumerate(value):
            if item is None:
                continue
            if not isinstance(item, str):
                raise ParseError(
                    f"field {key!r} must be a string or a list of strings,"
                    f" but item {index} is {_type_name(item)}"
                )
            lines.extend(_text_lines(item, key))
        return lines
    raise _wrong_type(key, value, "a string or a list of strings")


def _json_published(record: _Record) -> str | None:
    found = record.pick(_DATE_KEYS)
    if found is None:
        return None
    key, value = found
    if isinstance(value, str):
        return clean_line(value) or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        # An epoch timestamp, in seconds or milliseconds.
        seconds = value / 1000 if abs(value) >= _EPOCH_MS_THRESHOLD else value
        try:
            return datetime.fromtimestamp(seconds, UTC).isoformat()
        except (OverflowError, OSError, ValueError):
            raise ParseError(f"field {key!r} is not a valid timestamp: {value!r}") from None
    raise _wrong_type(key, value, "a date string or an epoch timestamp")


def _named(key: str, value: JsonValue, expected: str) -> str:
    """A string, or the "name" of an object such as {"name": "Reuters"}."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        name = value.get("name")
        if isinstance(name, str):
            return name
    raise _wrong_type(key, value, expected)


def _json_outlet(record: _Record) -> str | None:
    found = record.pick(_OUTLET_KEYS)
    if found is None:
        return None
    key, value = found
    return clean_line(_named(key, value, 'a string or an object with a string "name"')) or None


def _json_authors(record: _Record) -> tuple[str, ...]:
    found = record.pick(_AUTHOR_KEYS)
    if found is None:
        return ()
    key, value = found
    expected = 'a string, an object with a "name", or a list of those'
    values = value if isinstance(value, list) else [value]
    names: list[str] = []
    for item in values:
        if item is not None:
            names.extend(_split_authors(_named(key, item, expected)))
    return _unique(names)


def _parse_json(record: dict[str, JsonValue], url: str | None) -> ParsedArticle:
    fields = _Record(record)
    title = _string_field(fields, _TITLE_KEYS)
    body = _json_body(fields)
    outlet = _json_outlet(fields)
    found_url = _string_field(fields, _URL_KEYS)
    published = _json_published(fields)
    authors = _json_authors(fields)
    language = _language(_string_field(fields, _LANGUAGE_KEYS))
    body_lines, related = _split_teasers(body)
    return _finish(
        title=_strip_outlet_suffix(title or "", outlet),
        outlet=outlet,
        paragraphs=body_lines,
        related=related,
        url=url or found_url,
        authors=authors,
        published=published,
        language=language,
        metadata=fields.metadata(),
    )
