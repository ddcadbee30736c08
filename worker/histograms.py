"""The histograms the worker counts in Redis and `/metrics` reads back.

Each observation increments one bucket field of the ``{p}:histograms`` hash
(the first bound it does not exceed, else ``+Inf``), plus the histogram's
``count`` and ``sum``: Redis adds up every worker process's counts, so the
figures hold with any number of workers and API processes. The cumulative
``le`` buckets Prometheus wants are summed when the metrics are rendered.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["CONFIDENCE", "HISTOGRAMS", "LATENCY", "bound_label", "fields_for"]

# Seconds from a push to the write of its article.
LATENCY = "push_to_stored_seconds"
# The extraction's confidence in what it took for the article's body.
CONFIDENCE = "extraction_confidence"

HISTOGRAMS: dict[str, tuple[float, ...]] = {
    LATENCY: (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
    CONFIDENCE: (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
}


def bound_label(bound: float) -> str:
    """A bucket's upper bound as Prometheus' ``le`` label writes it."""
    return repr(float(bound))


def fields_for(name: str, values: Iterable[float]) -> tuple[dict[str, int], float]:
    """The hash fields to increment for ``values`` of histogram ``name``
    (bucket fields and ``count``), and the amount to add to its ``sum``."""
    bounds = HISTOGRAMS[name]
    increments: dict[str, int] = {}
    total = 0.0
    for value in values:
        bucket = next((bound_label(b) for b in bounds if value <= b), "+Inf")
        field = f"{name}:{bucket}"
        increments[field] = increments.get(field, 0) + 1
        increments[f"{name}:count"] = increments.get(f"{name}:count", 0) + 1
        total += value
    return increments, total
