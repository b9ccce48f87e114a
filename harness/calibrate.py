"""``stilts calibrate EXPERIMENT``: measure how fast this machine's device trains and evaluates the
experiment's model, per task type, for the cost model (:mod:`harness.cost_model`).

For every task type the experiment trains or evaluates, one small cell is run for real (its first
task of that type; intermediate-only task types as the cell's intermediate task) twice, with a
smaller and a larger example cap, in a throw-away stage cache, after one warm-up run. Each stage's
wall time (from its marker) is fitted to ``overhead + records / speed`` using the records the cost
model counts for it, so prediction and measurement count the same way. Training stages also
evaluate their dev split after each epoch: the fit subtracts that part at the evaluation speed
measured for the task type (or three times the training speed where the type has no evaluation
stage: a forward pass is a third of forward + backward).
"""

from __future__ import annotations

import copy
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.atomic import write_json_atomic
from harness.cost_model import CALIBRATION_FILE, RowCounter, StageCost, read_calibration, stage_cost
from harness.errors import StiltsError
from harness.experiment import Experiment, load_experiment
from harness.registry import Catalog
from harness.run_context import RunContext


def calibration_cells(catalog: Catalog, experiment: Experiment) -> dict[str, dict[str, Any]]:
    """One small experiment per task type: ``{task type: {"intermediate": [...], "targets": [...]}}``."""
    found: dict[str, dict[str, Any]] = {}
    first_target = experiment.targets[0]
    for target in experiment.targets:
        task = experiment.task(catalog, target.task)
        lang = task.train_language or (target.languages or task.eval_languages)[0]
        found.setdefault(
            task.task_type, {"intermediate": ["none"], "targets": [{"task": target.task, "languages": [lang]}]}
        )
    for name in experiment.intermediate:
        if name == "none" or name in experiment.groups:
            continue
        task = experiment.task(catalog, name)
        if task.task_type not in found:
            first = experiment.task(catalog, first_target.task)
            lang = first.train_language or first.eval_languages[0]
            found[task.task_type] = {
                "intermediate": [name],
                "targets": [{"task": first_target.task, "languages": [lang]}],
                "intermediate_only": True,
            }
    return found


def _run_once(
    catalog: Catalog,
    experiment: Experiment,
    cell: dict[str, Any],
    runs: Path,
    train_n: int,
    eval_n: int,
    device: str,
    data_dir: Path | None,
) -> list[tuple[StageCost, float]]:
    """Run the calibration cell with these caps; each stage's counted work and measured seconds."""
    from harness.pipeline import Pipeline

    data = copy.deepcopy(experiment.data)
    data.update({"name": "calibration", "intermediate": cell["intermediate"], "targets": cell["targets"], "seeds": [1]})
    data.pop("groups", None)
    data["training"] = {
        **data.get("training", {}),
        "epochs": 1,
        "max_train_examples": train_n,
        "max_eval_examples": eval_n,
    }
    data.pop("intermediate_training", None)
    sub = load_experiment(experiment.path, catalog, data)  # relative paths stay anchored at the experiment
    pipeline = Pipeline(
        catalog, sub, runs_dir=runs / "stages", results_dir=runs / "results", data_dir=data_dir, device=device
    )
    plan = pipeline.prepare()
    pipeline.run(plan)
    counter = RowCounter(pipeline.ctx)
    out = []
    for node in plan.nodes.values():
        if node.key is None or node.work is None:
            continue
        marker = json.loads((pipeline.ctx.store.path(node.key) / "stage.json").read_text(encoding="utf-8"))
        out.append((stage_cost(pipeline.ctx, node, counter), float(marker["wall_time_s"])))
    return out


def _fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """(overhead seconds, seconds per record) of a line through (records, seconds) points."""
    (x1, y1), (x2, y2) = points[0], points[-1]
    if x2 == x1:
        raise StiltsError("calibration: both runs processed the same number of records (the split is too small)")
    slope = max((y2 - y1) / (x2 - x1), 1e-9)
    return max(y1 - slope * x1, 0.0), slope


