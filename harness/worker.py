"""``python -m harness.worker JOB.json``: build one planned stage in a fresh process.

A job (:meth:`harness.executors.ExecutionSession.job`) names the stage, the cell it belongs to
and everything needed to plan that cell again here: plugins, experiment, folders, device. The
worker plans the cell on this machine and builds the stage only if its key here is the planned
one (same data, same model, same precision); otherwise it stops and says which inputs differ.
Exit status: 0 built (or found built by another process), 1 failed, 2 planned stage differs.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from harness.errors import StiltsError

#: The slot environment a worker reports in its log (set by the executor that started it).
SLOT_VARIABLES = ("STILTS_WORKER_SLOT", "CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS")


class PlanMismatchError(StiltsError):
    """The stage's key on this machine is not the planned one."""


def differences(planned: Any, here: Any, pointer: str = "") -> list[str]:
    """JSON pointers where two key inputs differ, with both values."""
    if isinstance(planned, dict) and isinstance(here, dict):
        out = []
        for key in sorted(set(planned) | set(here)):
            out += differences(planned.get(key), here.get(key), f"{pointer}/{key}")
        return out
    return [] if planned == here else [f"{pointer or '/'}: planned {planned!r}, here {here!r}"]


def build_job(job: dict[str, Any]) -> str:
    """Plan the job's cell here and build its stage; returns the stage folder."""
    from harness.execution import StageRunner
    from harness.experiment import load_experiment
    from harness.planning import Planner
    from harness.plugins import PluginLoadOptions
    from harness.registry import Catalog
    from harness.run_context import RunContext

    catalog = Catalog(PluginLoadOptions(**job["plugins"]).load())
    experiment = load_experiment(Path(job["experiment_file"]), catalog, job["experiment"])
    ctx = RunContext(
        catalog,
        experiment,
        runs_dir=Path(job["runs_dir"]),
        results_dir=Path(job["results_dir"]),
        data_dir=Path(job["data_dir"]),
        offline=bool(job["offline"]),
        device=job["device"],
        skipped={task: list(langs) for task, langs in job["skipped"].items()},
        data_parallel=int(job.get("data_parallel", 1)),
        store_url=job.get("store_url"),
    )
    wanted = job["cell"]
    cells = [
        cell
        for cell in experiment.cells()
        if (cell.intermediate, cell.target.task, cell.seed)
        == (wanted["intermediate"], wanted["target"], wanted["seed"])
    ]
    if not cells:
        raise PlanMismatchError(f"the experiment has no cell {wanted}")
    plan = Planner(ctx).plan(cells)
    node_id = job["node"]
    if node_id not in plan.nodes:
        same_kind = [n for n in plan.nodes.values() if n.kind == job["kind"] and n.key is not None]
        found = [differences(job["key_inputs"], n.key.inputs) for n in same_kind if n.key is not None]
        closest = min(found, key=len) if found else ["no stage of this kind"]
        raise PlanMismatchError(
            f"stage {node_id} ({job['kind']}) is not what this machine would build; its inputs differ: "
            + "; ".join(closest)
        )
    record = StageRunner(ctx).build(plan, node_id)
    return record.path


def status_path(job_file: Path) -> Path:
    """Where the state of the job in ``job_file`` is kept: ``runs/jobs/<stage>.status.json``."""
    return job_file.with_name(job_file.name.removesuffix(".json") + ".status.json")


def read_status(job_file: Path) -> dict[str, Any]:
    """The job's state (``{}`` before anything was written): ``state`` is ``submitted``,
    ``running``, ``done`` or ``failed``, with times, the Slurm job id, the log and the error."""
    try:
        found = json.loads(status_path(job_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def write_status(job_file: Path, **fields: Any) -> None:
    """Merge ``fields`` into the job's state file (atomically; data-parallel rank 0 only)."""
    from harness.atomic import write_json_atomic
    from harness.distributed import is_main

    if not is_main():
        return
    write_json_atomic(status_path(job_file), {**read_status(job_file), **fields})


def run_job_file(job_file: str | Path) -> str:
    """Build the stage of a job file, recording its state beside it (what ``stilts status`` reads);
    returns the stage folder. Errors are recorded, then raised."""
    path = Path(job_file)
    job = json.loads(path.read_text(encoding="utf-8"))
    slot = {name: os.environ[name] for name in SLOT_VARIABLES if name in os.environ}
    started = time.time()
    print(f"stilts worker: building {job['kind']} stage {job['node']} at {started:.3f}; {json.dumps(slot)}", flush=True)
    slurm_id = os.environ.get("SLURM_ARRAY_JOB_ID")
    slurm_job = f"{slurm_id}_{os.environ.get('SLURM_ARRAY_TASK_ID')}" if slurm_id else os.environ.get("SLURM_JOB_ID")
    write_status(path, state="running", started=started, host=socket.gethostname(), pid=os.getpid(), job_id=slurm_job)
    try:
        folder = build_job(job)
    except BaseException as exc:
        write_status(path, state="failed", finished=time.time(), error=f"{type(exc).__name__}: {exc}")
        raise
    finished = time.time()
    write_status(path, state="done", finished=finished, error=None)
    print(f"stilts worker: done at {finished:.3f}, {folder}", flush=True)
    return folder


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m harness.worker JOB.json", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        run_job_file(args[0])
    except PlanMismatchError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    except StiltsError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
