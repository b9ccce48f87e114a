"""What the leaderboard shows, computed from result files: scores over seeds, Δ against the
baseline on matched languages with paired bootstrap intervals, category and overall averages,
the worst language and a rank. Rendering is :mod:`harness.leaderboard`'s job.

* A **row** is (model, method, intermediate); its **baseline** is the row with the same model and
  method and intermediate ``none``. A row's score on a target is the mean over its seeds of each
  run's aggregate (the task's own aggregation), ± the sample standard deviation over seeds.
* **Δ** compares a row with its baseline on the languages both scored in every seed (so a row
  evaluated on more languages is never compared with an average over fewer), with the task's
  aggregation applied to those languages; per language, Δ of the seed means. Its interval is the
  paired bootstrap of :mod:`harness.bootstrap`.
* **Categories** follow XTREME: sentence classification, structured prediction, question
  answering, retrieval (a task's category comes from its result, else from its task type). A
  row's category average is the mean of its target scores in the category; the overall average
  is the mean over all targets. Both need every target of the board the category (or the board)
  has, and so does the **rank** (by overall average; equal averages share a rank).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.bootstrap import (
    ExampleDraws,
    Interval,
    IntervalMemo,
    IntervalRequest,
    Sample,
    intervals,
)
from harness.experiment import BASELINE

RowKey = tuple[str, str, str]  # model, method, intermediate

#: XTREME's task categories, in its order, and the task types that belong to each by default.
CATEGORIES = {
    "classification": "sentence classification",
    "structured_prediction": "structured prediction",
    "question_answering": "question answering",
    "retrieval": "retrieval",
}
TYPE_CATEGORIES = {
    "classification": "classification",
    "pair_classification": "classification",
    "multiple_choice": "classification",
    "tagging": "structured_prediction",
    "extractive_qa": "question_answering",
    "retrieval": "retrieval",
    "bitext_mining": "retrieval",
    "lareqa": "retrieval",
}


def task_category(task: Mapping[str, Any]) -> str | None:
    """A result's ``task`` section's XTREME category: its own ``category``, else its task type's."""
    return task.get("category") or TYPE_CATEGORIES.get(task.get("task_type", ""))


@dataclass
class Run:
    """One result: one seed of a row on a target."""

    seed: int
    cell_id: str
    scores: dict[str, float]
    sizes: dict[str, int]
    samples: dict[str, Sample]
    aggregate: float
    result: dict[str, Any]


@dataclass(frozen=True)
class TargetInfo:
    name: str
    metric: str
    aggregation: dict[str, str]
    train_language: str | None
    category: str | None
    languages: tuple[str, ...]


@dataclass
class Setting:
    """A row's runs on one target, in seed order."""

    runs: list[Run] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return statistics.fmean(run.aggregate for run in self.runs)

    @property
    def std(self) -> float | None:
        return statistics.stdev([run.aggregate for run in self.runs]) if len(self.runs) > 1 else None

    @property
    def languages(self) -> list[str]:
        """Languages every run scored."""
        common = set.intersection(*(set(run.scores) for run in self.runs))
        return sorted(common)

    def lang_mean(self, lang: str) -> float | None:
        values = [run.scores[lang] for run in self.runs if lang in run.scores]
        return statistics.fmean(values) if values else None

    def lang_std(self, lang: str) -> float | None:
        values = [run.scores[lang] for run in self.runs if lang in run.scores]
        return statistics.stdev(values) if len(values) > 1 else None

    def worst(self) -> tuple[str, float] | None:
        means = {lang: self.lang_mean(lang) for lang in self.languages}
        scored = {lang: value for lang, value in means.items() if value is not None}
        if not scored:
            return None
        lang = min(scored, key=lambda k: (scored[k], k))
        return lang, scored[lang]


@dataclass
class Delta:
    """A row minus its baseline on one target, over ``languages`` (scored by both)."""

    value: float
    languages: list[str]
    interval: Interval | None
    per_language: dict[str, tuple[float, Interval | None]]


