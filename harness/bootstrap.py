"""Paired bootstrap intervals for the difference of two settings on the same evaluation sets.

A setting (a leaderboard row on one target) has one run per seed; each run scored every
evaluation example of a language and kept the per-example statistics of its main score
(:mod:`harness.units`). The interval for Δ = setting − baseline is a two-level bootstrap:

1. **Examples, paired.** Each replicate draws the examples of each language with replacement
   (multinomial counts); both settings are scored on the *same* draw, so example difficulty cancels
   out of Δ, as in Koehn (2004) and Berg-Kirkpatrick et al. (2012).
2. **Seeds.** In the same replicate each setting draws its runs (seeds) with replacement, once for all
   languages (a run is one trained model), and averages their scores. The two settings' seeds are
   drawn independently: seed numbers do not pair runs.

The replicate's Δ per language is the difference of the two averages; the target-level Δ combines
the languages with the task's own weights. The interval is the 2.5th-97.5th percentile of
:data:`REPLICATES` replicates. Draws come from generators seeded by a digest of what they draw
(target, language, size; row), so the same results always give the same intervals.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from harness.units import WIDTH, Units, combine_sums

REPLICATES = 1000
LEVEL = 0.95


@dataclass(frozen=True)
class Sample:
    """One run's per-example statistics as an array (``examples × width``), made once per build."""

    combine: str
    values: np.ndarray

    @classmethod
    def of(cls, stats: Units) -> Sample:
        values = np.asarray(stats["values"], dtype=np.float32).reshape(-1, WIDTH[stats["combine"]])
        return cls(stats["combine"], values)

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class Interval:
    """A percentile interval; ``significant`` when it does not contain 0."""

    low: float
    high: float

    @property
    def significant(self) -> bool:
        return self.low > 0 or self.high < 0


def rng_for(*parts: object) -> np.random.Generator:
    """A generator seeded by a digest of ``parts`` (deterministic across runs and machines)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


@dataclass
class ExampleDraws:
    """The shared example draws of one build: per (target, language, size) a ``REPLICATES × size``
    matrix of multinomial counts, made once and used by every row, which is what pairs them. The
    matrices are kept as small integers, least recently used first out beyond ``max_bytes`` (a
    dropped one is drawn again identically when needed: its generator is seeded by its key)."""

    replicates: int = REPLICATES
    max_bytes: int = 512 * 2**20
    cache: OrderedDict[tuple[str, str, int], np.ndarray] = field(default_factory=OrderedDict)

    def counts(self, target: str, lang: str, size: int) -> np.ndarray:
        key = (target, lang, size)
        if key in self.cache:
            self.cache.move_to_end(key)
            return self.cache[key]
        rng = rng_for("examples", target, lang, size)
        draws = rng.multinomial(size, np.full(size, 1.0 / size), size=self.replicates)
        self.cache[key] = draws.astype(np.uint16 if size < 2**16 else np.uint32)
        while len(self.cache) > 1 and sum(m.nbytes for m in self.cache.values()) > self.max_bytes:
            self.cache.popitem(last=False)
        return self.cache[key]


def replicate_scores(runs: Sequence[Sample], counts: np.ndarray) -> np.ndarray:
    """``replicates × runs``: each run's score on each replicate's example draw."""
    columns = []
    for run in runs:
        sums = counts.astype(np.float32) @ run.values  # replicates × width: the drawn examples' column sums
        columns.append(combine_sums(run.combine, sums.astype(np.float64), float(len(run))))
    return np.stack(columns, axis=1)


def seed_means(scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per replicate, the mean over a draw (with replacement) of the runs; ``scores`` is
    ``replicates × runs``; the draw is the same for every language of the replicate (``rng``
    must be re-created identically per language, see :func:`delta_interval`)."""
    replicates, runs = scores.shape
    if runs == 1:
        return scores[:, 0]
    picks = rng.integers(0, runs, size=(replicates, runs))
    return np.take_along_axis(scores, picks, axis=1).mean(axis=1)


def delta_interval(
    target: str,
    row_name: str,
    setting: Mapping[str, Sequence[Sample]],
    baseline: Mapping[str, Sequence[Sample]],
    weights: Mapping[str, float],
    draws: ExampleDraws,
) -> tuple[Interval | None, dict[str, Interval]]:
    """The interval of the weighted Δ over ``weights``' languages, and one per language.

    ``setting`` and ``baseline``: per language, the per-example statistics of every run (seed).
    A language whose two sides were scored on different numbers of examples is left out (not the
    same evaluation set); the target-level interval then needs every weighted language.
    """
    per_language: dict[str, Interval] = {}
    total: np.ndarray | None = np.zeros(draws.replicates)
    weight_sum = sum(weights.values())
    for lang, weight in weights.items():
        mine, theirs = setting.get(lang), baseline.get(lang)
        sizes = {len(run) for run in [*(mine or []), *(theirs or [])]}
        if not mine or not theirs or len(sizes) != 1:
            total = None
            continue
        counts = draws.counts(target, lang, sizes.pop())
        # the same seed draws for every language of a replicate: re-seed per side, not per language
        delta = seed_means(replicate_scores(mine, counts), rng_for("seeds", target, row_name)) - seed_means(
            replicate_scores(theirs, counts), rng_for("seeds", target, row_name, "baseline")
        )
        per_language[lang] = percentile_interval(delta)
        if total is not None:
            total += weight / weight_sum * delta
    return (percentile_interval(total) if total is not None and weights else None), per_language


def percentile_interval(values: np.ndarray) -> Interval:
    tail = 100 * (1 - LEVEL) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return Interval(float(low), float(high))
