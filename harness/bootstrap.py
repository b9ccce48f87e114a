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

The work is shared without changing a number: a target's draws serve every row, each run is scored
on them once (every run whose float32 sums are exact, in one matrix product per language), the
seed draws of a side are made once for all its languages, and :class:`IntervalMemo` keeps finished
intervals across builds.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path

import numpy as np

from harness.blob_memo import BlobMemo
from harness.units import WIDTH, Units, combine_sums

REPLICATES = 1000
LEVEL = 0.95
#: How many intervals :class:`IntervalMemo` keeps (the most recently used ones).
MEMO_INTERVALS = 50_000
#: float32 holds every integer up to this exactly (a 24-bit significand).
EXACT_FLOAT32 = 2**24


@dataclass(frozen=True)
class Sample:
    """One run's per-example statistics as a float32 array (``examples × width``), made once per
    build from a result's ``units`` entry (its ``values`` as lists or as an array)."""

    combine: str
    values: np.ndarray

    @classmethod
    def of(cls, stats: Units) -> Sample:
        values = np.asarray(stats["values"], dtype=np.float32).reshape(-1, WIDTH[stats["combine"]])
        return cls(stats["combine"], values)

    def __len__(self) -> int:
        return len(self.values)

    @cached_property
    def exact(self) -> bool:
        """True when the column sums of every draw of its examples are exact in float32, whatever
        the order of the additions: every value is an integer and ``examples × max |value|`` (a
        bound on every partial sum, since a draw's counts add up to the number of examples) is at
        most :data:`EXACT_FLOAT32`. Counts of right answers, words and chunks are; F1 per question
        or average precision per query are not."""
        values = self.values
        if not len(values):
            return True
        return (
            bool(np.array_equal(values, np.trunc(values)))
            and float(np.abs(values).max()) * len(values) <= EXACT_FLOAT32
        )

    @cached_property
    def digest(self) -> str:
        """sha256 of the rule, the shape and the float32 values: what the bootstrap reads of it."""
        values = np.ascontiguousarray(self.values, dtype=np.float32)
        head = f"{self.combine}\x1f{values.shape[0]}x{values.shape[1]}\x1f".encode()
        return hashlib.sha256(head + values.tobytes()).hexdigest()


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


ScoreKey = tuple[str, str, int]  # target, language, id of the Sample (kept alive by the memo)


@dataclass
class ExampleDraws:
    """The shared example draws of one build: per (target, language, size) a ``REPLICATES × size``
    matrix of multinomial counts, made once and used by every row, which is what pairs them. The
    matrices are kept as small integers, least recently used first out beyond ``max_bytes`` (a
    dropped one is drawn again identically when needed: its generator is seeded by its key).

    Each run's scores on a target's draws (:meth:`scores`) are kept too, up to ``scores_max_bytes``
    (a baseline's runs serve every row compared with it); :meth:`prepare` computes those of many
    runs at once."""

    replicates: int = REPLICATES
    max_bytes: int = 512 * 2**20
    cache: OrderedDict[tuple[str, str, int], np.ndarray] = field(default_factory=OrderedDict)
    scores_max_bytes: int = 256 * 2**20
    score_cache: OrderedDict[ScoreKey, tuple[Sample, np.ndarray]] = field(default_factory=OrderedDict)

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

    def scores(self, target: str, lang: str, runs: Sequence[Sample]) -> np.ndarray:
        """``replicates × runs``: each run's score on each replicate's draw of the examples of
        ``lang`` (the runs have one size)."""
        found = self._scores(target, lang, runs)
        return np.stack([found[id(run)] for run in runs], axis=1)

    def prepare(self, target: str, lang: str, runs: Iterable[Sample]) -> None:
        """Compute and keep the scores of ``runs`` (all at once where :func:`run_scores` can)."""
        self._scores(target, lang, runs)

    def _scores(self, target: str, lang: str, runs: Iterable[Sample]) -> dict[int, np.ndarray]:
        found: dict[int, np.ndarray] = {}
        todo: dict[int, dict[int, Sample]] = {}  # size -> id -> run
        for run in runs:
            key = (target, lang, id(run))
            if key in self.score_cache:
                self.score_cache.move_to_end(key)
                found[id(run)] = self.score_cache[key][1]
            else:
                todo.setdefault(len(run), {})[id(run)] = run
        for size, by_id in todo.items():
            samples = list(by_id.values())
            for run, scores in zip(samples, run_scores(samples, self.counts(target, lang, size)), strict=True):
                found[id(run)] = scores
                self.score_cache[(target, lang, id(run))] = (run, scores)  # the run kept alive: its id stays its own
        while len(self.score_cache) > 1 and len(self.score_cache) * self.replicates * 8 > self.scores_max_bytes:
            self.score_cache.popitem(last=False)
        return found


