"""Result files: one JSON per (experiment cell, target task), validated and written atomically.

The leaderboard is a pure function of a results folder; it refuses (naming the file and the JSON
pointer) any result that does not validate against ``result.schema.json`` or fails the semantic
checks of :func:`result_issues` and :func:`conflict_issues`.
"""

from __future__ import annotations

import gc
import hashlib
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from harness.atomic import write_json_atomic
from harness.errors import SpecError, SpecIssue
from harness.specs import (
    finite_array,
    finite_matrix,
    load_schema,
    parse_json_bytes,
    pointer_segment,
    read_json_bytes,
    schema_issues,
    short_value,
    validate_data,
)
from harness.tasks import content_hash
from harness.units import WIDTH, score_of
from harness.validated import ValidMemo

SCHEMA_VERSION = 1


def write_result(
    path: Path, result: dict[str, Any], value_ranges: Mapping[str, tuple[float | None, float | None]] | None = None
) -> Path:
    """Validate with every check the leaderboard applies (the schema, :func:`result_issues`, the
    ``config_hash``) and the metrics' ``value_ranges``, then write atomically. A result that fails
    is refused with its reasons (:class:`SpecError`, naming the pointer), and nothing is written."""
    validate_data(result, "result", str(path))
    issues = result_issues(result, str(path)) + range_issues(result, str(path), value_ranges or {})
    if issues:
        raise SpecError(issues)
    write_json_atomic(path, result)
    return path


def range_issues(
    result: dict[str, Any], file: str, value_ranges: Mapping[str, tuple[float | None, float | None]]
) -> list[SpecIssue]:
    """Each per-language score outside the range its metric declares
    (:attr:`harness.interfaces.Metric.value_ranges`)."""
    issues = []
    for lang, scores in result["languages"].items():
        for key, value in scores.items():
            low, high = value_ranges.get(key, (None, None))
            if (low is not None and value < low) or (high is not None and value > high):
                span = f"[{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}]"
                issues.append(
                    SpecIssue(
                        file,
                        f"/languages/{pointer_segment(lang)}/{pointer_segment(key)}",
                        short_value(value),
                        f"a value in {span}, the range of {key!r}",
                    )
                )
    return issues


def aggregate(
    languages: dict[str, dict[str, float]], metric: str, aggregation: dict[str, str], train_language: str | None
) -> dict[str, Any]:
    """The task's average as its spec defines it (XTREME: macro mean over all eval languages)."""
    langs = sorted(languages)
    if aggregation["languages"] == "non_train":
        langs = [lang for lang in langs if lang != train_language] or langs
    if aggregation["mean"] == "size_weighted":
        total = sum(languages[lang]["n"] for lang in langs)
        mean = sum(languages[lang][metric] * languages[lang]["n"] for lang in langs) / total
    else:
        mean = sum(languages[lang][metric] for lang in langs) / len(langs)
    others = [languages[lang][metric] for lang in sorted(languages) if lang != "en"]
    return {
        "metric": metric,
        "mean": mean,
        "languages": langs,
        "english": languages["en"][metric] if "en" in languages else None,
        "mean_without_english": sum(others) / len(others) if others else None,
    }


#: Largest magnitude accepted for a score the leaderboard averages (scores are percentages; this
#: only keeps sums and variances far from float overflow).
SCORE_LIMIT = 1e15
_FINITE = f"a finite number (at most {SCORE_LIMIT:g} in magnitude)"


def _is_score(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and abs(value) <= SCORE_LIMIT
    )


def _same(stored: float | None, expected: float | None) -> bool:
    if stored is None or expected is None:
        return stored is None and expected is None
    return math.isclose(stored, expected, rel_tol=1e-9, abs_tol=1e-6)


