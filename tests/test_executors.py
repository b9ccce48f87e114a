"""The ``local`` executor: worker processes give the same results as ``inline``, never more than
``--jobs`` at once, each with its slot's environment; a failing stage leaves the rest finishing and
is reported with its log; a re-run builds only what is missing. A worker refuses a stage whose key
differs on its machine."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.executors import ExecutorOptions
from harness.pipeline import StagesFailedError
from harness.worker import differences
from tests.helpers import (
    TRAINING_FAILURE,
    broken_training_experiment,
    make_pipeline,
    repair_training,
    write_json,
)


def small_matrix(tiny_experiment: Path, tmp_path: Path) -> Path:
    """{none, qs-nli} x qs-paws in en and de: 1 intermediate, 2 target and 4 evaluation stages."""
    experiment = json.loads(tiny_experiment.read_text())
    experiment["targets"] = [{"task": "qs-paws", "languages": ["en", "de"]}]
    return write_json(tmp_path / "matrix.json", experiment)


def worker_intervals(runs: Path) -> list[tuple[float, float, dict, list[str]]]:
    """(first start, last end, slot environment, stage kinds) of every worker, from the job logs."""
    out = []
    for log in sorted((runs / "jobs").glob("*.log")):
        text = log.read_text()
        starts = re.findall(r"building (\w+) stage \w+ at ([0-9.]+); (\{.*\})", text)
        ends = re.findall(r"done at ([0-9.]+)", text)
        assert starts and len(ends) == len(starts), text
        kinds = [kind for kind, _, _ in starts]
        out.append((float(starts[0][1]), float(ends[-1]), json.loads(starts[0][2]), kinds))
    return out


def test_local_workers_give_the_inline_results_within_the_job_limit(
    catalog, tiny_experiment: Path, tmp_path: Path
) -> None:
    exp = small_matrix(tiny_experiment, tmp_path)
    inline = {p.name: json.loads(p.read_text()) for p in make_pipeline(catalog, exp, tmp_path / "inline").run()}
    pipeline = make_pipeline(
        catalog,
        exp,
        tmp_path / "local",
        executor="local",
        executor_options=ExecutorOptions(jobs=2, gpus=["7", "9"], threads=1),
    )
    local = {p.name: json.loads(p.read_text()) for p in pipeline.run()}
    assert set(local) == set(inline)
    for name, result in local.items():
        assert result["languages"] == inline[name]["languages"]
        assert [s["hash"] for s in result["stages"]] == [s["hash"] for s in inline[name]["stages"]]
    assert pipeline.session is not None and len(pipeline.session.built) == 7
    intervals = worker_intervals(tmp_path / "local" / "runs")
    # one worker per training stage; each target's two evaluations share one worker (and its model)
    assert sorted(kinds for *_, kinds in intervals) == [
        ["eval", "eval"],
        ["eval", "eval"],
        ["intermediate"],
        *[["target"]] * 2,
    ]
    events = sorted([(start, 1) for start, *_ in intervals] + [(end, -1) for _, end, *_ in intervals])
    running = peak = 0
    for _, change in events:
        running += change
        peak = max(peak, running)
    assert peak <= 2
    # each worker saw its slot's environment, set before torch was imported
    slots = {
        (env["STILTS_WORKER_SLOT"], env["CUDA_VISIBLE_DEVICES"], env["OMP_NUM_THREADS"]) for _, _, env, _ in intervals
    }
    assert slots <= {("0", "7", "1"), ("1", "9", "1")}


def test_a_failing_stage_leaves_the_rest_and_a_rerun_builds_only_what_is_missing(
    catalog, tiny_experiment: Path, tmp_path: Path
) -> None:
    exp = broken_training_experiment(tiny_experiment, tmp_path)
    pipeline = make_pipeline(catalog, exp, tmp_path, executor="local", executor_options=ExecutorOptions(jobs=2))
    with pytest.raises(StagesFailedError) as failure:
        pipeline.run()
    message = str(failure.value)
    assert "1 stage(s) failed and 1 that start from them were not built" in message
    assert "1 of 2 cell result(s) written" in message
    session = pipeline.session
    assert session is not None
    [failed_target] = [f for f in session.failed.values() if f.kind == "target"]
    assert failed_target.log is not None and TRAINING_FAILURE in failed_target.log.read_text()
    assert [p.name for p in session.written.values()] == ["tiny-bert__full__none__qs-tatoeba__seed1.json"]
    # the method is fixed: a re-run builds the target and its evaluation, nothing else
    repair_training(exp)
    again = make_pipeline(catalog, exp, tmp_path, executor="local", executor_options=ExecutorOptions(jobs=2))
    assert len(again.run()) == 2
    assert again.session is not None
    assert sorted(again.session.plan.nodes[n].kind for n in again.session.built) == ["eval", "target"]


def test_a_worker_refuses_a_stage_whose_inputs_differ_on_its_machine(
    catalog, tiny_experiment: Path, tmp_path: Path
) -> None:
    from harness.executors import ExecutionSession

    pipeline = make_pipeline(catalog, small_matrix(tiny_experiment, tmp_path), tmp_path)
    plan = pipeline.plan()
    session = ExecutionSession(pipeline.ctx, plan, ExecutorOptions())
    node = next(n for n in plan.nodes.values() if n.kind == "intermediate")
    job = session.job([node.id])
    job["experiment"]["training"]["learning_rate"] = 2e-3  # what the worker would now plan
    path = write_json(tmp_path / "job.json", job)
    done = subprocess.run(
        [sys.executable, "-m", "harness.worker", str(path)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2, done.stderr
    assert "/training/learning_rate: planned 0.001, here 0.002" in done.stderr
    assert not (tmp_path / "runs" / "intermediate" / node.id).exists()


def test_one_bad_stage_of_a_worker_job_leaves_the_others_built(catalog, tiny_experiment: Path, tmp_path: Path) -> None:
    from harness.executors import ExecutionSession
    from harness.worker import read_status

    pipeline = make_pipeline(catalog, small_matrix(tiny_experiment, tmp_path), tmp_path)
    plan = pipeline.plan()
    session = ExecutionSession(pipeline.ctx, plan, ExecutorOptions())
    node = next(n for n in plan.nodes.values() if n.kind == "intermediate")
    assert node.key is not None
    path = session.job_file([node.id])
    job = json.loads(path.read_text())
    other = {**job["stages"][0], "node": "0" * 20, "key_inputs": {**node.key.inputs, "seed": 99}}
    job["stages"].insert(0, other)  # a stage this machine would not plan, before a good one
    path.write_text(json.dumps(job))
    done = subprocess.run(
        [sys.executable, "-m", "harness.worker", str(path)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2, done.stderr
    assert "/seed: planned 99, here" in done.stderr
    assert read_status(path, other["node"])["state"] == "failed"
    assert read_status(path, node.id)["state"] == "done"
    assert (tmp_path / "runs" / "intermediate" / node.id / "stage.json").is_file()


def test_worker_batches_group_the_evaluations_of_one_model(catalog, tiny_experiment: Path, tmp_path: Path) -> None:
    from harness.executors import ExecutionSession

    pipeline = make_pipeline(catalog, small_matrix(tiny_experiment, tmp_path), tmp_path)
    plan = pipeline.plan()
    ids = [n.id for n in plan.to_run()]
    evals = {}
    for node_id in ids:
        if plan.nodes[node_id].kind == "eval":
            evals.setdefault(plan.nodes[node_id].start, []).append(node_id)
    assert sorted(map(len, evals.values())) == [2, 2]

    def batches(limit: int) -> list[list[str]]:
        return ExecutionSession(pipeline.ctx, plan, ExecutorOptions(evals_per_worker=limit)).worker_batches(ids)

    everything = batches(0)
    assert sorted(b for b in everything if plan.nodes[b[0]].kind == "eval") == sorted(evals.values())
    assert all(len(b) == 1 for b in everything if plan.nodes[b[0]].kind != "eval")
    assert sorted(len(b) for b in batches(1)) == [1] * 7
    assert sorted(len(b) for b in batches(2)) == sorted(len(b) for b in everything)
    assert [x for b in batches(0) for x in b] != [] and sorted(x for b in batches(1) for x in b) == sorted(ids)


def test_differences_name_each_pointer() -> None:
    assert differences({"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3, "d": 4}}) == [
        "/a/c: planned 2, here 3",
        "/a/d: planned None, here 4",
    ]


def test_a_training_stage_runs_data_parallel_over_two_gloo_processes(
    catalog, tiny_experiment: Path, tmp_path: Path
) -> None:
    experiment = json.loads(tiny_experiment.read_text())
    experiment["intermediate"] = ["none"]
    experiment["targets"] = [{"task": "qs-paws", "languages": ["en"]}]
    exp = write_json(tmp_path / "ddp.json", experiment)
    [single] = make_pipeline(catalog, exp, tmp_path / "single").run()
    pipeline = make_pipeline(
        catalog,
        exp,
        tmp_path / "ddp",
        executor="local",
        executor_options=ExecutorOptions(jobs=1, gpus_per_stage=2, threads=1),
    )
    [parallel] = pipeline.run()
    one, two = json.loads(single.read_text()), json.loads(parallel.read_text())
    target_one, target_two = one["stages"][0], two["stages"][0]
    # two processes are another computation (another order of float sums): another stage
    assert target_two["hash"] != target_one["hash"]
    marker = json.loads((Path(target_two["path"]) / "stage.json").read_text())
    assert marker["inputs"]["data_parallel"] == 2
    report_one = json.loads((Path(target_one["path"]) / "report.json").read_text())["report"]
    report_two = json.loads((Path(target_two["path"]) / "report.json").read_text())["report"]
    # the global batch is the experiment's: the same number of optimizer steps over the same examples
    assert report_two["steps"] == report_one["steps"] and report_two["examples"] == report_one["examples"]
    log = (tmp_path / "ddp" / "runs" / "jobs" / f"{target_two['hash']}.log").read_text()
    assert log.count("stilts worker: building target") == 2  # rank 0 and rank 1
    assert set(two["languages"]["en"]) == set(one["languages"]["en"])
