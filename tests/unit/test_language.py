"""Language: detected from the text, or declared by the payload."""

from __future__ import annotations

import pytest

from tests.unit.parse_helpers import BODY, BODY_TEXT, html_page, text_page
from worker.pipeline.language import detect_language


@pytest.mark.parametrize(
    ("text", "language"),
    [
        (" ".join(BODY), "en"),
        (
            "Le conseil municipal a vot\u00e9 mardi pour prolonger la ligne de tramway jusqu'au"
            " nouvel h\u00f4pital, et les travaux dureront deux ans selon la mairie.",
            "fr",
        ),
        (
            "Der Stadtrat hat am Dienstag beschlossen, die Stra\u00dfenbahnlinie bis zum neuen"
            " Krankenhaus zu verl\u00e4ngern, und die Arbeiten sollen zwei Jahre dauern.",
            "de",
        ),
        (
            "\u0413\u043e\u0440\u043e\u0434\u0441\u043a\u043e\u0439 \u0441\u043e\u0432\u0435\u0442"
            " \u0432\u043e \u0432\u0442\u043e\u0440\u043d\u0438\u043a"
            " \u043f\u0440\u043e\u0433\u043e\u043b\u043e\u0441\u043e\u0432\u0430\u043b"
            " \u0437\u0430 \u043f\u0440\u043e\u0434\u043b\u0435\u043d\u0438\u0435"
            " \u0442\u0440\u0430\u043c\u0432\u0430\u0439\u043d\u043e\u0439"
            " \u043b\u0438\u043d\u0438\u0438.",
            "ru",
        ),
        ("", None),
        ("12 34 56", None),
    ],
)
def test_detect_language(text: str, language: str | None) -> None:
    assert detect_language(text) == language


def test_declared_html_language_wins_and_text_pages_get_a_detected_one() -> None:
    assert text_page(f"Tram line - City Courier\n{BODY_TEXT}").language == "en"
    html = "".join(f"<p>{p}</p>" for p in BODY * 2)
    assert html_page(
        f'<html lang="en-GB"><body><article>{html}</article></body></html>'
    ).language == ("en")
