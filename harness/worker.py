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


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m harness.worker JOB.json", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    job = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    slot = {name: os.environ[name] for name in SLOT_VARIABLES if name in os.environ}
    print(
        f"stilts worker: building {job['kind']} stage {job['node']} at {time.time():.3f}; {json.dumps(slot)}",
        flush=True,
    )
    try:
        folder = build_job(job)
    except PlanMismatchError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    except StiltsError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    print(f"stilts worker: done at {time.time():.3f}, {folder}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
