"""reflow() is linear and gives exactly what the line-by-line joining gave."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.pipeline import text
from worker.pipeline.text import reflow

pytestmark = pytest.mark.hostile


def reflow_by_concatenation(lines: Sequence[str]) -> list[str]:
    """The former implementation, a string concatenation per joined line
    (quadratic): the reference the linear one must match."""
    width = text._hard_wrap_width(lines)
    out: list[str] = []
    for line in lines:
        prev = out[-1] if out else ""
        if prev and line:
            lower = line[0].islower()
            if lower and prev.endswith("-") and len(prev) > 1 and prev[-2].isalpha():
                out[-1] = prev[:-1] + line
                continue
            paragraph_end = prev.endswith(text._LINE_END)
            if width:
                paragraph_end = paragraph_end and len(prev) < text._WRAP_FILL * width
            if not paragraph_end and (lower or width):
                out[-1] = f"{prev} {line}"
                continue
        out.append(line)
    return out


# Lines made of the characters reflow looks at: case, hyphens, sentence ends.
LINE = st.text(alphabet="aZ-.x!) \u2019", max_size=12)


@settings(max_examples=500)
@given(st.lists(LINE, max_size=40))
def test_same_paragraphs_as_joining_line_by_line(lines: list[str]) -> None:
    assert reflow(lines) == reflow_by_concatenation(lines)


@settings(max_examples=200)
@given(st.lists(st.sampled_from(["word and", "more-", "text.", "", "x", "wrapped line of"]),
                min_size=5, max_size=60))  # fmt: skip
def test_same_paragraphs_on_hard_wrapped_shapes(lines: list[str]) -> None:
    assert reflow(lines) == reflow_by_concatenation(lines)


def test_hyphenated_and_continued_lines_join() -> None:
    assert reflow(["An inter-", "national deal was", "signed today.", "", "Next."]) == [
        "An international deal was signed today.",
        "",
        "Next.",
    ]
