"""The leaderboard build's fast paths give exactly what the plain ones give: the strict JSON
reader's cheap screens, the per-example statistics checked once, the bootstrap's batched sums and
percentiles (bit for bit against the plain computation), and the memos of result contents,
bootstrap intervals and charts (a rebuild reads them, never a stale or damaged entry)."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import harness.bootstrap as bootstrap
import harness.charts as charts
import harness.results as results_module
from harness.blob_memo import BlobMemo
from harness.bootstrap import ExampleDraws, Interval, IntervalMemo, IntervalRequest, Sample, delta_interval
from harness.comparison import build_board
from harness.errors import SpecIssue
from harness.leaderboard import build_site, render_site
from harness.results import load_results, result_issues
from harness.specs import _HUGE_NUMBER, _STRING, MAX_JSON_DEPTH, _may_overflow, _too_deep, pointer_segment, short_value
from harness.units import WIDTH, combine_sums, score_of
from harness.validated import decode_result, encode_result
from tests.test_comparison import with_units
from tests.test_leaderboard import make_result, site_bytes, write_result


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test starts with empty memos."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("STILTS_CACHE_DIR", str(folder))
    return folder


# -- the strict reader's screens -----------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='0123456789eE+-.,[]{}" a\\', max_size=400))
def test_overflow_screen_finds_whatever_the_huge_number_pattern_finds(text: str) -> None:
    if _HUGE_NUMBER.search(text):
        assert _may_overflow(text)


@pytest.mark.parametrize(
    "text", ["[1e308]", "[1E400]", "[2e+999]", "[" + "9" * 300 + "]", "[0.5e0400]", "é" + "1" * 300]
)
def test_overflow_screen_finds_huge_numbers(text: str) -> None:
    assert _may_overflow(text)


def _too_deep_reference(text: str) -> int | None:
    """The bracket walk the screen must agree with (strings skipped)."""
    depth = 0
    for match in re.finditer(_STRING + r"|[\[\]{}]", text, re.DOTALL):
        if match.group()[0] == '"':
            continue
        depth += 1 if match.group() in "[{" else -1
        if depth > MAX_JSON_DEPTH:
            return match.start()
    return None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["[", "]", "{", "}", '"[["', '"\\"]"', "1", ",", "é", '"\\u00e9{"']), max_size=300))
def test_depth_screen_agrees_with_the_bracket_walk(tokens: list[str]) -> None:
    text = "".join(tokens)
    assert _too_deep(text) == _too_deep_reference(text)


# -- per-example statistics checked once ---------------------------------------------------------


def _units_reference(result: dict[str, Any], file: str) -> list[SpecIssue]:
    """The row-by-row checks of the statistics, as they were before the numpy fast path."""
    from harness.specs import finite_matrix

    issues = []
    languages, metric = result["languages"], result["task"]["main_metric"]
    for lang, stats in result.get("units", {}).items():
        pointer = f"/units/{pointer_segment(lang)}"
        width = WIDTH[stats["combine"]]
        bad_row = next(
            (i for i, row in enumerate(stats["values"]) if not isinstance(row, list) or len(row) != width), None
        )
        if lang not in languages:
            issues.append(SpecIssue(file, pointer, short_value(lang), "a language that has scores in /languages"))
        elif bad_row is not None:
            issues.append(
                SpecIssue(
                    file,
                    f"{pointer}/values/{bad_row}",
                    short_value(stats["values"][bad_row]),
                    f"{width} number(s) per example",
                )
            )
        elif not finite_matrix(stats["values"]):
            issues.append(
                SpecIssue(
                    file,
                    f"{pointer}/values",
                    "a value that is not a finite number",
                    f"rows of {width} finite number(s)",
                )
            )
        elif abs(score_of(stats) - languages[lang][metric]) > 1e-6:
            issues.append(
                SpecIssue(
                    file,
                    pointer,
                    f"statistics giving {score_of(stats)!r}",
                    f"statistics that reproduce /languages/{pointer_segment(lang)}/{pointer_segment(metric)}",
                )
            )
    return issues


class Row(list):  # type: ignore[type-arg]
    """A list subclass: the fast path leaves it to the row-by-row checks."""


ROWS = [
    [[1.0]] * 20 + [[0.0]] * 20,  # reproduces de's 50.0
    [[1]] * 20 + [[0]] * 20,  # integers
    [[True]] * 20 + [[0]] * 20,  # booleans among numbers (numpy reads them as integers)
    [[True]] * 20 + [[False]] * 20,  # booleans only: not numbers
    [[1.0]] * 19 + [[0.0]] * 21,  # does not reproduce the score
    [[1.0, 1.0]] + [[0.0]] * 39,  # a row of another width
    [[1.0]] * 20 + [[0.0]] * 19 + [(0.0,)],  # a tuple row
    [Row([1.0])] * 20 + [[0.0]] * 20,  # list subclass rows
    [[1.0]] * 20 + [[float("nan")]] * 20,
    [[1.0]] * 20 + [["0"]] * 20,
    [[1.0]] * 20 + [[[0.0]]] * 20,
    [[10**30]] * 40,
    [],
    [[1.0], 0.0],
]


@pytest.mark.parametrize("rows", ROWS)
def test_statistics_checks_match_the_row_by_row_checks(rows: list[Any]) -> None:
    result = make_result(scores={"en": 80.0, "de": 50.0, "fr": 55.0})
    result["units"] = {"de": {"combine": "mean", "values": rows}, "xx": {"combine": "mean", "values": rows}}
    expected = _units_reference(result, "f")
    assert [i for i in result_issues(result, "f") if i.pointer.startswith("/units")] == expected
    from harness.specs import value_issues

    matrices: dict[int, np.ndarray] = {}
    value_issues(result, "f", matrices)
    assert [i for i in result_issues(result, "f", matrices) if i.pointer.startswith("/units")] == expected


def test_loaded_statistics_are_arrays_of_the_file_numbers(tmp_path: Path) -> None:
    result = with_units(make_result(scores={"de": 50.0, "fr": 25.0}))
    result["units"]["fr"]["values"] = [[1]] * 10 + [[0]] * 30  # integers stay integers
    write_result(tmp_path / "results", result)
    for _ in range(2):  # validated, then from the memo
        [(_path, loaded)] = load_results(tmp_path / "results")
        de, fr = loaded["units"]["de"]["values"], loaded["units"]["fr"]["values"]
        assert de.dtype == np.float64 and de.shape == (40, 1) and de[:20].sum() == 20
        assert fr.dtype == np.int64 and fr.tolist() == result["units"]["fr"]["values"]


# -- the memo of result contents ------------------------------------------------------------------


def test_result_contents_read_back_bit_for_bit() -> None:
    data: dict[str, Any] = {
        "name": "m\ud800",
        "big": 10**40,
        "zero": -0.0,
        "nested": {"x": [1, 2.5, None, True, "é"]},
        "units": {
            "de": {"combine": "mean", "values": np.array([[1.0], [0.0], [-0.0]])},
            "fr": {"combine": "ratio", "values": np.array([[0.1, 3.0], [2.0, 1e300]])},
            "sw": {"combine": "f1", "values": np.array([[1, 2, 3], [-40000, 2**40, 0]])},
            "ja": {"combine": "mean", "values": np.array([[0.5], [0.25]])},
        },
    }
    back = decode_result(encode_result(data))
    assert {k: v for k, v in back.items() if k != "units"} == {k: v for k, v in data.items() if k != "units"}
    assert json.dumps(back["zero"]) == "-0.0" and back["name"] == "m\ud800"
    for lang, stats in data["units"].items():
        again = back["units"][lang]["values"]
        assert again.dtype == stats["values"].dtype and again.shape == stats["values"].shape
        assert again.tobytes() == stats["values"].tobytes() and again.flags.writeable


def test_a_rebuild_reads_kept_contents_not_the_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "results"
    write_result(folder, with_units(make_result(scores={"de": 50.0, "fr": 25.0})))
    [(_p, first)] = load_results(folder)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("parsed again")

    with monkeypatch.context() as patch:
        patch.setattr(results_module, "parse_json_bytes", refuse)
        [(_p, again)] = load_results(folder)
    assert json.dumps({**again, "units": None}) == json.dumps({**first, "units": None})
    assert all(np.array_equal(again["units"][k]["values"], v["values"]) for k, v in first["units"].items())


def test_a_damaged_kept_content_is_not_used(tmp_path: Path, own_cache: Path) -> None:
    folder = tmp_path / "results"
    write_result(folder, with_units(make_result(scores={"de": 50.0, "fr": 25.0})))
    load_results(folder)
    db = sqlite3.connect(own_cache / "result-contents.sqlite3")
    [(key, body)] = db.execute("SELECT key, body FROM memo").fetchall()
    damaged = bytes(body).replace(b'"de"', b'"xx"')
    db.execute("UPDATE memo SET body = ? WHERE key = ?", (damaged, key))  # sha256 no longer matches
    db.commit()
    [(_p, again)] = load_results(folder)
    assert set(again["units"]) == {"de", "fr"}
    db.execute("UPDATE memo SET body = ?, sha256 = ? WHERE key = ?", (b"{", hashlib.sha256(b"{").hexdigest(), key))
    db.commit()  # not what encode_result writes, yet its digest matches
    [(_p, again)] = load_results(folder)
    assert set(again["units"]) == {"de", "fr"}


# -- the bootstrap ------------------------------------------------------------------------------


def _reference_interval(
    target: str, row_name: str, setting: dict, baseline: dict, weights: dict, replicates: int
) -> tuple[Interval | None, dict[str, Interval]]:
    """delta_interval as it was: one float32 product per run, a new seed generator per language,
    one percentile call per series."""

    def scores(runs: list[Sample], counts: np.ndarray) -> np.ndarray:
        columns = []
        for run in runs:
            sums = counts.astype(np.float32) @ run.values
            columns.append(combine_sums(run.combine, sums.astype(np.float64), float(len(run))))
        return np.stack(columns, axis=1)

    def means(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        reps, runs = values.shape
        if runs == 1:
            return values[:, 0]
        picks = rng.integers(0, runs, size=(reps, runs))
        return np.take_along_axis(values, picks, axis=1).mean(axis=1)

    def interval(values: np.ndarray) -> Interval:
        tail = 100 * (1 - 0.95) / 2  # 2.5000000000000022, as the module computes it
        low, high = np.percentile(values, [tail, 100 - tail])
        return Interval(float(low), float(high))

    per_language = {}
    total: np.ndarray | None = np.zeros(replicates)
    weight_sum = sum(weights.values())
    for lang, weight in weights.items():
        mine, theirs = setting.get(lang), baseline.get(lang)
        sizes = {len(run) for run in [*(mine or []), *(theirs or [])]}
        if not mine or not theirs or len(sizes) != 1:
            total = None
            continue
        size = sizes.pop()
        rng = bootstrap.rng_for("examples", target, lang, size)
        counts = rng.multinomial(size, np.full(size, 1.0 / size), size=replicates).astype(np.uint16)
        delta = means(scores(mine, counts), bootstrap.rng_for("seeds", target, row_name)) - means(
            scores(theirs, counts), bootstrap.rng_for("seeds", target, row_name, "baseline")
        )
        per_language[lang] = interval(delta)
        if total is not None:
            total += weight / weight_sum * delta
    return (interval(total) if total is not None and weights else None), per_language


def _sample(rng: np.random.Generator, size: int, combine: str, kind: str) -> Sample:
    width = WIDTH[combine]
    if kind == "binary":
        values = (rng.random((size, width)) < 0.5).astype(float)
    elif kind == "counts":
        values = rng.integers(0, 7, size=(size, width)).astype(float) * np.where(rng.random((size, width)) < 0.1, -1, 1)
    else:  # fractions: float32 sums depend on the order of the additions
        values = rng.random((size, width))
    return Sample.of({"combine": combine, "values": values.tolist()})  # type: ignore[typeddict-item]


@pytest.mark.parametrize("seed", range(6))
def test_intervals_equal_the_plain_computation_bit_for_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    replicates = 200
    combine = ["mean", "ratio", "f1"][seed % 3]
    kinds = ["binary", "counts", "fractions"]
    draws = ExampleDraws(replicates=replicates)
    requests = []
    for row in range(3):
        setting, baseline, weights = {}, {}, {}
        for lang, size in (("de", 37), ("fr", 50), ("sw", 50), ("ja", 12)):
            kind = kinds[(seed + row + len(lang)) % 3]
            runs = 1 + (seed + row) % 3
            setting[lang] = [_sample(rng, size, combine, kind) for _ in range(runs)]
            baseline[lang] = [_sample(rng, size if lang != "ja" or row != 1 else 13, combine, kind) for _ in range(3)]
            weights[lang] = float(size) if seed % 2 else 1.0
        if row == 2:
            del setting["sw"]  # a language one side lacks
        requests.append(IntervalRequest(f"row{row}", setting, baseline, weights))
    found = bootstrap.intervals("t", requests, draws, IntervalMemo())
    for request, got in zip(requests, found, strict=True):
        expected = _reference_interval(
            "t", request.row_name, dict(request.setting), dict(request.baseline), dict(request.weights), replicates
        )
        assert got == expected
        assert delta_interval("t", request.row_name, request.setting, request.baseline, request.weights, draws) == got
    again = bootstrap.intervals("t", requests, ExampleDraws(replicates=replicates), IntervalMemo())
    assert again == found  # from the memo where it may answer, computed again where not


def test_exact_sums_are_recognised() -> None:
    assert Sample.of({"combine": "mean", "values": [[1.0], [0.0], [-0.0]]}).exact
    assert Sample.of({"combine": "f1", "values": [[3.0, 4.0, 5.0]] * 10}).exact
    assert not Sample.of({"combine": "mean", "values": [[0.5], [1.0]]}).exact
    assert Sample.of({"combine": "mean", "values": [[2.0**23]] * 2}).exact  # 2 x 2**23 = 2**24: still exact
    assert not Sample.of({"combine": "mean", "values": [[2.0**23 + 2]] * 2}).exact


def test_fractional_statistics_are_not_kept_in_the_interval_memo() -> None:
    rng = np.random.default_rng(0)
    exact = IntervalRequest(
        "r", {"de": [_sample(rng, 20, "mean", "binary")]}, {"de": [_sample(rng, 20, "mean", "binary")]}, {"de": 1.0}
    )
    fractional = IntervalRequest("r", {"de": [_sample(rng, 20, "mean", "fractions")]}, exact.baseline, {"de": 1.0})
    memo = IntervalMemo()
    assert memo.key("t", exact, 100) is not None
    assert memo.key("t", fractional, 100) is None
    assert memo.key("t", exact, 100) != memo.key("u", exact, 100) != memo.key("t", exact, 101)


def _study(folder: Path) -> None:
    for seed in (1, 2):
        write_result(folder, with_units(make_result(seed=seed, scores={"de": 50.0, "fr": 50.0})))
        better = make_result(intermediate="mnli", seed=seed, scores={"de": 90.0, "fr": 87.5 + 2.5 * seed})
        write_result(folder, with_units(better))


def test_a_rebuild_takes_intervals_from_the_memo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_cache: Path
) -> None:
    _study(tmp_path / "results")
    results = load_results(tmp_path / "results")
    first = build_board(results)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("drawn again")

    with monkeypatch.context() as patch:
        patch.setattr(ExampleDraws, "counts", refuse)
        again = build_board(results)
    assert again.rows[1].deltas == first.rows[1].deltas and first.rows[1].deltas["qs-x"].interval is not None
    db = sqlite3.connect(own_cache / "intervals.sqlite3")
    body = b'{"total": 1}'  # not what put() writes, stored as if it were
    db.execute("UPDATE memo SET body = ?, sha256 = ?", (body, hashlib.sha256(body).hexdigest()))
    db.commit()
    assert build_board(results).rows[1].deltas == first.rows[1].deltas
    assert build_board(results, remember=False).rows[1].deltas == first.rows[1].deltas


# -- charts -------------------------------------------------------------------------------------


def test_charts_are_drawn_once_per_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _study(tmp_path / "results")
    board = build_board(load_results(tmp_path / "results"))
    first = render_site(board, "t")
    drawn: list[str] = []
    real = charts.draw

    def counting(spec: charts.ChartSpec) -> bytes:
        drawn.append(spec.kind)
        return real(spec)

    monkeypatch.setattr(charts, "draw", counting)
    assert render_site(board, "t") == first and drawn == []
    changed = copy.deepcopy(board)
    delta = changed.rows[1].deltas["qs-x"]
    delta.per_language["de"] = (delta.per_language["de"][0] + 1.0, delta.per_language["de"][1])
    files = render_site(changed, "t")
    assert drawn == ["target"]  # the overview shows the target averages only: unchanged
    assert files["chart-overview.svg"] == first["chart-overview.svg"]
    [target_chart] = [name for name in files if name.startswith("chart-qs")]
    assert files[target_chart] != first[target_chart]


def test_sites_built_with_and_without_memos_are_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _study(tmp_path / "results")
    build_site(tmp_path / "results", tmp_path / "first")
    build_site(tmp_path / "results", tmp_path / "again")  # every memo answers
    monkeypatch.setenv("STILTS_CACHE_DIR", str(tmp_path / "fresh"))
    build_site(tmp_path / "results", tmp_path / "fresh-site")
    assert site_bytes(tmp_path / "first") == site_bytes(tmp_path / "again") == site_bytes(tmp_path / "fresh-site")


# -- the memo they share ------------------------------------------------------------------------


def test_a_blob_memo_keeps_the_most_recently_used_within_its_limits(own_cache: Path) -> None:
    memo = BlobMemo("t.sqlite3", max_entries=3)
    for key in "abcd":
        memo.put(key, key.encode() * 10)
    memo.close()
    memo = BlobMemo("t.sqlite3", max_entries=3)
    assert [memo.get(key) for key in "abcd"].count(None) == 1  # one of four dropped (all used at once)
    memo.close()
    sized = BlobMemo("s.sqlite3", max_bytes=25)
    sized.put("old", b"x" * 10)
    sized.close()
    sized = BlobMemo("s.sqlite3", max_bytes=25)
    assert sized.get("old") == b"x" * 10  # used now: more recent than nothing else
    sized.put("new", b"y" * 20)
    sized.close()
    sized = BlobMemo("s.sqlite3", max_bytes=25)
    assert sized.get("new") == b"y" * 20 and sized.get("old") is None  # 30 bytes > 25: one goes
    sized.close()


def test_a_blob_memo_ignores_damaged_values_and_unwritable_folders(
    tmp_path: Path, own_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    memo = BlobMemo("t.sqlite3")
    memo.put("k", b"value")
    memo.close()
    db = sqlite3.connect(own_cache / "t.sqlite3")
    db.execute("UPDATE memo SET body = ?", (b"other",))
    db.commit()
    assert BlobMemo("t.sqlite3").get("k") is None
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("STILTS_CACHE_DIR", str(tmp_path / "a-file" / "cache"))
    nowhere = BlobMemo("t.sqlite3")
    nowhere.put("k", b"value")
    nowhere.close()
    assert nowhere.get("k") is None
