"""The pipeline end to end on a tiny model: results, reuse, interruption, offline preflight."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import MissingResourcesError, SpecError
from harness.experiment import load_experiment
from harness.results import load_results
from harness.units import score_of
from tests.helpers import make_pipeline, write_json


def test_end_to_end_then_everything_is_reused(catalog, tiny_experiment: Path, tmp_path: Path) -> None:
    paths = make_pipeline(catalog, tiny_experiment, tmp_path).run()
    assert len(paths) == 4  # {none, qs-nli} x {qs-paws, qs-tatoeba}
    results = {r["cell"]["id"]: r for _p, r in load_results(tmp_path / "results")}
    paws = results["tiny-bert__full__qs-nli__qs-paws__seed1"]
    assert set(paws["languages"]) == {"en", "de", "fr", "es"}
    assert all(v["n"] == 40 for v in paws["languages"].values())
    assert [s["kind"] for s in paws["stages"]][:2] == ["intermediate", "target"]
    assert paws["config"]["intermediate"]["task"] == "qs-nli"
    assert paws["runtime"]["precision"] == "fp32" and paws["runtime"]["versions"]["torch"]
    assert any(d["task"] == "qs-nli" and d["split"] == "train" for d in paws["data"])
    tatoeba = results["tiny-bert__full__qs-nli__qs-tatoeba__seed1"]
    assert set(tatoeba["languages"]) == {"de", "fr"}
    # the intermediate model is trained once and shared by both targets
    inter = {r["stages"][0]["hash"] for r in results.values() if r["cell"]["intermediate"] == "qs-nli"}
    assert len(inter) == 1
    assert len(list((tmp_path / "runs" / "intermediate").glob("*/stage.json"))) == 1

    before = {p.name: p.read_bytes() for p in paths}
    pipeline = make_pipeline(catalog, tiny_experiment, tmp_path)
    again = pipeline.run()
    assert pipeline.session is not None and not pipeline.session.built  # nothing trained or evaluated
    # the results already say what the stages hold: they are left as they are, byte for byte
    assert {p.name: p.read_bytes() for p in again} == before
    # a result that does not (edited, or from other stages) is written again, now all reused
    edited = json.loads(again[0].read_text())
    edited["languages"]["de"]["accuracy"] = 99.0
    again[0].write_text(json.dumps(edited))
    make_pipeline(catalog, tiny_experiment, tmp_path).run()
    rewritten = json.loads(again[0].read_text())
    assert rewritten["languages"] == json.loads(before[again[0].name])["languages"]
    assert all(stage["reused"] for stage in rewritten["stages"])


def test_results_carry_per_example_statistics_and_a_stage_missing_them_is_rebuilt(
    catalog, tiny_experiment: Path, tmp_path: Path
) -> None:
    experiment = json.loads(tiny_experiment.read_text())
    experiment["intermediate"] = ["none"]
    exp_path = write_json(tmp_path / "units.json", experiment)
    first = {p.name: json.loads(p.read_text()) for p in make_pipeline(catalog, exp_path, tmp_path).run()}
    for result in first.values():
        metric = result["task"]["main_metric"]
        assert set(result["units"]) == set(result["languages"])
        for lang, stats in result["units"].items():
            assert len(stats["values"]) == result["languages"][lang]["n"]
            assert score_of(stats) == pytest.approx(result["languages"][lang][metric], abs=1e-9)
    # an evaluation stage whose units.json is gone is damaged: moved aside and evaluated again
    removed = list((tmp_path / "runs" / "eval").glob("*/units.json"))
    assert removed
    for path in removed:
        path.unlink()
    pipeline = make_pipeline(catalog, exp_path, tmp_path)
    again = {p.name: json.loads(p.read_text()) for p in pipeline.run()}
    assert {n: r["units"] for n, r in again.items()} == {n: r["units"] for n, r in first.items()}
    assert pipeline.session is not None and len(pipeline.session.built) == len(removed)
    assert len(list((tmp_path / "runs" / "eval" / ".corrupt").iterdir())) == len(removed)


def test_pruned_target_weights_are_retrained_only_when_an_evaluation_needs_them(
    catalog, tiny_experiment: Path, tmp_path: Path
) -> None:
    experiment = json.loads(tiny_experiment.read_text())
    experiment["intermediate"] = ["none"]
    experiment["targets"] = [{"task": "qs-paws", "languages": ["en", "de"]}]
    exp_path = write_json(tmp_path / "prune.json", experiment)
    [path] = make_pipeline(catalog, exp_path, tmp_path, prune_target_weights=True).run()
    first = json.loads(path.read_text())
    target = Path(first["stages"][0]["path"])
    assert (target / "weights-pruned.json").is_file() and (target / "stage.json").is_file()
    assert not list((target / "model").glob("*.safetensors")) and (target / "model" / "config.json").is_file()
    # every evaluation is cached: nothing is trained again and the weights stay pruned
    pipeline = make_pipeline(catalog, exp_path, tmp_path)
    [path] = pipeline.run()
    assert pipeline.session is not None and not pipeline.session.built
    assert json.loads(path.read_text()) == first
    assert (target / "weights-pruned.json").is_file()
    # a new language needs the weights: the target stage is trained again, identically
    experiment["targets"][0]["languages"] = ["en", "de", "fr"]
    write_json(exp_path, experiment)
    [path] = make_pipeline(catalog, exp_path, tmp_path).run()
    third = json.loads(path.read_text())
    assert third["stages"][0]["hash"] == first["stages"][0]["hash"] and not third["stages"][0]["reused"]
    assert not (target / "weights-pruned.json").exists() and list((target / "model").glob("*.safetensors"))
    assert {lang: third["languages"][lang] for lang in ("en", "de")} == first["languages"]
    assert third["dev"] == first["dev"]


def test_interrupted_stage_restarts_cleanly(
    catalog, tiny_experiment: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import harness.train as train_module

    real_train = train_module.train
    trained: list[str] = []

    def crash_after_intermediate(**kwargs):
        name = kwargs["task"].name
        if name == "qs-paws" and "qs-nli" in trained:  # target training of the qs-nli cell
            (kwargs["work_dir"] / "half-written.bin").write_bytes(b"x")
            raise KeyboardInterrupt
        trained.append(name)
        return real_train(**kwargs)

    monkeypatch.setattr(train_module, "train", crash_after_intermediate)
    with pytest.raises(KeyboardInterrupt):
        make_pipeline(catalog, tiny_experiment, tmp_path).run()
    assert trained == ["qs-paws", "qs-nli"]
    assert list(
        (tmp_path / "runs" / "target").glob(".*.partial/half-written.bin")
    )  # the interrupted stage's work folder
    assert len(list((tmp_path / "runs" / "target").glob("*/stage.json"))) == 1
    assert len(list((tmp_path / "results").rglob("*.json"))) == 2  # finished cells' results are kept

    trained.clear()
    monkeypatch.setattr(train_module, "train", lambda **kw: (trained.append(kw["task"].name), real_train(**kw))[1])
    paths = make_pipeline(catalog, tiny_experiment, tmp_path).run()
    assert len(paths) == 4 and trained == ["qs-paws"]  # only the interrupted stage is trained again
    assert not list((tmp_path / "runs" / "target").glob(".*.partial"))  # leftovers removed
    resumed = json.loads(next(p for p in paths if "qs-nli__qs-paws" in p.name).read_text())
    assert [(s["kind"], s["reused"]) for s in resumed["stages"][:2]] == [("intermediate", True), ("target", False)]


def test_offline_preflight_lists_everything_missing_before_training(
    catalog, tmp_path: Path, tiny_model_dir: Path
) -> None:
    exp = write_json(
        tmp_path / "exp.json",
        {
            "name": "offline",
            "model": {"id": str(tiny_model_dir)},
            "intermediate": ["none", "mnli"],
            "targets": [{"task": "xnli", "languages": ["de", "sw"]}],
            "data_dir": str(tmp_path / "nothing-here"),
        },
    )
    pipeline = make_pipeline(catalog, exp, tmp_path, offline=True)
    with pytest.raises(MissingResourcesError) as info:
        pipeline.run()
    missing = "\n".join(info.value.missing)
    for expected in (
        "'mnli' split 'train'",
        "'xnli' split 'train'",
        "'xnli' split 'eval' language 'de'",
        "'xnli' split 'eval' language 'sw'",
        "nyu-mll/multi_nli",
        "cannot be pinned to a commit offline",  # no lock and no mirror: nothing says which commit to read
    ):
        assert expected in missing
    assert not (tmp_path / "runs").exists()


def test_missing_languages_can_be_skipped_and_are_recorded(catalog, tiny_model_dir: Path, tmp_path: Path) -> None:
    exp = write_json(
        tmp_path / "exp.json",
        {
            "name": "skip",
            "model": {"id": str(tiny_model_dir), "label": "tiny"},
            "targets": [{"task": "qs-tatoeba", "languages": ["de", "xx"]}],
            "missing_languages": "skip",
            "training": {"max_eval_examples": 10, "precision": "fp32"},
        },
    )
    [path] = make_pipeline(catalog, exp, tmp_path).run()
    result = json.loads(path.read_text())
    assert result["skipped_languages"] == ["xx"] and list(result["languages"]) == ["de"]


def test_experiment_errors_name_pointer_and_suggest(catalog, tmp_path: Path) -> None:
    exp = write_json(
        tmp_path / "exp.json",
        {
            "name": "bad",
            "model": {"id": "x"},
            "intermediate": ["mnlii", "xnli"],
            "targets": ["tatoeba", "qs-nli"],
        },
    )
    with pytest.raises(SpecError) as info:
        load_experiment(exp, catalog)
    by_pointer = {i.pointer: i.expected for i in info.value.issues}
    assert "did you mean 'mnli'" in by_pointer["/intermediate/0"]
    assert "allows 'intermediate'" in by_pointer["/intermediate/1"]
    assert "allows 'target'" in by_pointer["/targets/1"]


def test_leaderboard_escapes_and_refuses_invalid_results(catalog, tiny_model_dir: Path, tmp_path: Path) -> None:
    from harness.experiment import Cell, Target
    from harness.leaderboard import build_site

    exp = write_json(
        tmp_path / "exp.json",
        {
            "name": "escape",
            "model": {"id": str(tiny_model_dir), "label": "tiny"},
            "targets": [{"task": "qs-tatoeba", "languages": ["de"]}],
            "training": {"max_eval_examples": 10, "precision": "fp32"},
        },
    )
    [path] = make_pipeline(catalog, exp, tmp_path).run()
    # experiment labels are restricted to safe characters; a result file from elsewhere is not
    result = json.loads(path.read_text())
    result["cell"]["model"] = "<script>alert(1)</script>"
    result["cell"]["id"] = Cell("none", Target("qs-tatoeba"), 1).id(result["cell"]["model"], "full")
    path.write_text(json.dumps(result))
    index = build_site(tmp_path / "results", tmp_path / "site")
    html = index.read_text()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert (tmp_path / "site" / "task-qs-tatoeba.html").is_file() and (tmp_path / "site" / "style.css").is_file()
    assert "http://" not in html and "https://" not in html  # opens from file://, no CDN
    board = json.loads((tmp_path / "site" / "leaderboard.json").read_text())
    assert "en" not in board["rows"][0]["targets"]["qs-tatoeba"]["languages"]  # tatoeba has no English side

    bad = tmp_path / "results" / "escape" / "broken.json"
    bad.write_text(json.dumps({"schema_version": 1, "experiment": "x"}))
    with pytest.raises(SpecError) as info:
        build_site(tmp_path / "results", tmp_path / "site2")
    assert str(bad) in str(info.value)


def test_prefetch_and_tasks_show_report_local_sources(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from harness.cli import app

    result = CliRunner().invoke(app, ["prefetch", "quickstart"])
    assert result.exit_code == 0, result.output
    assert "model: local folder" in result.output and "qs-paws/eval/de: local" in result.output
    shown = CliRunner().invoke(app, ["tasks", "show", "xnli", "--data-dir", str(tmp_path)])
    assert shown.exit_code == 0, shown.output
    assert "facebook/xnli" in shown.output and "hub" in shown.output  # no local files: the hub source is used


def test_run_can_be_restricted_to_some_seeds(catalog, tiny_experiment: Path, tmp_path: Path) -> None:
    from harness.errors import UnknownNameError

    experiment = json.loads(tiny_experiment.read_text())
    experiment["seeds"] = [1, 2, 3]
    exp = load_experiment(write_json(tmp_path / "seeds.json", experiment), catalog)
    assert exp.restricted(None, None, [3, 1]).seeds == [1, 3]
    assert {cell.seed for cell in exp.restricted(["none"], ["qs-paws"], [2]).cells()} == {2}
    with pytest.raises(UnknownNameError, match="unknown seed of experiment 'tiny' '4'"):
        exp.restricted(None, None, [4])
