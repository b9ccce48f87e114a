"""``stilts plan``: an experiment's stages, what is cached, what must run, what is missing and an
estimate of the cost, computed without loading a model or importing torch."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any, NamedTuple

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.console import print_table
from harness.experiment import Experiment
from harness.planning import BLOCKED, CACHED, RUN, Planner, StagePlan, blocked_reasons
from harness.preflight import preflight
from harness.registry import Catalog
from harness.run_context import RunContext

#: Lines of missing inputs (and of blocking reasons) printed without --stages.
MAX_LINES = 8


class PlannedExperiment(NamedTuple):
    """What :func:`plan_experiment` returns."""

    plan: StagePlan
    #: the plan's estimate from finished stages in the cache (:meth:`StagePlan.estimate`)
    estimate: dict[str, Any]
    #: the starting model's parameter count (None where unknown)
    model_parameters: int | None
    #: the run context the plan was made in (its resolver and hub access, for the cost model)
    ctx: RunContext


def plan_experiment(
    catalog: Catalog,
    experiment: Experiment,
    runs_dir: Path,
    results_dir: Path,
    data_dir: Path | None = None,
    device: str | None = None,
    data_parallel: int = 1,
) -> PlannedExperiment:
    """The plan of ``experiment`` against the stage cache ``runs_dir``, its cost estimate and the
    starting model's parameter count (read from a local folder's safetensors headers, else the
    study's known hub models, else None). ``data_parallel``: processes per training stage
    (``--gpus-per-stage``)."""
    ctx = RunContext(
        catalog,
        experiment,
        runs_dir=runs_dir,
        results_dir=results_dir,
        data_dir=data_dir,
        device=device or "",
        data_parallel=data_parallel,
    )
    problems = preflight(ctx, read_files=False)
    plan = Planner(ctx).plan(problems=problems)
    try:
        size = (
            model_parameters(Path(ctx.base_ref.load_path)) if ctx.base_ref.is_local or ctx.base_ref.snapshot else None
        )
    except Exception:  # a model that cannot be resolved is reported by the plan already
        size = None
    size = size or known_parameters(str(experiment.model.get("id", "")))
    return PlannedExperiment(plan, plan.estimate(ctx.store.root), size, ctx)


#: Parameter counts of the study's hub models, for costing a plan before their weights are here:
#: XLM-R (Conneau et al. 2020, Table 7) and multilingual BERT (its model card).
KNOWN_PARAMETERS = {
    "xlm-roberta-large": 560_000_000,
    "facebookai/xlm-roberta-large": 560_000_000,
    "xlm-roberta-base": 278_000_000,
    "facebookai/xlm-roberta-base": 278_000_000,
    "bert-base-multilingual-cased": 178_000_000,
    "google-bert/bert-base-multilingual-cased": 178_000_000,
}


def known_parameters(model_id: str) -> int | None:
    return KNOWN_PARAMETERS.get(model_id.lower())


def print_cost(console: Console, cost: Any) -> None:
    """The cost model's lines: GPU-hours, makespan on N devices, critical path, speed sources."""
    if cost.unknown:
        console.print(
            f"cost on {escape(cost.device)}: unknown for {len(cost.unknown)} stage(s), e.g. {escape(cost.unknown[0])}"
        )
        return
    blocked = f"{cost.blocked} blocked stage(s) not costed (an input is missing: see above)"
    if cost.blocked and not cost.stages:
        console.print(f"cost on {cost.devices} × {escape(cost.device)}: unknown: {blocked}")
        return
    hours = "GPU-hours" if cost.device != "cpu" else "device-hours"
    console.print(
        f"cost on {cost.devices} × {escape(cost.device)}: {cost.gpu_hours:,.1f} {hours}; makespan "
        f"{duration(cost.makespan_s)}; critical path {duration(cost.critical_path_s)} "
        f"({len(cost.critical_path)} stage(s): {' → '.join(cost.critical_path[:4])}{' …' if len(cost.critical_path) > 4 else ''})"
    )
    for source in cost.sources:
        console.print(f"  speed: {escape(source)}")
    if cost.blocked:
        console.print(f"  not included: {blocked}")


def model_parameters(folder: Path) -> int | None:
    """The number of parameters in a model folder, read from its safetensors headers (no weights
    are loaded); None when it has no safetensors files."""
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    total = 0
    for path in files:
        with open(path, "rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(length))
        for name, tensor in header.items():
            if name != "__metadata__":
                count = 1
                for dim in tensor["shape"]:
                    count *= dim
                total += count
    return total


def duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def print_plan(
    console: Console, plan: StagePlan, estimate: dict[str, Any], model_size: int | None, *, list_stages: bool = False
) -> None:
    """Print the plan: stage counts by kind and state, the estimate, what is missing."""
    counts = plan.counts()
    total = sum(row["total"] for row in counts.values())
    console.print(
        f"experiment [bold]{escape(plan.experiment)}[/]: {len(plan.cells)} cell(s), {total} distinct stage(s)"
        + (f"; model {model_size / 1e6:.0f}M parameters" if model_size else "")
    )
    table = Table(title="stages", title_justify="left")
    table.add_column("kind", header_style="bold")
    for column in (CACHED, "to run", BLOCKED, "total"):
        table.add_column(column, justify="right")
    for kind in ("intermediate", "target", "eval"):
        row = counts.get(kind, {CACHED: 0, RUN: 0, BLOCKED: 0, "total": 0})
        table.add_row(kind, str(row[CACHED]), str(row[RUN]), str(row[BLOCKED]), str(row["total"]))
    print_table(console, table)
    passes = estimate["example_passes"]
    train_passes = passes["intermediate"] + passes["target"]
    line = f"to train: {train_passes:,} example passes"
    unknown = sum(estimate["stages_of_unknown_size"].values())
    if unknown:
        line += f" (+ {unknown} stage(s) of unknown size: no example cap)"
    if estimate["seconds"] is not None:
        line += f"; ≈ {duration(estimate['seconds'])} at the speed of {estimate['measured_stages']} measured stage(s)"
    elif plan.to_run():
        line += "; no time estimate yet (no finished stage of this plan in the cache to measure speed)"
    console.print(line)
    for label, lines in (("[red]missing:[/]", plan.problems), ("[yellow]blocked:[/]", blocked_reasons(plan))):
        shown = lines if list_stages else lines[:MAX_LINES]
        for line in shown:
            console.print(f"{label} {escape(line)}")
        if len(lines) > len(shown):
            console.print(f"{label} … and {len(lines) - len(shown)} more (--stages or --json lists them all)")
    if plan.skipped:
        for task, langs in plan.skipped.items():
            console.print(f"skipped (no data): {escape(task)} {escape(', '.join(langs))}")
    if list_stages:
        stages = Table(title="stages to run", title_justify="left")
        for column in ("stage", "kind", "task", "detail", "starts from", "why"):
            stages.add_column(column)
        for node in plan.nodes.values():
            if node.state != CACHED:
                stages.add_row(
                    node.id, node.kind, escape(node.task), escape(node.detail), node.start or "-", escape(node.reason)
                )
        print_table(console, stages)
