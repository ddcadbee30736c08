"""The labelling guide applied by rule (issue 19), and the protocols' summary."""

from __future__ import annotations

import pytest

from training.corpora import Item
from training.evaluate import loco_summary
from training.guide import guide_label, relabel


@pytest.mark.parametrize(
    ("text", "label"),
    [
        # Disasters, accidents, crime, health and business abroad: other.
        ("Commuter plane crashes in China, killing 54\nThe plane crashed into a lake.", "other"),
        ("Hurricane Ivan batters Grand Cayman\nThe storm flattened houses.", "other"),
        ("China reports first case of new coronavirus variant\nHealth officials said.", "other"),
        ("Google lowers its IPO price range\nShares will be offered to investors.", "other"),
        # Athletes: sport.
        ("Nesterenko wins Olympic gold\nThe athletics medal went to Belarus.", "sport"),
        # Politics, government, war and terror stay where the corpus filed them.
        ("Rebel attacks kill 12 in Iraq\nInsurgents struck outposts.", "geopolitics"),
        ("Court blocks the election result\nThe judge ordered a new vote.", "geopolitics"),
        ("Leaders meet over Turkish EU bid\nThe talks went on late.", "geopolitics"),
        # One cue is not enough to move an item.
        ("A fire at the old palace\nNobody knows the cause.", "geopolitics"),
    ],
)
def test_geopolitics_items_move_only_when_the_guide_says_so(text: str, label: str) -> None:
    assert guide_label(text, "geopolitics") == label


def test_other_labels_are_never_moved() -> None:
    for label in ("sport", "entertainment", "other"):
        assert guide_label("Plane crash and earthquake: a storm of floods", label) == label


def test_relabel_counts_what_moved_per_corpus() -> None:
    items = [
        Item("Plane crash kills 10\nThe plane crashed in fog.", "geopolitics", "a"),
        Item("Parliament votes\nThe election is near.", "geopolitics", "a"),
        Item("Olympic medal for a sprinter\nThe athletics final.", "geopolitics", "b"),
        Item("Plane crash kills 10\nThe plane crashed in fog.", "other", "b"),
    ]
    moved, report = relabel(items)
    assert [i.label for i in moved] == ["other", "geopolitics", "sport", "other"]
    assert report == {"a": {"geopolitics -> other": 1}, "b": {"geopolitics -> sport": 1}}
    assert [i.text for i in moved] == [i.text for i in items]


def test_loco_summary_names_the_targets_figures() -> None:
    results = {
        "a": {"macro_f1": 0.9, "ece": 0.02, "title_only": {"macro_f1": 0.8}},
        "b": {"macro_f1": 0.86, "ece": 0.04, "title_only": {"macro_f1": 0.7}},
        "sib200-eng": {"macro_f1": 0.6, "ece": 0.03},
    }
    summary = loco_summary(results)
    assert summary["mean_macro_f1"] == pytest.approx(0.7867, abs=1e-4)
    assert summary["lowest_but_sib200"] == ("b", 0.86)
    assert summary["title_only_mean_macro_f1"] == pytest.approx(0.75)
    assert summary["max_ece"] == 0.04
