"""What the leaderboard shows, computed from result files: scores over seeds, Δ against the
baseline on matched languages with paired bootstrap intervals, category and overall averages,
the worst language and a rank. Rendering is :mod:`harness.leaderboard`'s job.

* A **row** is (model, method, intermediate, variant); its **baseline** is the row with the same
  model, method and variant and intermediate ``none`` (else the one without a variant). Results
  are pooled as seeds of one cell only when everything but the seed is the same: the resolved
  configuration, the model's fingerprint and the training data (:func:`setting_identity`).
  Results of the same (model, method, intermediate, target) that differ in anything else are
  **variants**, separate rows labelled by what differs (``learning_rate=2e-05``). A row's score on
  a target is the mean over its seeds of each run's aggregate (the task's own aggregation), ± the
  sample standard deviation over seeds.
* **One language set per column**: a target's languages are every language any row scored on it;
  a row whose seeds did not all score all of them is marked as missing those languages and is
  left out of the category and overall averages (never averaged in over fewer languages).
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
from harness.results import setting_identity
from harness.tasks import content_hash

RowKey = tuple[str, str, str, str]  # model, method, intermediate, variant

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

    def version_differences(self) -> dict[str, list[str]]:
        """The libraries (and Python) whose versions differ between this setting's seeds, with the
        versions seen: the one thing pooled results may differ in, shown so it is not hidden."""
        seen: dict[str, set[str]] = defaultdict(set)
        for run in self.runs:
            for name, version in (run.result.get("runtime", {}).get("versions") or {}).items():
                seen[name].add(str(version))
        return {name: sorted(found) for name, found in sorted(seen.items()) if len(found) > 1}

    def missing(self, column: Iterable[str]) -> list[str]:
        """The languages of the target's column that not every run scored."""
        return sorted(set(column) - set(self.languages))

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
    #: what sets this row apart from other rows of the same (model, method, intermediate), e.g.
    #: ``learning_rate=2e-05`` ("" when nothing does)
    variant: str = ""
    settings: dict[str, Setting] = field(default_factory=dict)
    deltas: dict[str, Delta] = field(default_factory=dict)
    category_means: dict[str, float | None] = field(default_factory=dict)
    category_deltas: dict[str, float | None] = field(default_factory=dict)
    overall: float | None = None
    overall_delta: float | None = None
    rank: int | None = None

    @property
    def key(self) -> RowKey:
        return (self.model, self.method, self.intermediate, self.variant)

    @property
    def label(self) -> str:
        """The intermediate, with the variant in brackets when there is one."""
        return f"{self.intermediate} [{self.variant}]" if self.variant else self.intermediate

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
        """The baseline row of the same model, method and variant (else the one without a variant)."""
        for variant in dict.fromkeys((row.variant, "")):
            found = next((r for r in self.rows if r.key == (row.model, row.method, BASELINE, variant)), None)
            if found is not None:
                return found
        return None


def leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    """A nested JSON value as ``{"dotted.key": leaf}`` (lists are leaves)."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, one in value.items():
            out.update(leaves(one, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): value}


def variant_labels(identities: list[dict[str, Any]]) -> list[str]:
    """A short label per identity saying what sets it apart from the others ("" for one alone):
    the differing settings as ``key=value`` (the last part of the key where that is unambiguous),
    ``data <digest>`` when the training data differ, ``model <fingerprint>`` for the model."""
    if len(identities) < 2:
        return [""] * len(identities)
    flat = [leaves(identity["config"]) for identity in identities]
    keys = sorted({key for one in flat for key in one})
    differing = [key for key in keys if len({repr(one.get(key)) for one in flat}) > 1]
    data_differs = len({content_hash(identity["data"]) for identity in identities}) > 1
    by_last: dict[str, list[str]] = defaultdict(list)
    for key in differing:
        by_last[key.rsplit(".", 1)[-1]].append(key)
    short = {}
    for last, keys_named in by_last.items():  # one name for keys that agree in every identity
        agree = all(len({repr(one.get(key)) for key in keys_named}) == 1 for one in flat)
        short.update({key: last if agree else key for key in keys_named})
    labels = []
    for identity, one in zip(identities, flat, strict=True):
        parts = [f"{short[key]}={one.get(key)}" for key in differing if key != "model_fingerprint"]
        if "model_fingerprint" in differing:
            parts.append(f"model {str(one.get('model_fingerprint'))[-8:]}")
        if data_differs:
            parts.append(f"data {content_hash(identity['data'], length=8)}")
        labels.append(", ".join(dict.fromkeys(parts)) if len(parts) <= 3 else ", ".join(parts[:3]) + ", …")
    return labels


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

    ordered_results = [result for _path, result in sorted(results, key=order)]
    variants = result_variants(ordered_results)
    rows: dict[RowKey, Row] = {}
    languages: dict[str, set[str]] = defaultdict(set)
    infos: dict[str, dict[str, Any]] = {}
    for result, variant in zip(ordered_results, variants, strict=True):
        cell, task = result["cell"], result["task"]
        metric = result["aggregate"]["metric"]
        key = (cell["model"], cell["method"], cell["intermediate"], variant)
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
    ordered = sorted(rows.values(), key=lambda r: (r.model, r.method, not r.is_baseline, r.intermediate, r.variant))
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


def result_variants(results: list[dict[str, Any]]) -> list[str]:
    """Each result's variant label among the results of the same (model, method, intermediate,
    target): "" when all of them share one :func:`setting_identity`."""
    groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for index, result in enumerate(results):
        cell = result["cell"]
        groups[(cell["model"], cell["method"], cell["intermediate"], cell["target"])].append(index)
    labels = [""] * len(results)
    for members in groups.values():
        identities: dict[str, dict[str, Any]] = {}
        for index in members:
            identities.setdefault(content_hash(setting_identity(results[index])), setting_identity(results[index]))
        named = dict(zip(identities, variant_labels(list(identities.values())), strict=True))
        for index in members:
            labels[index] = named[content_hash(setting_identity(results[index]))]
    return labels


def summarize_row(board: Board, row: Row) -> None:
    """Fill a row's category averages and overall average (and their Δs)."""
    base = board.baseline_of(row)
    for category, names in board.categories.items():
        row.category_means[category] = mean_over(board, row, names)
        base_mean = mean_over(board, base, names) if base is not None and not row.is_baseline else None
        row.category_deltas[category] = difference(row.category_means[category], base_mean)
    row.overall = mean_over(board, row, list(board.targets))
    if base is not None and not row.is_baseline:
        row.overall_delta = difference(row.overall, mean_over(board, base, list(board.targets)))


def mean_over(board: Board, row: Row, names: list[str]) -> float | None:
    """Mean of the row's target scores over ``names``; None unless it has all of them, each
    scored in every language of its column."""
    if not names or any(name not in row.settings for name in names):
        return None
    if any(row.settings[name].missing(board.targets[name].languages) for name in names):
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
