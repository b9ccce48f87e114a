"""``stilts plan`` and the planner: stages deduplicated across cells, keys known before anything
runs (and equal to the stages then built), no torch, missing inputs reported as blocked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from tests.helpers import make_pipeline, write_json

NO_TORCH_PLAN = """
import sys
from pathlib import Path
from harness.experiment import load_experiment
from harness.plan_report import plan_experiment
from harness.plugins import load_plugins
from harness.registry import Catalog

catalog = Catalog(load_plugins())
exp = load_experiment(Path(sys.argv[1]), catalog)
plan, estimate, size, _ctx = plan_experiment(catalog, exp, Path(sys.argv[2]), Path(sys.argv[3]))
print(plan.counts())
assert "torch" not in sys.modules and "transformers" not in sys.modules, "planning imported torch"
"""


def test_plan_counts_each_shared_stage_once_and_names_the_stages_then_built(
    catalog, tiny_experiment: Path, tmp_path: Path
) -> None:
    pipeline = make_pipeline(catalog, tiny_experiment, tmp_path)
    plan = pipeline.plan()
    counts = plan.counts()
    # {none, qs-nli} x {qs-paws (4 languages), qs-tatoeba (2, not trained)}: the qs-nli stage is shared
    assert {kind: row["total"] for kind, row in counts.items()} == {"intermediate": 1, "target": 2, "eval": 12}
    assert all(row["run"] == row["total"] for row in counts.values())
    inter = next(n for n in plan.nodes.values() if n.kind == "intermediate")
    assert sorted(inter.cells) == [2, 3]  # both qs-nli cells
    targets = [n for n in plan.nodes.values() if n.kind == "target"]
    assert {t.start for t in targets} == {None, inter.id}
    paths = pipeline.run()
    built = {stage["hash"] for path in paths for stage in json.loads(path.read_text())["stages"]}
    assert built == set(plan.nodes)  # the keys planned up front are the stages built
    again = make_pipeline(catalog, tiny_experiment, tmp_path).plan()
    assert all(row["cached"] == row["total"] for row in again.counts().values())


def test_planning_imports_no_torch(tiny_experiment: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", NO_TORCH_PLAN, str(tiny_experiment), str(tmp_path / "runs"), str(tmp_path / "res")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "'eval'" in done.stdout


def test_rerunning_a_finished_matrix_imports_no_torch(catalog, tiny_experiment: Path, tmp_path: Path) -> None:
    make_pipeline(catalog, tiny_experiment, tmp_path).run()
    script = """
import sys
from pathlib import Path
from harness.experiment import load_experiment
from harness.pipeline import Pipeline
from harness.plugins import load_plugins
from harness.registry import Catalog

catalog = Catalog(load_plugins())
root = Path(sys.argv[2])
pipeline = Pipeline(catalog, load_experiment(Path(sys.argv[1]), catalog), runs_dir=root / "runs",
                    results_dir=root / "results")
assert len(pipeline.run()) == 4 and not pipeline.session.built
assert "torch" not in sys.modules, "a finished matrix imported torch"
"""
    done = subprocess.run(
        [sys.executable, "-c", script, str(tiny_experiment), str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


def test_missing_data_blocks_its_stages_but_the_plan_still_sizes_the_study(
    catalog, tiny_experiment: Path, tmp_path: Path
) -> None:
    experiment = json.loads(tiny_experiment.read_text())
    experiment["sources"] = {
        "qs-nli": {
            "local": {
                "format": "tsv",
                "options": {"columns": ["text_a", "text_b", "label"]},
                "files": {"train": str(tmp_path / "absent-train.tsv"), "dev": str(tmp_path / "absent-dev.tsv")},
            }
        }
    }
    exp_path = write_json(tmp_path / "missing.json", experiment)
    result = CliRunner().invoke(
        app,
        ["plan", str(exp_path), "--runs-dir", str(tmp_path / "runs"), "--results-dir", str(tmp_path / "r"), "--json"],
    )
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert plan["counts"]["intermediate"] == {"cached": 0, "run": 0, "blocked": 1, "total": 1}
    # the qs-nli cells' target and evaluations wait for the blocked stage; the baseline cells can run
    assert plan["counts"]["target"] == {"cached": 0, "run": 1, "blocked": 1, "total": 2}
    assert any("absent-train.tsv" in problem for problem in plan["problems"])
    blocked = [s for s in plan["stages"] if s["state"] == "blocked"]
    assert all(s["id"].startswith("?") for s in blocked)
    text = CliRunner().invoke(app, ["plan", str(exp_path), "--runs-dir", str(tmp_path / "runs"), "--stages"])
    assert text.exit_code == 0, text.output
    assert "missing:" in text.output and "blocked:" in text.output and "absent-train.tsv" in text.output


def test_a_stage_planned_for_another_precision_is_never_built(
    catalog, tiny_experiment: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import harness.devices as devices
    from harness.execution import StageMismatchError
    from harness.inference import resolve_precision

    experiment = json.loads(tiny_experiment.read_text())
    experiment["training"]["precision"] = "auto"
    exp_path = write_json(tmp_path / "auto.json", experiment)
    here = resolve_precision("auto", "cpu")
    wrong_flags = frozenset() if here == "bf16" else frozenset({"avx512_bf16"})
    monkeypatch.setattr(devices, "cpu_flags", lambda: wrong_flags)  # the planner's guess is now wrong
    with pytest.raises(StageMismatchError, match="planned with precision"):
        make_pipeline(catalog, exp_path, tmp_path, device="cpu").run()
    assert not list((tmp_path / "runs").glob("*/*/stage.json"))


def test_plan_precision_matches_torch_on_this_machine() -> None:
    from harness.devices import planned_precision
    from harness.inference import resolve_precision

    assert planned_precision("auto", "cpu") == resolve_precision("auto", "cpu")
    assert planned_precision("fp32", "cuda") == "fp32"