@dataclass
class Row:
    model: str
    method: str
    intermediate: str
    settings: dict[str, Setting] = field(default_factory=dict)
    deltas: dict[str, Delta] = field(default_factory=dict)
    category_means: dict[str, float | None] = field(default_factory=dict)
    category_deltas: dict[str, float | None] = field(default_factory=dict)
    overall: float | None = None
    overall_delta: float | None = None
    rank: int | None = None

    @property
    def key(self) -> RowKey:
        return (self.model, self.method, self.intermediate)

    @property
    def is_baseline(self) -> bool:
        return self.intermediate == BASELINE


def weights_for(info: TargetInfo, languages: Iterable[str], sizes: Mapping[str, int]) -> dict[str, float]:
    """The task's aggregation as weights over ``languages`` (see :func:`harness.results.aggregate`)."""
    langs = sorted(languages)
    if info.aggregation.get("languages") == "non_train":
        langs = [lang for lang in langs if lang != info.train_language] or langs
    if info.aggregation.get("mean") == "size_weighted":
        return {lang: float(sizes.get(lang, 0)) for lang in langs}
    return dict.fromkeys(langs, 1.0)


def weighted(values: Mapping[str, float], weights: Mapping[str, float]) -> float | None:
    total = sum(weights.values())
    return sum(values[lang] * w for lang, w in weights.items()) / total if total > 0 else None


@dataclass
class Comparison:
    """What a Δ of a row against its baseline on one target needs before its interval: the matched
    languages, the per-language Δ and its weighted value, and what the bootstrap resamples."""

    languages: list[str]
    per_language: dict[str, float]
    value: float
    request: IntervalRequest

    def delta(self, interval: Interval | None, per_language: Mapping[str, Interval]) -> Delta:
        return Delta(
            value=self.value,
            languages=self.languages,
            interval=interval,
            per_language={lang: (self.per_language[lang], per_language.get(lang)) for lang in self.languages},
        )


def comparison(name: str, row: Row, base: Row, info: TargetInfo) -> Comparison | None:
    """The Δ of ``row`` against ``base`` on target ``name`` over the languages both scored, before
    its interval (None when one has no result on the target, or the languages weigh nothing)."""
    mine, theirs = row.settings.get(name), base.settings.get(name)
    if mine is None or theirs is None:
        return None
    matched = sorted(set(mine.languages) & set(theirs.languages))
    sizes = {lang: mine.runs[0].sizes.get(lang, 0) for lang in matched}
    weights = weights_for(info, matched, sizes)
    row_means = {lang: mine.lang_mean(lang) for lang in matched}
    base_means = {lang: theirs.lang_mean(lang) for lang in matched}
    per_language_delta = {
        lang: row_means[lang] - base_means[lang]  # type: ignore[operator]
        for lang in matched
    }
    value = weighted(per_language_delta, weights)
    if value is None:
        return None

    def samples(setting: Setting) -> dict[str, list[Sample]]:
        found: dict[str, list[Sample]] = {}
        for lang in matched:
            runs = [run.samples.get(lang) for run in setting.runs]
            if all(sample is not None for sample in runs):
                found[lang] = [sample for sample in runs if sample is not None]
        return found

    request = IntervalRequest("|".join(row.key), samples(mine), samples(theirs), weights)
    return Comparison(matched, per_language_delta, value, request)


@dataclass
class Board:
    rows: list[Row]
    targets: dict[str, TargetInfo]

    @property
    def categories(self) -> dict[str, list[str]]:
        """Category -> its targets on this board, in XTREME's category order."""
        found: dict[str, list[str]] = defaultdict(list)
        for name, info in self.targets.items():
            if info.category in CATEGORIES:
                found[info.category].append(name)
        return {category: found[category] for category in CATEGORIES if category in found}

    def baseline_of(self, row: Row) -> Row | None:
        return next((r for r in self.rows if r.key == (row.model, row.method, BASELINE)), None)


