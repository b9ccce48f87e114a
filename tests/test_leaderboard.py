"""`stilts leaderboard build` on hand-made result files: semantic checks, clean errors, page names,
all-or-nothing builds and byte-identical output. No model is trained here."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.errors import SpecError, StiltsError
from harness.experiment import Cell, Target
from harness.leaderboard import build_site, page_names
from harness.results import aggregate, load_results, result_issues
from harness.specs import validate_data
from harness.tasks import content_hash
from tests.helpers import write_json


def make_result(
    task: str = "qs-x",
    intermediate: str = "none",
    seed: int = 1,
    model: str = "tiny",
    method: str = "full",
    scores: dict[str, float] | None = None,
    metric: str = "accuracy",
    validate: bool = True,
) -> dict[str, Any]:
    """A schema-valid, consistent result, as the pipeline writes it."""
    scores = {"en": 80.0, "de": 60.0, "fr": 55.0} if scores is None else scores
    languages = {lang: {metric: value, "n": 40} for lang, value in scores.items()}
    aggregation = {"languages": "all", "mean": "macro"}
    cell_id = Cell(intermediate, Target(task), seed).id(model, method)
    result = {
        "schema_version": 1,
        "experiment": "hand",
        "cell": {
            "id": cell_id,
            "model": model,
            "method": method,
            "intermediate": intermediate,
            "target": task,
            "seed": seed,
            "selection": "english_dev",
            "zero_shot": True,
        },
        "task": {
            "name": task,
            "version": "1",
            "task_type": "classification",
            "main_metric": metric,
            "train_language": "en",
            "aggregation": aggregation,
        },
        "languages": languages,
        "aggregate": aggregate(languages, metric, aggregation, "en"),
        "config": {},
        "config_hash": content_hash({}, length=20),
        "stages": [],
        "data": [],
        "runtime": {"device": "cpu", "precision": "fp32", "versions": {}},
        "wall_time_s": 1.0,
        "created_at": "2024-01-01T00:00:00+0000",
    }
    return validate_data(result, "result", "make_result") if validate else result


def write_result(folder: Path, result: dict[str, Any], name: str | None = None) -> Path:
    return write_json(folder / (name or f"{result['cell']['id']}.json"), result)


def site_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture
def results(tmp_path: Path) -> Path:
    folder = tmp_path / "results"
    write_result(folder, make_result())
    write_result(folder, make_result(intermediate="mnli", scores={"en": 82.0, "de": 63.0, "fr": 58.0}))
    return folder


# -- 1. semantic checks -------------------------------------------------------------------------


def test_missing_main_metric_is_a_spec_error_naming_file_and_pointer(tmp_path: Path) -> None:
    result = make_result()
    result["languages"]["de"] = {"f1": 60.0, "n": 40}  # schema-valid, but no "accuracy"
    path = write_result(tmp_path / "results", result)
    with pytest.raises(SpecError) as info:
        build_site(tmp_path / "results", tmp_path / "site")
    [issue] = info.value.issues
    assert (issue.file, issue.pointer) == (str(path), "/languages/de") and "'accuracy'" in issue.expected
    assert not (tmp_path / "site").exists()


def _bad(change) -> dict[str, Any]:
    result = make_result()
    change(result)
    return result


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        (lambda r: r["aggregate"].update(metric="f1"), "/aggregate/metric"),
        (lambda r: r["languages"]["de"].update(accuracy=float("nan")), "/languages/de/accuracy"),
        (lambda r: r["languages"]["de"].update(accuracy=float("inf")), "/languages/de/accuracy"),
        (lambda r: r["languages"]["de"].update(accuracy=1e300), "/languages/de/accuracy"),
        (lambda r: r["aggregate"].update(mean=float("-inf")), "/aggregate/mean"),
        (lambda r: r["aggregate"].update(mean=99.0), "/aggregate/mean"),
        (lambda r: r["aggregate"].update(english=float("nan")), "/aggregate/english"),
        (lambda r: r["aggregate"].update(languages=["de", "xx"]), "/aggregate/languages"),
        (lambda r: r["cell"].update(target="other"), "/cell/target"),
        (lambda r: r["cell"].update(id="tiny__full__none__qs-x__seed2"), "/cell/id"),
        (lambda r: r["cell"].update(zero_shot=False), "/cell/zero_shot"),
        (lambda r: r["cell"].update(selection="target_dev"), "/cell/selection"),
    ],
)
def test_semantic_checks_name_the_pointer(tmp_path: Path, change, pointer: str) -> None:
    result = _bad(change)
    path = tmp_path / "results" / "bad.json"
    path.parent.mkdir()
    assert pointer in {i.pointer for i in result_issues(result, str(path))}
    path.write_text(json.dumps(result))  # NaN / Infinity as Python's json writes them
    with pytest.raises(SpecError) as info:
        build_site(tmp_path / "results", tmp_path / "site")
    assert all(i.file == str(path) for i in info.value.issues)
    if all(isinstance(v, float) and math.isfinite(v) for v in _numbers(result)):  # else reading may refuse first
        assert pointer in {i.pointer for i in info.value.issues}
    assert not (tmp_path / "site").exists()


def _numbers(data: Any) -> list[Any]:
    if isinstance(data, dict):
        return [n for v in data.values() for n in _numbers(v)]
    if isinstance(data, list):
        return [n for v in data for n in _numbers(v)]
    return [data] if isinstance(data, float) else []


def test_consistent_results_have_no_semantic_issues() -> None:
    assert result_issues(make_result(), "x.json") == []
    target_dev = make_result(method="full+target-dev")
    target_dev["cell"].update(selection="target_dev", zero_shot=False)
    assert result_issues(target_dev, "x.json") == []


def test_duplicate_cell_and_seed_is_refused(tmp_path: Path) -> None:
    first = write_result(tmp_path / "results" / "a", make_result())
    second = write_result(tmp_path / "results" / "b", make_result(scores={"en": 1.0, "de": 2.0, "fr": 3.0}))
    with pytest.raises(SpecError) as info:  # it would silently count as a second seed
        build_site(tmp_path / "results", tmp_path / "site")
    [issue] = info.value.issues
    assert issue.file == str(second) and issue.pointer == "/cell" and str(first) in issue.expected


def test_one_task_name_with_two_definitions_is_refused(tmp_path: Path) -> None:
    first = write_result(tmp_path / "results" / "a", make_result())
    second = write_result(tmp_path / "results" / "b", make_result(intermediate="mnli", metric="f1"))
    with pytest.raises(SpecError) as info:  # its scores would be averaged with another metric's
        build_site(tmp_path / "results", tmp_path / "site")
    [issue] = info.value.issues
    assert (issue.file, issue.pointer) == (str(second), "/task/main_metric") and str(first) in issue.expected


def test_non_utf8_result_is_a_spec_error(tmp_path: Path) -> None:
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "latin1.json").write_bytes(b'{"experiment": "caf\xe9"}')
    with pytest.raises(SpecError, match=r"latin1\.json"):
        build_site(tmp_path / "results", tmp_path / "site")


# -- 2. and 5. clean errors for bad paths --------------------------------------------------------


def test_out_path_that_is_a_file_is_a_clean_error(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "site.html"
    out.write_text("not a folder")
    with pytest.raises(StiltsError, match="is a file, expected a folder"):
        build_site(results, out)
    assert out.read_text() == "not a folder"


@pytest.mark.parametrize("kind", ["missing", "empty", "only-hidden"])
def test_no_results_is_an_error_not_an_empty_site(tmp_path: Path, kind: str) -> None:
    folder = tmp_path / "results"
    if kind != "missing":
        folder.mkdir()
    if kind == "only-hidden":
        write_result(folder / ".old", make_result())
    with pytest.raises(StiltsError, match="no result files found in"):
        build_site(folder, tmp_path / "site")
    assert not (tmp_path / "site").exists()


def test_folder_with_other_files_is_not_replaced(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "docs"
    write_json(out / "notes.json", {"keep": True})
    with pytest.raises(StiltsError, match="not part of a stilts site"):
        build_site(results, out)
    assert json.loads((out / "notes.json").read_text()) == {"keep": True}


def test_site_folder_holding_the_results_is_refused(results: Path, tmp_path: Path) -> None:
    with pytest.raises(StiltsError, match="holds the results folder"):
        build_site(results, tmp_path)
    assert any(results.iterdir())


def test_site_inside_the_results_folder_is_not_read_as_results(results: Path) -> None:
    build_site(results, results / "site")
    build_site(results, results / "site")  # its leaderboard.json is not a result
    assert len(load_results(results, exclude=[results / "site"])) == 2


def test_cli_reports_a_clean_error(
    results: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.cli import main

    (tmp_path / "file").write_text("")
    monkeypatch.setattr(sys, "argv", ["stilts", "leaderboard", "build", str(results), "-o", str(tmp_path / "file")])
    with pytest.raises(SystemExit) as info:
        main()
    err = capsys.readouterr().err
    assert info.value.code == 2 and "error:" in err and "is a file" in err and "Traceback" not in err


# -- 3. page names -------------------------------------------------------------------------------

COLLIDING = ["a<b", "a>b", "XNLI", "xnli", "qs-tatoeba"]


def test_colliding_task_names_get_distinct_page_names() -> None:
    pages = page_names(COLLIDING)
    assert len({p.casefold() for p in pages.values()}) == len(COLLIDING)  # case-insensitive file systems too
    assert pages["qs-tatoeba"] == "task-qs-tatoeba.html"  # unambiguous names keep their page
    assert pages["a<b"].startswith("task-a-b-") and pages["XNLI"].startswith("task-XNLI-")
    assert pages == page_names(reversed(COLLIDING))  # deterministic


def test_colliding_task_names_get_distinct_pages(tmp_path: Path) -> None:
    try:
        results = [make_result(task=name) for name in COLLIDING]
    except SpecError:
        pytest.skip("the result schema refuses task names that sanitise alike")
    for number, result in enumerate(results):  # "a<b" and "a>b" have the same cell id: name the files apart
        write_result(tmp_path / "results", result, name=f"{number}.json")
    index = build_site(tmp_path / "results", tmp_path / "site")
    pages = page_names(COLLIDING)
    html = index.read_text()
    for name, page in pages.items():
        assert f'href="{page}"' in html
        text = (tmp_path / "site" / page).read_text()
        assert f"<h2>{name.replace('<', '&lt;').replace('>', '&gt;')}</h2>" in text
    assert sorted(p.name for p in (tmp_path / "site").glob("task-*.html")) == sorted(pages.values())


def test_page_names_stay_short_and_unique() -> None:
    long_a, long_b = "x" * 300 + "a", "x" * 300 + "b"
    pages = page_names([long_a, long_b, "", "task", "-", "a-b-" + "0" * 8])
    assert len(set(pages.values())) == 6 and all(len(p) < 120 for p in pages.values())
    assert pages["task"] == "task-task.html"


# -- 4. all or nothing ---------------------------------------------------------------------------


def test_failure_halfway_keeps_the_old_site(results: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import jinja2

    out = tmp_path / "site"
    build_site(results, out)
    before = site_bytes(out)
    write_result(results, make_result(intermediate="siqa", scores={"en": 1.0, "de": 2.0, "fr": 3.0}))
    render = jinja2.Template.render

    def failing(self, *args, **kwargs):
        if self.name == "task.html.j2":  # after index.html
            raise RuntimeError("disk on fire")
        return render(self, *args, **kwargs)

    monkeypatch.setattr(jinja2.Template, "render", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        build_site(results, out)
    assert site_bytes(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results", "site"]  # no half-built leftovers

    monkeypatch.setattr(jinja2.Template, "render", render)
    build_site(results, out)
    assert "siqa" in (out / "index.html").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results", "site"]


def test_rebuild_drops_pages_of_tasks_that_are_gone(tmp_path: Path) -> None:
    folder = tmp_path / "results"
    write_result(folder, make_result(task="one"))
    gone = write_result(folder, make_result(task="two"))
    build_site(folder, tmp_path / "site")
    gone.unlink()
    build_site(folder, tmp_path / "site")
    names = sorted(site_bytes(tmp_path / "site"))
    assert "task-one.html" in names and "index.html" in names and "cells.csv" in names
    assert not [name for name in names if "two" in name]  # neither its task page nor its result page


# -- 6. deterministic output ---------------------------------------------------------------------


def test_same_results_give_the_same_bytes_whatever_the_file_names(tmp_path: Path) -> None:
    seeds = {1: 40.0, 2: 44.0, 3: 45.0}
    for folder, names in (("r1", ["a", "b", "c"]), ("r2", ["c", "b", "a"])):
        for (seed, score), name in zip(seeds.items(), names):
            result = make_result(seed=seed, scores={"de": score, "fr": score + 1})
            if seed == 2:  # same definition, keys in another order
                result["task"]["aggregation"] = {"mean": "macro", "languages": "all"}
            write_result(tmp_path / folder / name, result, name=f"{name}.json")
        write_result(tmp_path / folder, make_result(intermediate="mnli", scores={"de": 50.0, "fr": 51.0}))
    build_site(tmp_path / "r1", tmp_path / "s1")
    build_site(tmp_path / "r2", tmp_path / "s2")
    build_site(tmp_path / "r1", tmp_path / "s1")  # a rebuild in place too
    one, two = site_bytes(tmp_path / "s1"), site_bytes(tmp_path / "s2")
    assert one == two
    board = json.loads(one["leaderboard.json"])
    [base] = [row for row in board["rows"] if row["intermediate"] == "none"]
    assert base["targets"]["qs-x"]["per_seed"] == [40.5, 44.5, 45.5]  # in seed order
    assert board["targets"]["qs-x"]["aggregation"] == {"languages": "all", "mean": "macro"}


def test_lone_surrogate_in_a_name_does_not_crash(tmp_path: Path) -> None:
    path = tmp_path / "results" / "r.json"
    path.parent.mkdir()
    path.write_text(json.dumps(make_result(model="m\ud800", validate=False)))  # ASCII file: "\ud800" escaped
    try:
        index = build_site(tmp_path / "results", tmp_path / "site")
    except SpecError as exc:  # where reading refuses it: a clean error naming the file and pointer
        assert "/cell/model" in str(exc) and str(path) in str(exc)
        return
    assert "m\\ud800" in index.read_text()  # else written as its escape, never a UnicodeEncodeError
    [row] = json.loads((tmp_path / "site" / "leaderboard.json").read_text())["rows"]
    assert row["model"] == "m\ud800"


def test_validated_bytes_are_not_checked_again_but_changed_ones_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import harness.results as results_module
    import harness.validated as validated

    monkeypatch.setenv("STILTS_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "results"
    path = write_result(folder, make_result())
    checked: list[str] = []
    real = results_module.result_issues

    def counting(result: dict[str, Any], file: str, *rest: Any) -> list:
        checked.append(file)
        return real(result, file, *rest)

    monkeypatch.setattr(results_module, "result_issues", counting)
    load_results(folder)
    load_results(folder)  # a new process would find the verdict in the SQLite memo too
    assert checked == [str(path)]
    write_result(folder, make_result(scores={"en": 81.0, "de": 60.0, "fr": 55.0}))  # the same file, other bytes
    load_results(folder)
    assert checked == [str(path)] * 2
    validated.validator_digest.cache_clear()
    monkeypatch.setattr(validated, "VALIDATOR_FILES", (*validated.VALIDATOR_FILES, "leaderboard.py"))
    load_results(folder)  # another validator: checked again
    assert checked == [str(path)] * 3
    validated.validator_digest.cache_clear()


def with_settings(result: dict[str, Any], learning_rate: float, experiment: str) -> dict[str, Any]:
    """``result`` as experiment ``experiment`` trained with ``learning_rate`` would write it."""
    training = {"epochs": 2, "learning_rate": learning_rate, "batch_size": 32}
    result["experiment"] = experiment
    result["config"] = {
        "model": {"id": f"/home/{experiment}/model", "label": "tiny"},
        "seed": result["cell"]["seed"],
        "intermediate": None if result["cell"]["intermediate"] == "none" else {"task": "mnli", "training": training},
        "target": {"task": result["cell"]["target"], "training": training, "languages": ["en", "de", "fr"]},
        "model_fingerprint": "hf:local:0123abcd",
    }
    result["config_hash"] = content_hash(result["config"], length=20)
    return result


def test_two_experiments_differing_only_in_learning_rate_are_two_rows(tmp_path: Path) -> None:
    """Seeds pool only when everything but the seed is the same: two experiments that differ in
    the learning rate give two rows per intermediate, labelled by it, each with its own baseline;
    the same settings under another experiment name and model path pool as seeds."""
    from harness.comparison import build_board

    results = []
    for experiment, lr in (("lr-small", 1e-5), ("lr-large", 3e-5)):
        for intermediate in ("none", "mnli"):
            for seed in (1, 2):
                scores = {"en": 80.0 + seed + (lr > 2e-5), "de": 60.0, "fr": 55.0 + (intermediate == "mnli")}
                one = with_settings(make_result(intermediate=intermediate, seed=seed, scores=scores), lr, experiment)
                results.append((tmp_path / experiment / f"{one['cell']['id']}.json", one))
    again = with_settings(make_result(intermediate="mnli", seed=3), 1e-5, "lr-small-rerun-elsewhere")
    results.append((tmp_path / "elsewhere" / "x.json", again))
    board = build_board(results, remember=False)
    labels = sorted((row.intermediate, row.variant, len(row.settings["qs-x"].runs)) for row in board.rows)
    assert labels == [
        ("mnli", "learning_rate=1e-05", 3),
        ("mnli", "learning_rate=3e-05", 2),
        ("none", "learning_rate=1e-05", 2),
        ("none", "learning_rate=3e-05", 2),
    ]
    for row in board.rows:
        base = board.baseline_of(row)
        assert base is not None and base.variant == row.variant
    large = next(r for r in board.rows if r.intermediate == "mnli" and r.variant.endswith("3e-05"))
    assert large.deltas["qs-x"].per_language["fr"][0] == pytest.approx(1.0)

    out = tmp_path / "site"
    for path, result in results:
        write_json(tmp_path / "results" / path.relative_to(tmp_path), result)
    build_site(tmp_path / "results", out)
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "mnli [learning_rate=3e-05]" in index and "none (baseline) [learning_rate=1e-05]" in index
    rows = json.loads((out / "leaderboard.json").read_text(encoding="utf-8"))["rows"]
    assert sorted(row["variant"] for row in rows) == ["learning_rate=1e-05"] * 2 + ["learning_rate=3e-05"] * 2


def test_a_cell_missing_languages_of_its_column_is_marked_and_not_averaged(tmp_path: Path) -> None:
    from harness.comparison import build_board

    full = make_result(task="qs-x", intermediate="none", scores={"en": 80.0, "de": 60.0, "fr": 55.0})
    partial = make_result(task="qs-x", intermediate="mnli", scores={"en": 90.0, "de": 70.0})
    board = build_board([(tmp_path / "a.json", full), (tmp_path / "b.json", partial)], remember=False)
    assert board.targets["qs-x"].languages == ("de", "en", "fr")
    rows = {row.intermediate: row for row in board.rows}
    assert rows["mnli"].settings["qs-x"].missing(board.targets["qs-x"].languages) == ["fr"]
    assert rows["mnli"].overall is None and rows["mnli"].rank is None  # not an average over fewer languages
    assert rows["none"].overall == pytest.approx(65.0)
    assert rows["mnli"].deltas["qs-x"].languages == ["de", "en"]  # Δ stays on the matched languages

    for name, result in (("a", full), ("b", partial)):
        write_result(tmp_path / "results", result, f"{name}.json")
    build_site(tmp_path / "results", tmp_path / "site")
    assert "missing fr" in (tmp_path / "site" / "index.html").read_text(encoding="utf-8")


def test_seeds_that_ran_with_other_library_versions_say_so(tmp_path: Path) -> None:
    """Results identical but for the seed pool even when their libraries differ; the cell says
    which libraries and versions differ (recorded in each result's runtime)."""
    one, two = make_result(seed=1), make_result(seed=2)
    one["runtime"]["versions"] = {"python": "3.11.7", "transformers": "5.25.0", "torch": "2.13.0"}
    two["runtime"]["versions"] = {"python": "3.11.7", "transformers": "5.26.1", "torch": "2.13.0"}
    for result in (one, two):
        write_result(tmp_path / "results", result)
    build_site(tmp_path / "results", tmp_path / "site")
    (row,) = json.loads((tmp_path / "site" / "leaderboard.json").read_text(encoding="utf-8"))["rows"]
    assert row["targets"]["qs-x"]["seeds"] == [1, 2]
    assert row["targets"]["qs-x"]["version_differences"] == {"transformers": ["5.25.0", "5.26.1"]}
    index = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "versions differ: transformers" in index and "transformers 5.25.0 / 5.26.1" in index


def test_a_result_is_validated_in_full_before_it_is_written(tmp_path: Path) -> None:
    """Writing runs the leaderboard's checks too: an edited configuration (its hash no longer
    matches) or a score outside its metric's range is refused, naming the pointer; nothing is written."""
    from harness.results import write_result

    ranges = {"accuracy": (0, 100)}
    good = make_result()
    assert write_result(tmp_path / "good.json", good, ranges).is_file()

    edited = make_result()
    edited["config"] = {"seed": 1, "target": {"training": {"learning_rate": 1.0}}}
    with pytest.raises(SpecError) as info:
        write_result(tmp_path / "edited.json", edited, ranges)
    assert "/config_hash" in str(info.value) and "edited after the run" in str(info.value)

    wild = make_result(scores={"en": 80.0, "de": 5090.0, "fr": 55.0})
    with pytest.raises(SpecError) as info:
        write_result(tmp_path / "wild.json", wild, ranges)
    assert "/languages/de/accuracy" in str(info.value) and "[0, 100]" in str(info.value)
    assert not (tmp_path / "edited.json").exists() and not (tmp_path / "wild.json").exists()

    write_result(tmp_path / "results" / "x.json", make_result(), ranges)
    (tmp_path / "results" / "x.json").write_text(json.dumps(edited), encoding="utf-8")
    with pytest.raises(StiltsError, match="config_hash"):
        build_site(tmp_path / "results", tmp_path / "site")
