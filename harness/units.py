"""Per-example statistics of a score: what a paired bootstrap resamples.

A metric that can be recomputed from sums over examples describes each evaluated example (a
sentence pair, a question, a tagged sentence) by a short vector of numbers; the column sums of
any selection of examples give the score of that selection through one of three fixed rules:

* ``mean``: ``100 * sum(v0) / n`` (accuracy, SQuAD F1 per question, average precision per query);
* ``ratio``: ``100 * sum(v0) / sum(v1)`` (per-word accuracy: correct words / words);
* ``f1``: ``100 * 2 * sum(tp) / (sum(predicted) + sum(gold))`` (seqeval's micro F1 over chunks;
  0 when nothing is right).

The rules are named, not code, so a result file (untrusted input) can carry its statistics
without running anything. A corpus-level score that does not decompose over examples (BUCC's
mined pairs) has none, and gets no interval.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, TypedDict

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - typing only
    from harness.interfaces import Metric

log = logging.getLogger("stilts")

Combine = Literal["mean", "ratio", "f1"]
#: An evaluation stage's file holding ``{"units": Units | None}``.
UNITS_FILE = "units.json"
#: How many numbers each rule needs per example.
WIDTH: dict[str, int] = {"mean": 1, "ratio": 2, "f1": 3}


class Units(TypedDict):
    """``values``: one row per example, :data:`WIDTH` ``[combine]`` numbers each."""

    combine: Combine
    values: list[list[float]]


def units(combine: Combine, values: Sequence[Sequence[float]]) -> Units:
    """Build and check a :class:`Units` (every row has the rule's width, every value is finite)."""
    if combine not in WIDTH:
        raise ValueError(f"unknown combine rule {combine!r}; expected one of {', '.join(WIDTH)}")
    rows = [[float(v) for v in row] for row in values]
    for row in rows:
        if len(row) != WIDTH[combine] or not all(math.isfinite(v) for v in row):
            raise ValueError(f"a {combine!r} row needs {WIDTH[combine]} finite numbers; got {row!r}")
    return {"combine": combine, "values": rows}


def combine_sums(combine: str, sums: np.ndarray, count: np.ndarray | float) -> np.ndarray:
    """The score (percent) from column sums: ``sums`` has shape ``(..., width)``, ``count`` is the
    number of examples behind each sum (used by ``mean``)."""
    if combine == "mean":
        return 100.0 * sums[..., 0] / count
    if combine == "ratio":
        denominator = sums[..., 1]
        return np.where(denominator > 0, 100.0 * sums[..., 0] / np.where(denominator > 0, denominator, 1), 0.0)
    if combine == "f1":
        tp, predicted, gold = sums[..., 0], sums[..., 1], sums[..., 2]
        total = predicted + gold
        return np.where(tp > 0, 200.0 * tp / np.where(total > 0, total, 1), 0.0)
    raise ValueError(f"unknown combine rule {combine!r}")


def score_of(stats: Units | dict[str, Any]) -> float:
    """The score of all the examples: equals the metric's own headline value."""
    values = np.asarray(stats["values"], dtype=float).reshape(-1, WIDTH[stats["combine"]])
    return float(combine_sums(stats["combine"], values.sum(axis=0), len(values)))


def has_unit_statistics(metric: Metric) -> bool:
    """True when ``metric``'s class overrides :meth:`Metric.unit_statistics`."""
    from harness.interfaces import Metric

    return type(metric).unit_statistics is not Metric.unit_statistics


def main_units(
    main_metric: str,
    metrics: Sequence[Metric],
    predictions: Any,
    references: Any,
    language: str | None,
    expected: float,
) -> Units | None:
    """The per-example statistics of the score ``main_metric`` (from the metric that declares it),
    or None when that metric has none or its statistics do not reproduce ``expected`` (its own
    headline value) to 1e-6: a wrong interval is worse than none, so a mismatch is logged."""
    metric = main_metric_of(main_metric, metrics)
    if metric is None or not has_unit_statistics(metric):
        return None
    stats = metric.unit_statistics(predictions, references, language=language)
    if stats is None:
        return None
    if not stats["values"] or abs(score_of(stats) - expected) > 1e-6:
        log.warning(
            "%s: per-example statistics give %s, not the score %s; no interval for this evaluation",
            type(metric).__name__,
            score_of(stats) if stats["values"] else "nothing",
            expected,
        )
        return None
    return stats


def main_metric_of(main_metric: str, metrics: Sequence[Metric]) -> Metric | None:
    """The metric that declares the score ``main_metric`` (in ``higher_is_better``), or None."""
    return next((metric for metric in metrics if main_metric in metric.higher_is_better), None)