def result_issues(result: dict[str, Any], file: str, matrices: dict[int, np.ndarray] | None = None) -> list[SpecIssue]:
    """What a schema-valid result can still get wrong, and the leaderboard relies on.

    Every language has a finite score for the task's main metric; the aggregate is over that metric,
    and its mean and languages are what :func:`aggregate` computes from the per-language scores
    (its informational ``english`` and ``mean_without_english`` need only be finite: the
    leaderboard reads English from ``languages``); the cell names this task, and its id, method
    suffix, ``selection`` and ``zero_shot`` agree. Only the main metric is checked among the
    per-language scores here (every number in a result is already finite: the schema check refuses NaN
    and Infinity anywhere).

    ``matrices``: the arrays :func:`~harness.specs.value_issues` made of this result's lists (by
    ``id``), so the per-example statistics are converted to numbers once.
    """
    from harness.experiment import Cell, Target  # lazily: experiment imports the task registry

    issues: list[SpecIssue] = []

    def add(pointer: str, value: str, expected: str) -> None:
        issues.append(SpecIssue(file, pointer, value, expected))

    cell, task, languages, agg = result["cell"], result["task"], result["languages"], result["aggregate"]
    metric = task["main_metric"]
    if agg["metric"] != metric:
        add("/aggregate/metric", short_value(agg["metric"]), f"the task's main metric {metric!r} (/task/main_metric)")
    for lang, scores in languages.items():
        if metric not in scores:
            add(
                f"/languages/{pointer_segment(lang)}",
                f"scores without {metric!r}",
                f"a score for the task's main metric {metric!r}",
            )
        elif not _is_score(scores[metric]):
            add(f"/languages/{pointer_segment(lang)}/{pointer_segment(metric)}", short_value(scores[metric]), _FINITE)
    for key in ("mean", "english", "mean_without_english"):
        if agg.get(key) is not None and not _is_score(agg[key]):
            add(f"/aggregate/{key}", short_value(agg[key]), _FINITE)

    if "config" in result and "config_hash" in result:
        expected_hash = content_hash(result["config"], length=20)
        if result["config_hash"] != expected_hash:
            add(
                "/config_hash",
                short_value(result["config_hash"]),
                f"{expected_hash!r}, the hash of /config (the configuration was edited after the run)",
            )
    if cell["target"] != task["name"]:
        add("/cell/target", short_value(cell["target"]), f"the task's name {task['name']!r} (/task/name)")
    expected_id = Cell(cell["intermediate"], Target(cell["target"]), cell["seed"]).id(cell["model"], cell["method"])
    if cell["id"] != expected_id:
        add(
            "/cell/id", short_value(cell["id"]), f"{expected_id!r} (model__method__intermediate__target__seed of /cell)"
        )
    target_dev = cell["method"].endswith("+target-dev")
    if "selection" in cell and (cell["selection"] == "target_dev") != target_dev:
        add(
            "/cell/selection",
            short_value(cell["selection"]),
            f"{'target_dev' if target_dev else 'english_dev'!r}, as the method {cell['method']!r} says",
        )
    if "zero_shot" in cell and cell["zero_shot"] == target_dev:
        add(
            "/cell/zero_shot",
            short_value(cell["zero_shot"]),
            f"{short_value(not target_dev)}: {'not ' if target_dev else ''}zero-shot, as the method {cell['method']!r} says",
        )
    if issues:
        return issues

    unscored = [lang for lang in agg["languages"] if lang not in languages]
    if unscored:
        add("/aggregate/languages", short_value(unscored), "only languages that have scores in /languages")
        return issues
    aggregation = task["aggregation"]
    if aggregation["mean"] == "size_weighted" and sum(s["n"] for s in languages.values()) == 0:
        add("/languages", "no evaluated example (every n is 0)", "at least one example for a size-weighted mean")
        return issues
    expected = aggregate(languages, metric, aggregation, task["train_language"])
    if sorted(agg["languages"]) != expected["languages"]:
        add(
            "/aggregate/languages",
            short_value(agg["languages"]),
            f"{short_value(expected['languages'])} (the languages that /task/aggregation averages over)",
        )
    if not _same(agg["mean"], expected["mean"]):
        add(
            "/aggregate/mean",
            short_value(agg["mean"]),
            f"{expected['mean']!r}, the {aggregation['mean']} mean of /languages/*/{pointer_segment(metric)}",
        )
    for lang, stats in result.get("units", {}).items():
        pointer = f"/units/{pointer_segment(lang)}"
        width = WIDTH[stats["combine"]]
        if lang not in languages:
            add(pointer, short_value(lang), "a language that has scores in /languages")
            continue
        array = _unit_rows(stats["values"], width, matrices)
        if array is None:  # something is wrong with the rows: find and name it
            bad_row = next(
                (i for i, row in enumerate(stats["values"]) if not isinstance(row, list) or len(row) != width), None
            )
            if bad_row is not None:
                add(
                    f"{pointer}/values/{bad_row}",
                    short_value(stats["values"][bad_row]),
                    f"{width} number(s) per example",
                )
                continue
            if not finite_matrix(stats["values"]):
                add(f"{pointer}/values", "a value that is not a finite number", f"rows of {width} finite number(s)")
                continue
            array = np.asarray(stats["values"])
        score = score_of({"combine": stats["combine"], "values": array})
        if abs(score - languages[lang][metric]) > 1e-6:
            add(
                pointer,
                f"statistics giving {score!r}",
                f"statistics that reproduce /languages/{pointer_segment(lang)}/{pointer_segment(metric)}",
            )
    return issues


def _unit_rows(values: Any, width: int, matrices: dict[int, np.ndarray] | None) -> np.ndarray | None:
    """``values`` as an ``examples × width`` array when every row is a list of ``width`` finite
    numbers, else None (then the row-by-row checks say what is wrong)."""
    if not isinstance(values, list) or set(map(type, values)) != {list}:
        return None
    array = matrices.get(id(values)) if matrices else None
    if array is None:
        array = finite_array(values)
    return array if array is not None and array.shape[1] == width else None


#: Parts of a result's ``config`` that are outcomes or bookkeeping, not settings.
NOT_SETTINGS = ("seed", "dev", "languages", "dev_languages", "dev_languages_without_data")


