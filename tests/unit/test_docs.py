"""The Redis schema is written once, in docs/architecture.md, and it is true.

Every key pattern ``worker.keys.Keys`` can produce has a row in the schema
table, and every ``{p}:`` row is a key ``Keys`` produces: adding a key method
without documenting it, or documenting a key that nothing writes, fails here.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
from pathlib import Path

import pytest

from worker.keys import Keys

ROOT = Path(__file__).resolve().parents[2]
ARCHITECTURE = ROOT / "docs" / "architecture.md"
HEADER = ("key", "type", "what")
REDIS_TYPES = {"string", "hash", "list", "set", "zset", "stream"}
PREFIX = "p"
ARG = "\x00arg\x00"  # a placeholder no real key contains
PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def schema_rows(markdown: str) -> list[tuple[str, str, str]]:
    """The rows (key, type, what) of the table headed ``| key | type | what |``."""
    lines = markdown.splitlines()
    headers = [
        at
        for at, line in enumerate(lines)
        if line.lstrip().startswith("|") and tuple(_cells(line)) == HEADER
    ]
    assert len(headers) == 1, f"want one table headed | key | type | what | in {ARCHITECTURE}"
    rows = []
    for line in lines[headers[0] + 2 :]:  # past the header and its |---| line
        if not line.lstrip().startswith("|"):
            break
        key, kind, what = _cells(line)
        rows.append((key.strip("`"), kind, what))
    return rows


def pattern(key: str) -> str:
    """A key pattern with every ``{name}`` as ``{}``: names are for readers."""
    return PLACEHOLDER.sub("{}", key)


def produced_keys(keys: Keys) -> dict[str, str]:
    """Every public method or property of ``keys``: its name -> the key (or
    key prefix, or glob) it returns, the prefix as ``{}``, arguments as ``{}``."""
    fields = {f.name for f in dataclasses.fields(keys)}
    found = {}
    for name, member in inspect.getmembers(type(keys)):
        if name.startswith("_") or name in fields:
            continue
        if isinstance(member, property):
            value = getattr(keys, name)
        elif inspect.isfunction(member):
            params = list(inspect.signature(member).parameters)[1:]  # past self
            value = getattr(keys, name)(*[ARG for _ in params])
        else:
            continue
        assert isinstance(value, str), f"Keys.{name} returned {value!r}, not a key"
        assert value.startswith(f"{PREFIX}:"), f"Keys.{name} is not under the prefix: {value!r}"
        found[name] = "{}" + value[len(PREFIX) :].replace(ARG, "{}").replace("*", "{}")
    return found


def _documented(produced: str, documented: set[str]) -> bool:
    """A key is documented by its row; a key prefix (``{p}:lsh:``), by the
    rows of the keys built from it."""
    if produced.endswith(":"):
        return any(row.startswith(produced) and row != produced for row in documented)
    return produced in documented


@pytest.fixture(scope="module")
def rows() -> list[tuple[str, str, str]]:
    return schema_rows(ARCHITECTURE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def ours(rows: list[tuple[str, str, str]]) -> set[str]:
    """The table's rows of newswire's own keys, as patterns."""
    return {pattern(key) for key, _, _ in rows if key.startswith("{p}:")}


def test_every_key_keys_can_produce_is_documented(ours: set[str]) -> None:
    produced = produced_keys(Keys(prefix=PREFIX))
    assert produced, "found no key methods on Keys"
    missing = {name: key for name, key in produced.items() if not _documented(key, ours)}
    assert missing == {}, f"add these to the Redis schema table in {ARCHITECTURE}"


def test_every_documented_key_is_produced_by_keys(ours: set[str]) -> None:
    produced = set(produced_keys(Keys(prefix=PREFIX)).values())
    stale = {
        row
        for row in ours
        if row not in produced
        and not any(p.endswith(":") and row.startswith(p) and row != p for p in produced)
    }
    assert stale == set(), f"rows of {ARCHITECTURE} that worker/keys.py does not produce"


def test_schema_rows_are_well_formed(rows: list[tuple[str, str, str]]) -> None:
    assert rows
    for key, kind, what in rows:
        assert kind in REDIS_TYPES, f"{key}: type {kind!r} is not one of {sorted(REDIS_TYPES)}"
        assert what, f"{key}: say what it holds"
    keys = [key for key, _, _ in rows]
    assert len(keys) == len(set(keys)), "a key is documented twice"
    # kombu's own keys are part of the picture too
    assert {"unacked", "unacked_index"} <= set(keys)


def test_the_schema_is_written_once() -> None:
    """Neither the README nor worker/keys.py repeats the schema."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "{p}:" not in readme
    source = (ROOT / "worker" / "keys.py").read_text(encoding="utf-8")
    docstring = ast.get_docstring(ast.parse(source)) or ""
    assert "{p}:" not in docstring
    assert "docs/architecture.md" in docstring


def test_the_check_sees_an_undocumented_key(ours: set[str]) -> None:
    # The tests above pass vacuously if produced_keys misses methods: a key
    # method added to a subclass must be found, and found undocumented.
    @dataclasses.dataclass(frozen=True, slots=True)
    class More(Keys):
        def lease(self, worker: str) -> str:
            return f"{self.prefix}:lease:{worker}"

    produced = produced_keys(More(prefix=PREFIX))
    assert produced["lease"] == "{}:lease:{}"
    assert not _documented(produced["lease"], ours)
    assert _documented(produced["article"], ours)
