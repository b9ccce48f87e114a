"""``python -m harness.worker JOB.json``: build planned stages in a fresh process.

A job (:meth:`harness.executors.ExecutionSession.job`) names its stages (one, or several
evaluations of one trained model: they then share the loaded model and what it embedded), the
cells they belong to and everything needed to plan those cells again here: plugins, experiment,
folders, device. The worker plans the cells on this machine and builds a stage only if its key
here is the planned one (same data, same model, same precision); otherwise it says which inputs
differ. Each stage's state goes to its own file, ``runs/jobs/<stage>.status.json``; a failing
stage of a job leaves the job's other stages building.
Exit status: 0 all built (or found built by another process), 1 a stage failed, 2 a planned stage
differs (and none failed otherwise).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
import traceback
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


def job_stages(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The stages of a job: ``[{"node", "kind", "key_inputs"}, ...]`` (a ``job_format`` 1 file
    names one stage at its top level)."""
    if "stages" in job:
        return list(job["stages"])
    return [{"node": job["node"], "kind": job["kind"], "key_inputs": job["key_inputs"]}]


def job_cells(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The cells whose plan holds the job's stages (``job_format`` 1: one, ``cell``)."""
    return list(job["cells"]) if "cells" in job else [job["cell"]]


class JobBuilder:
    """Plans a job's cells on this machine once, then builds its stages one by one with one
    :class:`harness.execution.StageRunner` (evaluations of one model share the loaded model)."""

    def __init__(self, job: dict[str, Any]):
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
        wanted = {(c["intermediate"], c["target"], c["seed"]) for c in job_cells(job)}
        cells = [cell for cell in experiment.cells() if (cell.intermediate, cell.target.task, cell.seed) in wanted]
        if len(cells) != len(wanted):
            found = {(cell.intermediate, cell.target.task, cell.seed) for cell in cells}
            raise PlanMismatchError(f"the experiment has no cell {sorted(wanted - found)}")
        self.plan = Planner(ctx).plan(cells)
        self.runner = StageRunner(ctx)

    def build(self, stage: dict[str, Any]) -> str:
        """Build one stage of the job; returns its folder."""
        node_id = stage["node"]
        if node_id not in self.plan.nodes:
            same_kind = [n for n in self.plan.nodes.values() if n.kind == stage["kind"] and n.key is not None]
            found = [differences(stage["key_inputs"], n.key.inputs) for n in same_kind if n.key is not None]
            closest = min(found, key=len) if found else ["no stage of this kind"]
            raise PlanMismatchError(
                f"stage {node_id} ({stage['kind']}) is not what this machine would build; its inputs differ: "
                + "; ".join(closest)
            )
        return self.runner.build(self.plan, node_id).path


def build_job(job: dict[str, Any]) -> list[str]:
    """Plan the job's cells here and build its stages; returns the stage folders."""
    builder = JobBuilder(job)
    return [builder.build(stage) for stage in job_stages(job)]


def status_path(job_file: Path, node_id: str | None = None) -> Path:
    """Where the state of a stage is kept: ``runs/jobs/<stage>.status.json`` (``node_id``: a stage
    of the job in ``job_file``; default: the stage the job file is named after)."""
    name = node_id or job_file.name.removesuffix(".json")
    return job_file.with_name(f"{name}.status.json")


def read_status(job_file: Path, node_id: str | None = None) -> dict[str, Any]:
    """The stage's state (``{}`` before anything was written): ``state`` is ``submitted``,
    ``running``, ``done`` or ``failed``, with times, the Slurm job id, the log and the error."""
    try:
        found = json.loads(status_path(job_file, node_id).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def write_status(job_file: Path, node_id: str | None = None, **fields: Any) -> None:
    """Merge ``fields`` into the stage's state file (atomically; data-parallel rank 0 only)."""
    from harness.atomic import write_json_atomic
    from harness.distributed import is_main

    if not is_main():
        return
    write_json_atomic(status_path(job_file, node_id), {**read_status(job_file, node_id), **fields})


def run_job_file(job_file: str | Path) -> list[str]:
    """Build the stages of a job file, recording each stage's state beside it (what ``stilts
    status`` reads); returns the stage folders. A stage that fails is recorded and the job's
    other stages still build; then the first error is raised."""
    path = Path(job_file)
    job = json.loads(path.read_text(encoding="utf-8"))
    stages = job_stages(job)
    slot = {name: os.environ[name] for name in SLOT_VARIABLES if name in os.environ}
    slurm_id = os.environ.get("SLURM_ARRAY_JOB_ID")
    slurm_job = f"{slurm_id}_{os.environ.get('SLURM_ARRAY_TASK_ID')}" if slurm_id else os.environ.get("SLURM_JOB_ID")
    where = {"host": socket.gethostname(), "pid": os.getpid(), "job_id": slurm_job}
    if job.get("log"):
        where["log"] = job["log"]
    try:
        builder = JobBuilder(job)
    except BaseException as exc:
        for stage in stages:
            write_status(
                path, stage["node"], state="failed", finished=time.time(), error=f"{type(exc).__name__}: {exc}"
            )
        raise
    folders: list[str] = []
    errors: list[BaseException] = []
    for stage in stages:
        node_id, started = stage["node"], time.time()
        print(
            f"stilts worker: building {stage['kind']} stage {node_id} at {started:.3f}; {json.dumps(slot)}", flush=True
        )
        write_status(path, node_id, state="running", started=started, **where)
        try:
            folder = builder.build(stage)
        except BaseException as exc:
            write_status(path, node_id, state="failed", finished=time.time(), error=f"{type(exc).__name__}: {exc}")
            if not isinstance(exc, Exception):
                raise  # interrupted (SIGTERM, Ctrl-C): the job stops here
            print(f"stilts worker: stage {node_id} failed: {type(exc).__name__}: {exc}", flush=True)
            if not isinstance(exc, StiltsError):
                traceback.print_exc()  # a bug, not bad input: the log keeps where it happened
            errors.append(exc)
            continue
        finished = time.time()
        write_status(path, node_id, state="done", finished=finished, error=None)
        print(f"stilts worker: done at {finished:.3f}, {folder}", flush=True)
        folders.append(folder)
    if errors:
        failed = [e for e in errors if not isinstance(e, PlanMismatchError)]
        raise (failed or errors)[0]
    return folders


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