def setting_identity(result: Mapping[str, Any]) -> dict[str, Any]:
    """Everything of a result but its seed that decides its numbers: the resolved configuration
    (the model by its fingerprint, not its path or label) and the content of the training and dev
    data (digests and hub commits, not where the files lay). Two results are seeds of one cell
    exactly when these are equal."""

    def settings(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: settings(v) for k, v in value.items() if k not in NOT_SETTINGS}
        return value

    def content(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: content(v) for k, v in value.items() if k not in ("path", "snapshot")}
        if isinstance(value, list):
            return [content(v) for v in value]
        return value

    config = settings(dict(result["config"]))
    config.pop("model", None)  # its id is a path or a hub id; model_fingerprint identifies it
    training_data = [
        content(d) for d in result.get("data", []) if d.get("split") in ("train", "dev", "translate_train")
    ]
    return {"config": config, "data": training_data}


def conflict_issues(results: Iterable[tuple[Path, dict[str, Any]]]) -> list[SpecIssue]:
    """Problems between results that are each fine alone: the same cell and seed twice with the same
    settings (it would count as two seeds; results that differ in a setting are variants, shown as
    separate rows), or one task name with two definitions (its scores would be averaged together)."""
    issues: list[SpecIssue] = []
    cells: dict[tuple[Any, ...], Path] = {}
    tasks: dict[str, tuple[Path, dict[str, Any]]] = {}
    for path, result in results:
        cell, task = result["cell"], result["task"]
        identity = json.dumps(setting_identity(result), sort_keys=True, default=str)
        setting = hashlib.sha256(identity.encode("utf-8")).hexdigest()
        key = (cell["model"], cell["method"], cell["intermediate"], cell["target"], cell["seed"], setting)
        if key in cells:
            issues.append(
                SpecIssue(
                    str(path),
                    "/cell",
                    f"cell {cell['id']!r}",
                    f"one result per cell and seed; {cells[key]} has the same model, method, "
                    "intermediate, target, seed and settings",
                )
            )
        else:
            cells[key] = path
        first = tasks.setdefault(task["name"], (path, task))
        for field in ("main_metric", "train_language", "aggregation"):
            if task[field] != first[1][field]:
                issues.append(
                    SpecIssue(
                        str(path),
                        f"/task/{field}",
                        short_value(task[field]),
                        f"{short_value(first[1][field])} as in {first[0]} (one definition per task name)",
                    )
                )
    return issues


def load_results(folder: Path, exclude: Iterable[Path] = ()) -> list[tuple[Path, dict[str, Any]]]:
    """Every ``*.json`` result under ``folder`` (recursively), in path order.

    Hidden files and folders, and anything under a folder in ``exclude``, are skipped. Each result
    is validated against ``result.schema.json`` and :func:`result_issues` (unless the same bytes
    passed the same validator before: :mod:`harness.validated`), then all of them against
    :func:`conflict_issues`; the first invalid file (or every conflict) raises :class:`SpecError`,
    naming the file and the JSON pointer.

    The per-example statistics come as numpy arrays (``units.<lang>.values``: ``examples × width``,
    the integers or floats of the file, as ``np.asarray`` reads the lists): what the leaderboard
    computes with, in a fraction of the memory (and time) millions of small lists would take.
    """
    folder = Path(folder)
    skipped = [Path(p).resolve() for p in exclude]
    schema = load_schema("result")
    memo = ValidMemo()
    out = []
    with gc_paused():
        try:
            for path in sorted(folder.rglob("*.json")):
                if any(part.startswith(".") for part in path.relative_to(folder).parts) or not path.is_file():
                    continue
                if skipped and any(path.resolve().is_relative_to(p) for p in skipped):
                    continue
                out.append((path, _load_result(path, schema, memo)))
        finally:
            memo.close()
    issues = conflict_issues(out)
    if issues:
        raise SpecError(issues)
    return out


def _load_result(path: Path, schema: dict[str, Any], memo: ValidMemo) -> dict[str, Any]:
    """One result file, parsed and validated, unless these very bytes passed the same validator
    before: then its content comes from the memo, or (if the memo did not keep it) the file is only
    parsed (the strict reading and every check would pass again)."""
    file = str(path)
    raw = read_json_bytes(path)
    digest = hashlib.sha256(raw).hexdigest()
    data = memo.recall(digest)
    if data is not None:
        return data
    matrices: dict[int, np.ndarray] = {}
    if memo.known(digest):
        data = parse_json_bytes(raw, file, known_valid=True)
    else:
        data = parse_json_bytes(raw, file)  # bad bytes, depth, duplicate keys ... are SpecErrors already
        issues = schema_issues(data, schema, file, matrices) or result_issues(data, file, matrices)
        if issues:
            raise SpecError(issues)
        memo.remember(digest)
    for stats in data.get("units", {}).values():
        array = matrices.get(id(stats["values"]))
        stats["values"] = np.asarray(stats["values"]) if array is None else array
    memo.keep(digest, data)
    return data


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (as it was before, afterwards).

    Parsed results are millions of small lists and floats without reference cycles; while they are
    being made, each collection would walk all of those already made again, for nothing
    (reference counting frees them when they are dropped).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