def run_scores(runs: Sequence[Sample], counts: np.ndarray) -> list[np.ndarray]:
    """Each run's score (float64) on each replicate's draw ``counts`` (``replicates × examples``).

    The column sums are float32 products of the counts and the statistics. For a run whose sums
    are exact (:attr:`Sample.exact`) any order of the additions gives the same numbers, so all such
    runs share one matrix product; any other run gets its own, as it always did (the order of a
    product's additions can change its last bits).
    """
    weights = counts.astype(np.float32)
    sums: dict[int, np.ndarray] = {}
    exact = [run for run in runs if run.exact]
    if exact:
        product = weights @ np.concatenate([run.values for run in exact], axis=1)
        start = 0
        for run in exact:
            width = run.values.shape[1]
            sums[id(run)] = product[:, start : start + width]
            start += width
    out = []
    for run in runs:
        found = sums.get(id(run))
        if found is None:
            found = weights @ run.values  # replicates × width: the drawn examples' column sums
        out.append(combine_sums(run.combine, found.astype(np.float64), float(len(run))))
    return out


def picked_means(scores: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """Per replicate (row of ``scores``), the mean of the runs that row of ``picks`` names."""
    return np.take_along_axis(scores, picks, axis=1).mean(axis=1)


@dataclass
class SeedDraws:
    """One side's seed draws in one :func:`delta_interval`: ``rng_for(*parts)``'s first draw for a
    number of runs, the same for every language (as if re-created per language), made once."""

    parts: tuple[object, ...]
    replicates: int
    made: dict[int, np.ndarray] = field(default_factory=dict)

    def means(self, scores: np.ndarray) -> np.ndarray:
        """Per replicate (row of ``scores``, ``replicates × runs``), the mean over a draw with
        replacement of the runs; the draw is the same for every language of the replicate."""
        runs = scores.shape[1]
        if runs == 1:
            return scores[:, 0]
        if runs not in self.made:
            self.made[runs] = rng_for(*self.parts).integers(0, runs, size=(self.replicates, runs))
        return picked_means(scores, self.made[runs])


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
    languages: list[str] = []
    deltas: list[np.ndarray] = []
    total = np.zeros(draws.replicates)
    complete = True
    weight_sum = sum(weights.values())
    # the same seed draws for every language of a replicate: one draw per side, not per language
    mine_seeds = SeedDraws(("seeds", target, row_name), draws.replicates)
    their_seeds = SeedDraws(("seeds", target, row_name, "baseline"), draws.replicates)
    for lang, weight in weights.items():
        mine, theirs = setting.get(lang), baseline.get(lang)
        sizes = {len(run) for run in [*(mine or []), *(theirs or [])]}
        if not mine or not theirs or len(sizes) != 1:
            complete = False
            continue
        draws.prepare(target, lang, [*mine, *theirs])
        delta = mine_seeds.means(draws.scores(target, lang, mine)) - their_seeds.means(
            draws.scores(target, lang, theirs)
        )
        languages.append(lang)
        deltas.append(delta)
        if complete:
            total += weight / weight_sum * delta
    whole = complete and bool(weights)
    intervals = percentile_intervals([*deltas, total] if whole else deltas)
    return (intervals[-1] if whole else None), dict(zip(languages, intervals, strict=False))


@dataclass(frozen=True)
class IntervalRequest:
    """The arguments of one :func:`delta_interval` besides the target and the draws."""

    row_name: str
    setting: Mapping[str, Sequence[Sample]]
    baseline: Mapping[str, Sequence[Sample]]
    weights: Mapping[str, float]


Intervals = tuple[Interval | None, dict[str, Interval]]


def intervals(
    target: str, requests: Sequence[IntervalRequest], draws: ExampleDraws, memo: IntervalMemo | None = None
) -> list[Intervals]:
    """:func:`delta_interval` of each request on ``target``: from ``memo`` where the same one was
    computed before, the others with the runs they resample scored all at once, language by
    language (:meth:`ExampleDraws.prepare`), and then kept in ``memo``."""
    out: list[Intervals | None] = [None] * len(requests)
    keys: list[str | None] = [None] * len(requests)
    todo = []
    for i, request in enumerate(requests):
        key = memo.key(target, request, draws.replicates) if memo is not None else None
        keys[i] = key
        out[i] = memo.get(key) if memo is not None and key is not None else None
        if out[i] is None:
            todo.append(i)
    runs: dict[str, dict[int, Sample]] = {}
    for i in todo:
        for lang in requests[i].weights:
            both = [*requests[i].setting.get(lang, ()), *requests[i].baseline.get(lang, ())]
            if requests[i].setting.get(lang) and requests[i].baseline.get(lang) and len({len(r) for r in both}) == 1:
                runs.setdefault(lang, {}).update((id(run), run) for run in both)
    for lang in sorted(runs):
        draws.prepare(target, lang, runs[lang].values())
    for i in todo:
        request = requests[i]
        found = delta_interval(target, request.row_name, request.setting, request.baseline, request.weights, draws)
        out[i] = found
        key = keys[i]
        if memo is not None and key is not None:
            memo.put(key, found)
    return [found for found in out if found is not None]


class IntervalMemo:
    """Intervals computed before (``intervals.sqlite3`` in ``$STILTS_CACHE_DIR``), by a digest of
    everything :func:`delta_interval` reads: the target, the row name, the weights, each run's
    statistics (:attr:`Sample.digest`), the number of replicates and :data:`LEVEL`, the code of
    this module and of :mod:`harness.units`, and the numpy version (its generators and
    percentiles). Only intervals whose sums are exact (:attr:`Sample.exact`) are kept: those do not
    depend on the BLAS library or its threads. The :data:`MEMO_INTERVALS` most recently used are
    kept; without a writable cache folder nothing is."""

    def __init__(self) -> None:
        self.memo = BlobMemo("intervals.sqlite3", max_entries=MEMO_INTERVALS)

    def key(self, target: str, request: IntervalRequest, replicates: int) -> str | None:
        """The memo key, or None when some run's sums are not exact (such intervals are not kept)."""
        sides: dict[str, dict[str, list[str] | None]] = {"setting": {}, "baseline": {}}
        for lang in request.weights:
            for side, samples in (("setting", request.setting), ("baseline", request.baseline)):
                runs = samples.get(lang)
                if runs and not all(run.exact for run in runs):
                    return None
                sides[side][lang] = None if runs is None else [run.digest for run in runs]
        parts = {
            "code": _code_digest(),
            "numpy": np.__version__,
            "replicates": replicates,
            "level": LEVEL,
            "target": target,
            "row": request.row_name,
            "weights": [[lang, weight] for lang, weight in request.weights.items()],
            **sides,
        }
        text = json.dumps(parts, sort_keys=True, allow_nan=False)
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    def get(self, key: str) -> Intervals | None:
        body = self.memo.get(key)
        if body is None:
            return None
        try:
            value = json.loads(body)
            total = None if value["total"] is None else Interval(float(value["total"][0]), float(value["total"][1]))
            languages = {str(lang): Interval(float(low), float(high)) for lang, low, high in value["languages"]}
        except (ValueError, TypeError, KeyError, IndexError):  # not what put() wrote: compute it again
            return None
        return total, languages

    def put(self, key: str, found: Intervals) -> None:
        total, per_language = found
        value = {
            "total": None if total is None else [total.low, total.high],
            "languages": [[lang, interval.low, interval.high] for lang, interval in per_language.items()],
        }
        self.memo.put(key, json.dumps(value, allow_nan=False).encode("utf-8", "surrogatepass"))

    def close(self) -> None:
        """Record the new intervals and which were used (:meth:`BlobMemo.close`)."""
        self.memo.close()


@cache
def _code_digest() -> str:
    """sha256 of this module's and :mod:`harness.units`' code."""
    from harness import units

    digest = hashlib.sha256()
    for module_file in (__file__, units.__file__):
        digest.update(Path(module_file).read_bytes() + b"\0")
    return digest.hexdigest()


def percentile_intervals(series: Sequence[np.ndarray]) -> list[Interval]:
    """:data:`LEVEL` percentile intervals of each of ``series`` (equal lengths), in one call."""
    if not series:
        return []
    tail = 100 * (1 - LEVEL) / 2
    lows, highs = np.percentile(np.stack(series), [tail, 100 - tail], axis=1)
    return [Interval(float(low), float(high)) for low, high in zip(lows, highs, strict=True)]
