"""The parse stage's JSON path: records of named fields."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import JsonValue

from tests.unit.parse_helpers import (
    BODY,
    BODY_TEXT,
    FUZZ,
    parse_or_parse_error,
    raw_or_none,
    record,
)
from worker.pipeline.errors import NotAnArticle, ParseError
from worker.pipeline.models import PayloadKind, RawArticle
from worker.pipeline.parse import MIN_BODY_WORDS

# --------------------------------------------------------------------------
# JSON records


@pytest.mark.parametrize("key", ["title", "headline", "name", "Title"])
def test_json_title_field_names(key: str) -> None:
    assert record({key: "Tram line", "body": BODY_TEXT}).title == "Tram line"


@pytest.mark.parametrize(
    "key", ["body", "text", "content", "article", "articleBody", "article_body", "description"]
)
def test_json_body_field_names(key: str) -> None:
    assert record({"title": "Tram line", key: BODY_TEXT}).paragraphs == tuple(BODY)


@pytest.mark.parametrize("key", ["url", "link", "canonical_url", "canonicalUrl"])
def test_json_url_field_names(key: str) -> None:
    article = record({"title": "T", "body": BODY_TEXT, key: "https://courier.example/a"})
    assert article.url == "https://courier.example/a"
    assert record(
        {"title": "T", "body": BODY_TEXT, key: "https://y.example"}, url="https://p.example"
    ).url == ("https://p.example")


@pytest.mark.parametrize("key", ["published", "date", "published_at", "datePublished"])
def test_json_date_field_names(key: str) -> None:
    article = record({"title": "T", "body": BODY_TEXT, key: "2025-05-06T08:00:00Z"})
    assert article.published == "2025-05-06T08:00:00Z"


def test_json_epoch_timestamps_become_iso_dates() -> None:
    assert record({"title": "T", "body": BODY_TEXT, "date": 1_700_000_000}).published == (
        "2023-11-14T22:13:20+00:00"
    )
    assert record({"title": "T", "body": BODY_TEXT, "date": 1_700_000_000_000}).published == (
        "2023-11-14T22:13:20+00:00"
    )


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("source", "City Courier"),
        ("site", "City Courier"),
        ("outlet", "City Courier"),
        ("publisher", "City Courier"),
        ("source", {"id": None, "name": "City Courier"}),
        ("publisher", {"@type": "Organization", "name": "City Courier"}),
    ],
)
def test_json_outlet_as_string_or_nested_name(key: str, value: JsonValue) -> None:
    assert record({"title": "T", "body": BODY_TEXT, key: value}).outlet == "City Courier"


@pytest.mark.parametrize(
    ("key", "value", "authors"),
    [
        ("author", "Ana Lima", ("Ana Lima",)),
        ("byline", "By Ana Lima and Tom Hart", ("Ana Lima", "Tom Hart")),
        ("authors", ["Ana Lima", "Tom Hart", "Ana Lima"], ("Ana Lima", "Tom Hart")),
        ("author", {"name": "Ana Lima"}, ("Ana Lima",)),
        ("author", [{"@type": "Person", "name": "Ana Lima"}, "Tom Hart"], ("Ana Lima", "Tom Hart")),
    ],
)
def test_json_authors(key: str, value: JsonValue, authors: tuple[str, ...]) -> None:
    assert record({"title": "T", "body": BODY_TEXT, key: value}).authors == authors


def test_json_list_body_is_paragraphs() -> None:
    article = record({"title": "T", "body": [*BODY, None, "  "]})
    assert article.paragraphs == tuple(BODY)


def test_json_html_body_is_reduced_to_text() -> None:
    html = (
        f"<p>{BODY[0]}</p>\n<p>{BODY[1].replace('four-kilometre', '<b>four-kilometre</b>')}</p>"
        f"<script>track()</script><!-- ad --><div>{BODY[2]}<br>Second line.</div>"
    )
    article = record({"title": "T", "content": html})
    assert article.paragraphs == (*BODY, "Second line.")


def test_json_unknown_fields_go_to_metadata_as_a_shallow_copy() -> None:
    extra: dict[str, JsonValue] = {"section": "News", "tags": ["tram", "hospital"], "n": {"a": 1}}
    fields: dict[str, JsonValue] = {
        "title": "T",
        "body": BODY_TEXT,
        "source": "City Courier",
        **extra,
    }
    article = record(fields)
    assert {k: v for k, v in article.metadata.items() if k != "extraction_confidence"} == extra
    assert "title" not in article.metadata and "source" not in article.metadata


def test_json_unused_aliases_are_kept_in_metadata() -> None:
    article = record(
        {"title": "T", "headline": "Other", "body": BODY_TEXT, "description": "Summary"}
    )
    assert article.title == "T"
    assert article.paragraphs == tuple(BODY)
    assert article.metadata == {
        "headline": "Other",
        "description": "Summary",
        "extraction_confidence": article.metadata["extraction_confidence"],
    }


def test_json_language() -> None:
    assert record({"title": "T", "body": BODY_TEXT, "inLanguage": "pt-BR"}).language == "pt"
    # A record that declares no usable language gets the detected one.
    assert record({"title": "T", "body": BODY_TEXT, "language": "??"}).language == "en"


def test_json_missing_title_uses_the_first_line_of_the_body() -> None:
    assert record({"body": BODY_TEXT}).title == BODY[0]
    long_first = " ".join(BODY * 3)
    title = record({"body": long_first}).title
    assert len(title) <= 120
    assert long_first.startswith(title.rstrip("\u2026"))


def test_json_title_suffix_naming_the_outlet_is_removed() -> None:
    article = record(
        {"title": "Tram line - City Courier", "source": "City Courier", "body": BODY_TEXT}
    )
    assert article.title == "Tram line"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": 5, "body": BODY_TEXT}, "title"),
        ({"title": ["a", "b"], "body": BODY_TEXT}, "title"),
        ({"title": "T", "body": {"text": BODY_TEXT}}, "body"),
        ({"title": "T", "content": [BODY_TEXT, 3]}, "content"),
        ({"title": "T", "body": BODY_TEXT, "url": 7}, "url"),
        ({"title": "T", "body": BODY_TEXT, "date": True}, "date"),
        ({"title": "T", "body": BODY_TEXT, "date": 1e300}, "date"),
        ({"title": "T", "body": BODY_TEXT, "source": ["a"]}, "source"),
        ({"title": "T", "body": BODY_TEXT, "source": {"id": "x"}}, "source"),
        ({"title": "T", "body": BODY_TEXT, "author": 12}, "author"),
        ({"title": "T", "body": BODY_TEXT, "authors": [["nested"]]}, "authors"),
        ({"title": "T", "body": BODY_TEXT, "language": 1}, "language"),
    ],
)
def test_json_wrong_types_name_the_field(fields: dict[str, JsonValue], field: str) -> None:
    with pytest.raises(ParseError, match=f"'{field}'") as info:
        record(fields)
    assert not isinstance(info.value, NotAnArticle)


@pytest.mark.parametrize(
    "fields",
    [
        {"title": "Tram line"},
        {"title": "Tram line", "body": ""},
        {"title": "Tram line", "body": []},
        {"title": "Tram line", "body": None},
        {"url": "https://courier.example/a", "tags": ["x"]},
    ],
)
def test_json_without_body_is_not_an_article(fields: dict[str, JsonValue]) -> None:
    with pytest.raises(NotAnArticle, match="no article body"):
        record(fields)


def test_json_short_body_is_not_an_article() -> None:
    with pytest.raises(NotAnArticle, match=f"at least {MIN_BODY_WORDS}"):
        record({"title": "T", "body": "Too short."})


# --------------------------------------------------------------------------
# Fuzzing


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
_KEYS = st.sampled_from(
    ["title", "headline", "body", "text", "content", "description", "url", "link", "date",
     "published_at", "source", "publisher", "author", "authors", "byline", "language", "other"]
)  # fmt: skip


@FUZZ
@given(st.dictionaries(_KEYS | st.text(max_size=10), _JSON_VALUES, min_size=1, max_size=8))
def test_fuzz_json_records(fields: dict[str, JsonValue]) -> None:
    raw = raw_or_none(kind=PayloadKind.JSON, record=fields)
    if raw is not None:
        parse_or_parse_error(raw)


def test_unmapped_fields_are_kept_while_small_and_named_when_dropped() -> None:
    import json

    from worker.pipeline.parse import parse
    from worker.pipeline.parse.json import MAX_METADATA_BYTES

    fields: dict[str, JsonValue] = {
        "title": "Harbour wall repaired before winter storms",
        "body": "The council said the sea wall was repaired. " * 20,
        "section": "local",
        "tracking_blob": "x" * 1_500_000,
    }
    parsed = parse(RawArticle(kind=PayloadKind.JSON, record=fields))
    assert parsed.metadata["section"] == "local"
    assert "tracking_blob" not in parsed.metadata
    assert parsed.metadata["dropped_fields"] == ["tracking_blob"]
    assert len(json.dumps(parsed.metadata)) < MAX_METADATA_BYTES + 1000
