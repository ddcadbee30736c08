"""Pages in other encodings than UTF-8 are read by what they declare or what
they are, and reach the parser with the right characters."""

from __future__ import annotations

from pathlib import Path

import pytest

from producer.loader import Item, Refusal, load_paths
from worker.pipeline.parse import parse

SENTENCE = (
    "The caf\u00e9 on the quay\u2019s corner now charges \u20ac4 for a coffee, its owner said"
    " on Tuesday, after the council raised the rent for the third time in two years."
)
WORDS = ("caf\u00e9", "quay\u2019s", "\u20ac4")


def _one(path: Path) -> Item:
    (result,) = load_paths([str(path)], max_payload_bytes=1 << 20)
    assert isinstance(result, Item), getattr(result, "reason", result)
    return result


def _html(charset_tag: str) -> str:
    return (
        f"<html><head>{charset_tag}<title>Coffee prices rise | Harbour Herald</title></head>"
        f"<body><article><h1>Coffee prices rise</h1><p>{SENTENCE}</p><p>{SENTENCE}</p>"
        "</article></body></html>"
    )


@pytest.mark.parametrize(
    "charset_tag",
    [
        '<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">',
        '<meta charset="windows-1252">',
        # Labelled Latin-1, as many are, but holding Windows-1252's quotes and euro.
        "<meta charset=iso-8859-1>",
    ],
)
def test_a_windows_1252_html_page_is_read_as_it_declares(tmp_path: Path, charset_tag: str) -> None:
    path = tmp_path / "page.html"
    path.write_bytes(_html(charset_tag).encode("cp1252"))
    article = parse(_one(path).article)
    assert article.title == "Coffee prices rise"
    for word in WORDS:
        assert word in article.body


def test_a_latin_1_text_page_is_read_by_detection(tmp_path: Path) -> None:
    path = tmp_path / "page.txt"
    text = f"Coffee prices rise - Harbour Herald\n\n{SENTENCE}\n\n{SENTENCE}\n"
    path.write_bytes(text.encode("cp1252"))  # Latin-1 plus Windows' quotes and euro
    raw = _one(path).article
    assert raw.text == text
    body = parse(raw).body
    for word in WORDS:
        assert word in body


def test_plain_latin_1_and_other_single_byte_text_is_read(tmp_path: Path) -> None:
    (tmp_path / "fr.txt").write_bytes("Le caf\u00e9 co\u00fbte cher.".encode("latin-1"))
    russian = "Привет, мир! Это новости."
    (tmp_path / "ru.txt").write_bytes(russian.encode("cp1251"))
    assert _one(tmp_path / "fr.txt").article.text == "Le caf\u00e9 co\u00fbte cher."
    assert _one(tmp_path / "ru.txt").article.text == russian


def test_utf8_wins_over_a_wrong_declaration(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_bytes(_html('<meta charset="iso-8859-1">').encode("utf-8"))
    assert "caf\u00e9" in parse(_one(path).article).body


def test_bytes_that_read_as_nothing_sensible_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "noise.txt"
    # Bytes Windows-1252 leaves undefined, in a run no encoding reads as text.
    path.write_bytes(bytes([0x81, 0x8D, 0x8F, 0x90, 0x9D, 0xFF, 0xFE, 0x98]) * 64)
    (result,) = load_paths([str(path)], max_payload_bytes=1 << 20)
    assert isinstance(result, Refusal)
    assert "not text" in result.reason