def calibrate(
    catalog: Catalog,
    experiment: Experiment,
    runs_dir: Path,
    device: str = "",
    label: str | None = None,
    sizes: tuple[int, int] = (64, 256),
    out: Path | None = None,
    data_dir: Path | None = None,
    say: Callable[[str], None] | None = None,
    task_types: list[str] | None = None,
) -> dict[str, Any]:
    """Measure every task type of ``experiment`` (or those of ``task_types``) on ``device`` and
    merge the figures into ``out`` (default ``runs_dir/calibration.json``) under ``label``
    (default: the device kind, ``cpu`` or ``cuda``), each as soon as it is measured (figures of
    other task types already there are kept); returns the device's entry. ``say`` gets a line as
    each task type starts. A task type that fails is reported through ``say`` and the others go
    on; :class:`StiltsError` when none could be measured."""
    ctx = RunContext(
        catalog, experiment, runs_dir=runs_dir, results_dir=runs_dir / "results", data_dir=data_dir, device=device
    )
    from harness.plan_report import model_parameters

    parameters = model_parameters(Path(ctx.base_ref.load_path))
    if not parameters:
        raise StiltsError("calibration needs the model's weights here (safetensors files) to count its parameters")
    label = label or ctx.device.split(":")[0]
    path = out or runs_dir / CALIBRATION_FILE
    cells = calibration_cells(catalog, experiment)
    unknown = sorted(set(task_types or []) - set(cells))
    if unknown:
        raise StiltsError(f"the experiment has no task type {unknown[0]!r} to calibrate (it has {', '.join(cells)})")
    failures: list[str] = []
    measured: dict[str, Any] = {}
    for task_type, cell in cells.items():
        if task_types and task_type not in task_types:
            continue
        if say is not None:
            say(
                f"calibrating {task_type}: a warm-up, then {sizes[0]} and {sizes[1]} examples ({cell['targets'][0]['task']})"
            )
        try:
            figure = measure_task_type(catalog, experiment, ctx.device, task_type, cell, sizes, data_dir, measured)
        except StiltsError as exc:
            failures.append(f"{task_type}: {exc}")
            if say is not None:
                say(f"  {task_type} not calibrated: {exc}")
            continue
        figure["parameters"] = parameters
        measured[task_type] = figure
        found = read_calibration(path) or {"format": 1, "devices": {}}
        entry = found["devices"].setdefault(label, {"task_types": {}})
        entry.update(name=device_name(ctx.device), model=ctx.base_id)
        entry.setdefault("task_types", {})[task_type] = figure
        write_json_atomic(path, found)
    if not measured:
        raise StiltsError("nothing calibrated: " + "; ".join(failures))
    return dict((read_calibration(path) or {})["devices"][label])


def measure_task_type(
    catalog: Catalog,
    experiment: Experiment,
    device: str,
    task_type: str,
    cell: dict[str, Any],
    sizes: tuple[int, int],
    data_dir: Path | None,
    measured: dict[str, Any],
) -> dict[str, Any]:
    """The figures of one task type: a warm-up run, then runs capped at ``sizes``. An evaluation
    whose records a cap does not change (a BUCC corpus) is fitted through one point, with the
    median evaluation overhead of the task types in ``measured`` (0 s when there are none)."""
    small, large = sizes
    with tempfile.TemporaryDirectory(prefix="stilts-calibrate-") as folder:
        runs = Path(folder)
        _run_once(catalog, experiment, cell, runs / "warm-up", small // 2, small // 2, device, data_dir)
        runs_small = _run_once(catalog, experiment, cell, runs / "a", small, small, device, data_dir)
        runs_large = _run_once(catalog, experiment, cell, runs / "b", large, large, device, data_dir)
    trained = "intermediate" if cell.get("intermediate_only") else "target"
    evals = [[(c.eval_records, t) for c, t in run if c.kind == "eval" and c.task_type == task_type]
             for run in (runs_small, runs_large)]  # fmt: skip
    trains = [[(c, t) for c, t in run if c.kind == trained and c.task_type == task_type]
              for run in (runs_small, runs_large)]  # fmt: skip
    figure: dict[str, Any] = {"task_type": task_type, "measured_at": time.strftime("%Y-%m-%d")}
    per_eval: float | None = None
    eval_overhead = 0.0
    if all(evals):
        (x1, y1), (x2, y2) = evals[0][0], evals[1][0]
        if x1 == x2:  # the cap does not apply: one point, through the other types' overhead
            overheads = sorted(f["eval_overhead_s"] for f in measured.values() if f.get("fit") != "one point")
            eval_overhead = overheads[len(overheads) // 2] if overheads else 0.0
            eval_overhead = min(eval_overhead, min(y1, y2) / 2)
            per_eval = max((y1 + y2) / 2 - eval_overhead, 1e-9) / max(x1, 1)
            figure["fit"] = "one point"
        else:
            eval_overhead, per_eval = _fit([evals[0][0], evals[1][0]])
    if all(trains):
        (c1, t1), (c2, t2) = trains[0][0], trains[1][0]
        if per_eval is None:  # dev predictions at a third of a training step's cost
            slope = (t2 - t1) / ((c2.train_records - c1.train_records) + (c2.eval_records - c1.eval_records) / 3)
            per_eval = slope / 3
        overhead, per_train = _fit([(c1.train_records, t1 - c1.eval_records * per_eval),
                                    (c2.train_records, t2 - c2.eval_records * per_eval)])  # fmt: skip
        figure.update(train_per_s=1 / per_train, train_overhead_s=overhead, max_length=c1.max_length)
    else:  # evaluated only (retrieval, mining): no training speed
        figure.update(train_per_s=1.0, train_overhead_s=0.0)
    if per_eval is None:
        raise StiltsError("no stage of this task type was measured")
    figure.update(eval_per_s=1 / per_eval, eval_overhead_s=eval_overhead)
    figure.setdefault("max_length", next(c.max_length for c, _ in runs_small if c.task_type == task_type))
    return figure


def device_name(device: str) -> str:
    """What the device is, in words (the GPU's name, or the CPU's)."""
    if device.startswith("cuda"):
        import torch

        return str(torch.cuda.get_device_name(torch.device(device)))
    import os
    import platform

    try:  # Linux names the CPU model; platform.processor() is often empty there
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return f"{line.partition(':')[2].strip()}, {os.cpu_count()} CPUs"
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"
