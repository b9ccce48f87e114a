"""The leaderboard's numbers on hand-made results: Δ on matched languages, paired bootstrap
intervals, categories, rank, worst language, published rows, charts and downloads."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from harness.bootstrap import ExampleDraws, Interval, Sample, delta_interval
from harness.comparison import build_board
from harness.leaderboard import build_site
from harness.results import load_results
from harness.tasks import content_hash
from harness.units import units
from tests.test_leaderboard import make_result, site_bytes, write_result

N = 40  # examples per language in make_result


def with_units(result: dict[str, Any], order: str = "first") -> dict[str, Any]:
    """Accuracy statistics that reproduce each language's score (N examples): the right answers
    are the first ones (``order="first"``) or the last ones."""
    result["units"] = {}
    for lang, scores in result["languages"].items():
        right = round(scores["accuracy"] * N / 100)
        assert right * 100 / N == scores["accuracy"], "scores must be multiples of 2.5"
        rows = [[1.0]] * right + [[0.0]] * (N - right)
        result["units"][lang] = units("mean", rows if order == "first" else rows[::-1])
    return result


def board_of(folder: Path):
    return build_board(load_results(folder))


def test_delta_uses_only_the_languages_both_rows_scored(tmp_path: Path) -> None:
    write_result(tmp_path, make_result(scores={"en": 80.0, "de": 60.0, "fr": 40.0}))
    write_result(tmp_path, make_result(intermediate="mnli", scores={"en": 82.5, "de": 65.0}))
    [base, mnli] = board_of(tmp_path).rows
    delta = mnli.deltas["qs-x"]
    assert delta.languages == ["de", "en"]
    assert delta.value == pytest.approx(((82.5 - 80) + (65 - 60)) / 2)  # not 73.75 - 60
    assert mnli.settings["qs-x"].mean - base.settings["qs-x"].mean == pytest.approx(13.75)  # the misleading one
    assert delta.interval is None  # no per-example statistics in these results


def test_identical_predictions_give_a_zero_interval_and_a_clear_gain_a_significant_one(tmp_path: Path) -> None:
    for seed in (1, 2, 3):
        write_result(tmp_path, with_units(make_result(seed=seed, scores={"de": 50.0, "fr": 50.0})))
        write_result(tmp_path, with_units(make_result(intermediate="same", seed=seed, scores={"de": 50.0, "fr": 50.0})))
        write_result(
            tmp_path, with_units(make_result(intermediate="better", seed=seed, scores={"de": 90.0, "fr": 87.5}))
        )
    rows = {row.intermediate: row for row in board_of(tmp_path).rows}
    same = rows["same"].deltas["qs-x"]
    assert same.value == 0 and same.interval == Interval(0.0, 0.0) and not same.interval.significant
    better = rows["better"].deltas["qs-x"]
    assert better.value == pytest.approx(38.75)
    assert better.interval is not None and better.interval.significant and better.interval.low > 20
    assert better.interval.low <= better.value <= better.interval.high
    assert all(interval is not None and interval.significant for _, interval in better.per_language.values())


def right_first(right: int, total: int = 40) -> Sample:
    """A run's accuracy statistics: the first ``right`` of ``total`` examples are right."""
    return Sample.of(units("mean", [[1.0]] * right + [[0.0]] * (total - right)))


def test_pairing_on_examples_makes_the_interval_narrower_than_unpaired_noise() -> None:
    # the same 40 examples: the setting gets every example the baseline got right, plus two more
    base, setting = right_first(20), right_first(22)
    paired, _ = delta_interval("t", "row", {"de": [setting]}, {"de": [base]}, {"de": 1.0}, ExampleDraws())
    assert paired is not None and paired.low >= 0  # never worse on any draw
    # the same totals with the two extra right answers elsewhere: the draws no longer cancel
    shuffled = Sample.of(units("mean", [[0.0]] * 18 + [[1.0]] * 22))
    unpaired, _ = delta_interval("t", "row", {"de": [shuffled]}, {"de": [base]}, {"de": 1.0}, ExampleDraws())
    assert unpaired is not None and unpaired.high - unpaired.low > 3 * (paired.high - paired.low)


def test_seeds_widen_the_interval() -> None:
    base = [right_first(20)]
    steady = [right_first(24)] * 3
    noisy = [right_first(k) for k in (16, 24, 32)]  # the same mean, 60
    draws = ExampleDraws()
    narrow, _ = delta_interval("t", "a", {"de": steady}, {"de": base}, {"de": 1.0}, draws)
    wide, _ = delta_interval("t", "b", {"de": noisy}, {"de": base}, {"de": 1.0}, draws)
    assert narrow is not None and wide is not None
    assert wide.high - wide.low > narrow.high - narrow.low


def test_different_evaluation_sets_get_no_interval() -> None:
    total, per_language = delta_interval(
        "t", "r", {"de": [right_first(10, 30)]}, {"de": [right_first(20)]}, {"de": 1.0}, ExampleDraws()
    )
    assert total is None and per_language == {}