def build_board(
    results: Iterable[tuple[Path, dict[str, Any]]], draws: ExampleDraws | None = None, remember: bool = True
) -> Board:
    """Rows, targets and every derived number from loaded (and validated) results; the same
    results in any order or under any file names give the same board. ``remember``: take the
    bootstrap intervals computed before from their memo (:class:`~harness.bootstrap.IntervalMemo`),
    and keep the new ones there."""
    draws = draws or ExampleDraws()

    def order(item: tuple[Path, dict[str, Any]]) -> tuple[Any, ...]:
        cell = item[1]["cell"]
        return (cell["model"], cell["method"], cell["intermediate"], cell["target"], cell["seed"], cell["id"])

    rows: dict[RowKey, Row] = {}
    languages: dict[str, set[str]] = defaultdict(set)
    infos: dict[str, dict[str, Any]] = {}
    for _path, result in sorted(results, key=order):
        cell, task = result["cell"], result["task"]
        metric = result["aggregate"]["metric"]
        key = (cell["model"], cell["method"], cell["intermediate"])
        row = rows.setdefault(key, Row(*key))
        setting = row.settings.setdefault(task["name"], Setting())
        setting.runs.append(
            Run(
                seed=cell["seed"],
                cell_id=cell["id"],
                scores={lang: scores[metric] for lang, scores in result["languages"].items()},
                sizes={lang: int(scores.get("n", 0)) for lang, scores in result["languages"].items()},
                samples={lang: Sample.of(stats) for lang, stats in result.get("units", {}).items()},
                aggregate=result["aggregate"]["mean"],
                result=result,
            )
        )
        languages[task["name"]].update(result["languages"])
        infos.setdefault(
            task["name"],
            {
                "metric": metric,
                "aggregation": dict(sorted(task["aggregation"].items())),
                "train_language": task["train_language"],
                "category": task_category(task),
            },
        )
    targets = {
        name: TargetInfo(name=name, languages=tuple(sorted(languages[name])), **infos[name]) for name in sorted(infos)
    }
    ordered = sorted(rows.values(), key=lambda r: (r.model, r.method, not r.is_baseline, r.intermediate))
    board = Board(ordered, targets)
    pairs = [(row, base) for row in board.rows if not row.is_baseline and (base := board.baseline_of(row)) is not None]
    memo = IntervalMemo() if remember else None
    try:
        for name, info in board.targets.items():  # target by target: its example draws serve every row
            found = [(row, c) for row, base in pairs if (c := comparison(name, row, base, info)) is not None]
            computed = intervals(name, [c.request for _, c in found], draws, memo)
            for (row, c), (interval, per_language) in zip(found, computed, strict=True):
                row.deltas[name] = c.delta(interval, per_language)
    finally:
        if memo is not None:
            memo.close()
    for row in board.rows:
        summarize_row(board, row)
    rank_rows(board.rows)
    return board


def summarize_row(board: Board, row: Row) -> None:
    """Fill a row's category averages and overall average (and their Δs)."""
    base = board.baseline_of(row)
    for category, names in board.categories.items():
        row.category_means[category] = mean_over(row, names)
        base_mean = mean_over(base, names) if base is not None and not row.is_baseline else None
        row.category_deltas[category] = difference(row.category_means[category], base_mean)
    row.overall = mean_over(row, list(board.targets))
    if base is not None and not row.is_baseline:
        row.overall_delta = difference(row.overall, mean_over(base, list(board.targets)))


def mean_over(row: Row, names: list[str]) -> float | None:
    """Mean of the row's target scores over ``names``; None unless it has all of them."""
    if not names or any(name not in row.settings for name in names):
        return None
    return statistics.fmean(row.settings[name].mean for name in names)


def difference(value: float | None, base: float | None) -> float | None:
    return None if value is None or base is None else value - base


def rank_rows(rows: list[Row]) -> None:
    """Rank by overall average, best first; equal averages share a rank (1, 2, 2, 4)."""
    ranked = sorted((r for r in rows if r.overall is not None), key=lambda r: -r.overall)  # type: ignore[operator]
    for position, row in enumerate(ranked, start=1):
        previous = ranked[position - 2] if position > 1 else None
        row.rank = previous.rank if previous is not None and previous.overall == row.overall else position
