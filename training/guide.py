"""The labelling guide (docs/model.md), applied to the corpora by rule.

A story goes where a general newsroom would file it, by its main subject:
geopolitics is politics and government as the subject, diplomacy, war,
terrorism, protests aimed at a government; crime, courts, disasters,
accidents, weather, health, business, science are "other" even when a
government acts in them; athletes are sport.

The corpora file much of that under "world" (their geopolitics): a plane
crash, an earthquake, a murder trial abroad, a company's share offer, an
Olympic medal. :func:`relabel` moves an item labelled geopolitics to "other"
(or "sport") when its words name such a subject and nothing of politics,
government, diplomacy or war: a rule that errs on the side of leaving an
item as its corpus filed it. Nothing else is relabelled.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Final

from training.corpora import Item

__all__ = ["GUIDE_VERSION", "guide_label", "relabel"]

GUIDE_VERSION: Final = "guide-rules-v1"

_WORD: Final = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Politics and government as the subject, diplomacy, war and terror, protests:
# one of these keeps an item where its corpus filed it.
_POLITICS: Final = _words(
    """
    election elections elected elect vote votes voted voters voting poll polls ballot
    referendum campaign campaigning candidate candidates parliament parliamentary mp mps
    senate senator senators congress congressional lawmakers legislators legislature
    legislation bill bills law laws president presidential presidency prime minister
    ministers ministry cabinet government governments govt governor mayor chancellor
    premier party parties opposition coalition labour tory tories conservative
    conservatives democrat democrats democratic republican republicans liberal
    bjp tmc aap congress's king queen monarchy regime dictator junta coup coups
    protest protests protesters protesting demonstrators rally rallies strike
    sanction sanctions embargo diplomat diplomats diplomatic diplomacy embassy
    ambassador envoy treaty talks summit negotiations un nato eu
    war wars warfare troops army military soldiers militants militant rebels rebel
    insurgents insurgency guerrillas terror terrorist terrorists terrorism attack
    attacks bomb bombs bombing bombings bomber suicide missile missiles nuclear
    ceasefire truce peace occupation invasion airstrike airstrikes hostage hostages
    refugees border independence separatist separatists extremists jihadist taliban
    qaeda hamas hezbollah isis nationalist policy policies reform reforms
    """
)
# Subjects the guide files under "other" that the corpora often file as world.
_OTHER: Final = _words(
    """
    earthquake quake quakes tsunami flood floods flooding hurricane typhoon cyclone
    storm storms tornado wildfire wildfires landslide avalanche volcano eruption
    drought heatwave weather snow rain crash crashed crashes collision derailed
    derailment capsized sank sinking drowned drowning accident accidents blaze fire
    fires explosion rescuers rescue survivors murder murdered murders stabbed
    stabbing robbery robbed theft fraud smuggling smugglers drug drugs trafficking
    kidnapped jailed prison sentenced convicted acquitted trial court judge jury
    lawsuit virus viruses outbreak flu vaccine vaccines vaccination covid coronavirus
    pandemic hospital hospitals disease diseases cancer aids hiv malaria health
    doctors patients medical medicine shares stocks stock ipo profit profits earnings
    economy economic inflation bank banks oil prices market markets company companies
    firm investors tech technology software internet science scientists study
    researchers space nasa climate school schools university students zoo animals
    """
)
_SPORT: Final = _words(
    """
    olympic olympics medal medals football soccer cricket tennis golf rugby athletics
    marathon tournament championship championships cup league coach striker
    goalkeeper athlete athletes sprinter boxing boxer fifa uefa ioc wimbledon
    grand slam nba nfl
    """
)


def guide_label(text: str, label: str) -> str:
    """The guide's label for an item its corpus labelled ``label``: the same,
    except for the geopolitics items the rule moves (see the module)."""
    if label != "geopolitics":
        return label
    words = _WORD.findall(text.lower())
    if any(w in _POLITICS for w in words):
        return label
    sport = sum(w in _SPORT for w in words)
    other = sum(w in _OTHER for w in words)
    if sport >= 2 and sport > other:
        return "sport"
    if other >= 2:
        return "other"
    return label


def relabel(items: Iterable[Item]) -> tuple[list[Item], dict[str, dict[str, int]]]:
    """The items with the guide's labels, and per corpus how many moved
    ("geopolitics -> other": n)."""
    out: list[Item] = []
    moved: dict[str, Counter[str]] = {}
    for item in items:
        label = guide_label(item.text, item.label)
        if label != item.label:
            moved.setdefault(item.corpus, Counter())[f"{item.label} -> {label}"] += 1
            item = Item(item.text, label, item.corpus)
        out.append(item)
    return out, {name: dict(sorted(c.items())) for name, c in sorted(moved.items())}


def moved_total(report: dict[str, dict[str, int]], corpora: Sequence[str] = ()) -> int:
    """How many items the relabelling moved (in ``corpora``, default all)."""
    return sum(
        n for name, c in report.items() if not corpora or name in corpora for n in c.values()
    )
