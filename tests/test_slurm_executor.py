"""The ``slurm`` executor against a real one-node Slurm cluster (``.ci/slurm-up``; skipped without
one): results identical to ``inline``, waves that respect dependencies, ``stilts status`` naming a
failed stage and its log, and a stage requeued in the middle of training that resumes from its
checkpoint and ends bit-identical."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.executors import ExecutorOptions
from harness.worker import read_status
from tests.helpers import TRAINING_FAILURE, broken_training_experiment, make_pipeline, write_json
from tests.slurm_cluster import PARTITION, require_slurm

SLURM_OPTIONS = {"partition": PARTITION, "timeout_min": "20", "cpus_per_task": "1", "mem_gb": "3"}


@pytest.fixture(autouse=True)
def _slurm() -> None:
    require_slurm()
    pytest.importorskip("submitit")


def slurm_pipeline(catalog, exp: Path, root: Path, **extra: str):
    return make_pipeline(
        catalog, exp, root, executor="slurm", executor_options=ExecutorOptions(jobs=2, extra={**SLURM_OPTIONS, **extra})
    )


def wait_for_stages(catalog, exp: Path, root: Path, *, allow_failed: bool = False, timeout: float = 600) -> None:
    """Until no stage of the plan is pending or running (each look: the plan and one squeue)."""
    from harness.status import stage_states

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = stage_states(make_pipeline(catalog, exp, root).plan(), root / "runs")
        if not any(s.state in ("pending", "running") for s in states):
            failed = [s for s in states if s.state == "failed"]
            assert allow_failed or not failed, failed
            return
        time.sleep(2)
    raise AssertionError(f"stages still queued after {timeout} s")


def small_matrix(tiny_experiment: Path, tmp_path: Path) -> Path:
    experiment = json.loads(tiny_experiment.read_text())
    experiment["targets"] = [{"task": "qs-paws", "languages": ["en", "de"]}]
    return write_json(tmp_path / "matrix.json", experiment)


def test_slurm_results_equal_inline_and_waves_respect_dependencies(
    catalog, tiny_experiment: Path, tmp_path: Path
) -> None:
    exp = small_matrix(tiny_experiment, tmp_path)
    inline = {p.name: json.loads(p.read_text()) for p in make_pipeline(catalog, exp, tmp_path / "inline").run()}
    root = tmp_path / "slurm"
    submitted = slurm_pipeline(catalog, exp, root)
    assert submitted.run() == []  # submits and returns
    jobs = root / "runs" / "jobs"
    statuses = {
        p.name.split(".")[0]: read_status(p.with_name(p.name.replace(".status", "")))
        for p in jobs.glob("*.status.json")
    }
    assert len(statuses) == 7 and all(s["executor"] == "slurm" for s in statuses.values())
    # submitting again while the stages are queued submits nothing twice
    again = slurm_pipeline(catalog, exp, root)
    again.run()
    assert {
        p.name.split(".")[0]: read_status(p.with_name(p.name.replace(".status", "")))["job_id"]
        for p in jobs.glob("*.status.json")
    } == {n: s["job_id"] for n, s in statuses.items()}
    wait_for_stages(catalog, exp, root)
    result = CliRunner().invoke(
        app, ["collect", str(exp), "--runs-dir", str(root / "runs"), "--results-dir", str(root / "results")]
    )
    assert result.exit_code == 0, result.output
    assert "2 of 2 cell result(s) written" in result.output
    slurm = {p.name: json.loads(p.read_text()) for p in (root / "results" / "tiny").glob("*.json")}
    assert set(slurm) == set(inline)
    for name, found in slurm.items():
        assert found["languages"] == inline[name]["languages"]
        assert [s["hash"] for s in found["stages"]] == [s["hash"] for s in inline[name]["stages"]]
    # no stage started before the stage it starts from had finished
    plan = make_pipeline(catalog, exp, root).plan()
    done = {n: read_status(jobs / f"{n}.json") for n in plan.nodes}
    for node in plan.nodes.values():
        if node.start:
            assert done[node.id]["started"] >= done[node.start]["finished"], node


def test_status_reports_a_failed_stage_with_its_log(catalog, tiny_experiment: Path, tmp_path: Path) -> None:
    exp = broken_training_experiment(tiny_experiment, tmp_path)
    slurm_pipeline(catalog, exp, tmp_path).run()
    wait_for_stages(catalog, exp, tmp_path, allow_failed=True)
    result = CliRunner().invoke(app, ["status", str(exp), "--runs-dir", str(tmp_path / "runs"), "--json"])
    assert result.exit_code == 1, result.output  # failures make the exit status 1
    states = json.loads(result.output)
    assert states["counts"]["target"]["failed"] == 1
    assert states["counts"]["eval"] == {**states["counts"]["eval"], "done": 1, "failed": 1}
    [target] = [s for s in states["stages"] if s["kind"] == "target"]
    assert TRAINING_FAILURE in target["error"] and Path(target["log"]).is_file()
    assert TRAINING_FAILURE in Path(target["log"]).read_text()
    [eval_failed] = [s for s in states["stages"] if s["kind"] == "eval" and s["state"] == "failed"]
    assert "not built" in eval_failed["error"]
    table = CliRunner().invoke(app, ["status", str(exp), "--runs-dir", str(tmp_path / "runs")])
    assert "failed" in table.output and target["id"] in table.output


def weights_digest(stage: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted((stage / "model").glob("*.safetensors")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def test_a_stage_requeued_mid_training_resumes_and_ends_bit_identical(
    catalog, tiny_experiment: Path, tmp_path: Path
) -> None:
    experiment = json.loads(tiny_experiment.read_text())
    experiment["intermediate"] = ["none"]
    experiment["targets"] = [{"task": "qs-paws", "languages": ["en"]}]
    experiment["training"].update({"max_train_examples": 400, "batch_size": 4, "checkpoint_every": 10, "epochs": 1})
    exp = write_json(tmp_path / "long.json", experiment)
    [inline] = make_pipeline(catalog, exp, tmp_path / "inline").run()
    inline_target = Path(json.loads(inline.read_text())["stages"][0]["path"])

    root = tmp_path / "slurm"
    slurm_pipeline(catalog, exp, root).run()
    plan = make_pipeline(catalog, exp, root).plan()
    [target] = [n for n in plan.nodes.values() if n.kind == "target"]
    job_file = root / "runs" / "jobs" / f"{target.id}.json"
    job_id = read_status(job_file)["job_id"]
    partial = root / "runs" / "target" / f".{target.id}.partial" / "checkpoints"
    deadline = time.monotonic() + 300
    while not (partial.is_dir() and any(partial.iterdir())):
        assert time.monotonic() < deadline, "no checkpoint was written"
        time.sleep(0.5)
    # USR2, as Slurm sends before preemption or the time limit: submitit checkpoints and requeues the job
    subprocess.run(["scancel", "--signal=USR2", job_id], check=True)
    deadline = time.monotonic() + 120
    while "REQUEUE" not in _sacct_states(job_id) and read_status(job_file).get("state") != "done":
        assert time.monotonic() < deadline, "the job was not requeued"
        time.sleep(0.5)
    # a requeued job becomes eligible only ~2 minutes later: let it start now (as often as it is
    # seen pending: the requeue may not have reached the queue at the first try)
    while not (root / "runs" / "target" / target.id / "stage.json").is_file():
        assert time.monotonic() < deadline + 300, "the requeued stage did not finish"
        queued = subprocess.run(["squeue", "-h", "-r", "-j", job_id, "-o", "%T"], capture_output=True, text=True)
        if "PENDING" in queued.stdout:
            subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], check=False, capture_output=True)
        time.sleep(1)
    wait_for_stages(catalog, exp, root)
    built = root / "runs" / "target" / target.id
    report = json.loads((built / "report.json").read_text())
    assert report["report"]["resumed_from_step"], "the requeued stage did not resume from its checkpoint"
    assert weights_digest(built) == weights_digest(inline_target)
    assert report["best_dev"] == json.loads((inline_target / "report.json").read_text())["best_dev"]


def _sacct_states(job_id: str) -> str:
    if shutil.which("sacct") is None:
        return ""
    done = subprocess.run(["sacct", "-n", "-D", "-X", "-j", job_id, "-o", "State"], capture_output=True, text=True)
    return done.stdout


def test_a_data_parallel_stage_on_slurm_equals_the_local_one(catalog, tiny_experiment: Path, tmp_path: Path) -> None:
    experiment = json.loads(tiny_experiment.read_text())
    experiment["intermediate"] = ["none"]
    experiment["targets"] = [{"task": "qs-paws", "languages": ["en"]}]
    exp = write_json(tmp_path / "ddp.json", experiment)
    options = ExecutorOptions(jobs=1, gpus_per_stage=2, threads=1)
    [local] = make_pipeline(catalog, exp, tmp_path / "local", executor="local", executor_options=options).run()
    local_target = Path(json.loads(local.read_text())["stages"][0]["path"])
    root = tmp_path / "slurm"
    make_pipeline(
        catalog,
        exp,
        root,
        executor="slurm",
        executor_options=ExecutorOptions(jobs=1, gpus_per_stage=2, extra={**SLURM_OPTIONS, "mem_gb": "4"}),
    ).run()
    deadline = time.monotonic() + 600
    while not (root / "runs" / "target" / local_target.name / "stage.json").is_file():
        status = read_status(root / "runs" / "jobs" / f"{local_target.name}.json")
        assert status.get("state") != "failed", status
        assert time.monotonic() < deadline, "the data-parallel stage did not finish"
        time.sleep(2)
    # two ranks on Slurm (one task each) and two ranks under torchrun give the same stage, bit for bit
    assert weights_digest(root / "runs" / "target" / local_target.name) == weights_digest(local_target)
