"""Real jobs on the one-node Slurm cluster of ``.ci/slurm-up``, through submitit (skipped when no cluster runs)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.slurm_cluster import PARTITION, require_slurm

submitit = pytest.importorskip("submitit", reason="pip install submitit")

_UNFINISHED = {"READY", "PENDING", "RUNNING", "UNKNOWN", "REQUEUED", "COMPLETING", "PREEMPTED", "CONFIGURING"}


def _executor(folder: Path) -> Any:
    require_slurm()
    executor = submitit.AutoExecutor(folder=folder)
    assert executor.cluster == "slurm"
    executor.update_parameters(timeout_min=5, slurm_partition=PARTITION, cpus_per_task=1, mem_gb=1)
    return executor


def _final_state(job: Any, timeout: float = 60.0) -> str:
    """The job's accounting state once it has left the queue (polls sacct through submitit)."""
    deadline = time.monotonic() + timeout
    while True:
        state = str(job.get_info(mode="force").get("State", "UNKNOWN")).split()[0]
        if state not in _UNFINISHED or time.monotonic() > deadline:
            return state
        time.sleep(0.5)


def test_job_array_runs_and_is_accounted(tmp_path: Path) -> None:
    executor = _executor(tmp_path)
    executor.update_parameters(name="stilts-array", slurm_array_parallelism=3)

    def square(x: int) -> int:  # nested: pickled by value, so the job needs no import of this module
        return x * x

    jobs = executor.map_array(square, [1, 2, 3])
    assert len(jobs) == 3
    assert len({job.job_id.split("_")[0] for job in jobs}) == 1  # one array job, three tasks
    assert [job.result() for job in jobs] == [1, 4, 9]
    assert [_final_state(job) for job in jobs] == ["COMPLETED"] * 3
    assert all(job.state == "COMPLETED" for job in jobs)


def test_afterok_dependency_orders_stages(tmp_path: Path) -> None:
    executor = _executor(tmp_path)

    def first() -> float:
        time.sleep(1.5)
        return time.time()  # when the first stage ended

    def second() -> float:
        return time.time()  # when the second stage started

    def fail() -> None:
        raise RuntimeError("stage failed on purpose")

    job_a = executor.submit(first)
    executor.update_parameters(slurm_additional_parameters={"dependency": f"afterok:{job_a.job_id}"})
    job_b = executor.submit(second)
    executor.update_parameters(slurm_additional_parameters={})
    job_bad = executor.submit(fail)
    executor.update_parameters(slurm_additional_parameters={"dependency": f"afterok:{job_bad.job_id}"})
    job_never = executor.submit(second)

    ended_a, started_b = job_a.result(), job_b.result()
    assert started_b >= ended_a
    assert _final_state(job_a) == _final_state(job_b) == "COMPLETED"
    with pytest.raises(submitit.core.utils.FailedJobError, match="stage failed on purpose"):
        job_bad.result()
    assert _final_state(job_bad) == "FAILED"
    # DependencyParameters=kill_invalid_depend: a stage after a failed one is cancelled, not left pending forever.
    assert _final_state(job_never) == "CANCELLED"