def test_categories_rank_worst_language_and_overall(tmp_path: Path) -> None:
    for intermediate, cls, tag in (("none", 60.0, 40.0), ("mnli", 70.0, 35.0), ("squad", 60.0, 45.0)):
        write_result(tmp_path, make_result(task="cls", intermediate=intermediate, scores={"de": cls, "sw": cls - 20}))
        tagging = make_result(task="tag", intermediate=intermediate, scores={"de": tag, "sw": tag - 10})
        tagging["task"]["task_type"] = "tagging"
        write_result(tmp_path, tagging)
    write_result(tmp_path, make_result(task="cls", intermediate="only-cls", scores={"de": 99.0, "sw": 99.0}))
    board = board_of(tmp_path)
    assert board.categories == {"classification": ["cls"], "structured_prediction": ["tag"]}
    rows = {row.intermediate: row for row in board.rows}
    assert rows["mnli"].overall == pytest.approx((60.0 + 30.0) / 2)
    assert rows["mnli"].category_means == {"classification": 60.0, "structured_prediction": 30.0}
    assert rows["mnli"].category_deltas["structured_prediction"] == pytest.approx(-5.0)
    assert [rows[name].rank for name in ("squad", "mnli", "none")] == [1, 1, 3]  # equal averages share a rank
    assert rows["only-cls"].rank is None and rows["only-cls"].overall is None  # lacks a target
    assert rows["none"].settings["cls"].worst() == ("sw", 40.0)


def test_site_shows_heatmap_cues_intervals_published_rows_charts_and_downloads(tmp_path: Path) -> None:
    results = tmp_path / "results"
    for seed in (1, 2):
        for intermediate, scores in (("none", 50.0), ("mnli", 75.0), ("squad", 50.0)):
            result = make_result(task="xnli", intermediate=intermediate, seed=seed, scores={"de": scores, "en": scores})
            write_result(results, with_units(result, order="first" if intermediate != "squad" else "last"))
    index = build_site(results, tmp_path / "site")
    site = site_bytes(tmp_path / "site")
    html = index.read_text()
    assert "▲" in html and "+25.0" in html and "n.s." in html  # mnli gains; squad's 0 is not significant
    assert 'class="num heat pos4' in html and " ns" in html
    assert "published" in html and "79.2" in html  # XLM-R Large's XNLI, marked published
    board = json.loads(site["leaderboard.json"])
    assert all(row["intermediate"] != "XLM-R Large (XTREME baseline)" for row in board["rows"])
    mnli = next(row for row in board["rows"] if row["intermediate"] == "mnli")
    assert mnli["targets"]["xnli"]["delta"]["value"] == pytest.approx(25.0)
    assert mnli["targets"]["xnli"]["delta"]["interval"][0] > 0
    assert site["chart-xnli.svg"].startswith(b"<?xml") and b"<text" not in site["chart-xnli.svg"][:0]
    assert 'alt="Δ by language on xnli.' in site["task-xnli.html"].decode()
    lines = list(csv.DictReader(io.StringIO(site["cells.csv"].decode())))
    assert len(lines) == 6 * 3  # six results, two languages and the average each
    assert {line["language"] for line in lines} == {"de", "en", "avg"}
    assert len(site["cells.jsonl"].decode().splitlines()) == 6
    cell_pages = [name for name in site if name.startswith("cell-")]
    assert len(cell_pages) == 6
    shown = content_hash({}, length=20).encode()  # the results' config hash, shown on each result's page
    assert b"config_hash" not in site[cell_pages[0]] and shown in site[cell_pages[0]]
    build_site(results, tmp_path / "again")
    assert site_bytes(tmp_path / "again") == site  # deterministic, charts included


def test_markdown_tables_show_scores_deltas_and_intervals(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from harness.cli import app

    for seed in (1, 2):
        write_result(tmp_path, with_units(make_result(seed=seed, scores={"de": 50.0, "fr": 50.0})))
        better = make_result(intermediate="mnli", seed=seed, scores={"de": 90.0, "fr": 87.5 + 2.5 * seed})
        write_result(tmp_path, with_units(better))
    output = CliRunner().invoke(app, ["leaderboard", "table", str(tmp_path)]).output
    assert "| none | 50.0 ± 0.0 | 50.0 |" in output
    assert "| mnli | 90.6 ± 0.9 | 90.6 |" in output
    [delta_line] = [line for line in output.splitlines() if line.startswith("| mnli | **+40.6 [")]
    assert delta_line.endswith("| +40.6 |")


def test_evicted_example_draws_are_drawn_again_identically() -> None:
    base, setting = [right_first(20)], [right_first(26)]
    roomy, cramped = ExampleDraws(), ExampleDraws(max_bytes=1)
    args = ({"de": setting, "fr": setting}, {"de": base, "fr": base}, {"de": 1.0, "fr": 1.0})
    first = delta_interval("t", "r", *args, roomy)
    delta_interval("u", "r", *args, cramped)  # other draws push the first ones out
    assert len(cramped.cache) == 1
    assert delta_interval("t", "r", *args, cramped) == first
