"""The cost model against measured stage times: every finished stage of an experiment in a stage
store, its predicted seconds (``stilts plan``'s cost model with the calibration in the store) and
its measured wall time (its marker), summed per stage type.

Run the experiment first (``stilts run``), and ``stilts calibrate`` on the same machine before
it, e.g. for the mini study on CPU::

    stilts calibrate examples/xstilts-mini.json --data-dir ../shared/data --runs-dir runs-cal
    stilts run examples/xstilts-mini.json --data-dir ../shared/data --runs-dir runs-cal --seed 1
    python bench/bench_cost_model.py examples/xstilts-mini.json --data-dir ../shared/data --runs-dir runs-cal

Prints one row per (stage kind, task type): stages, predicted and measured seconds, their ratio,
and the spread of the per-stage ratios (the median and the worst stage).

Usage: python bench/bench_cost_model.py EXPERIMENT [--runs-dir runs] [--data-dir DIR]
       [--device cpu] [--calibration FILE] [--seed N] [--intermediate A,B] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def compare(
    experiment_file: str,
    runs_dir: Path,
    data_dir: Path | None,
    device: str,
    calibration_file: Path | None,
    seeds: list[int] | None = None,
    intermediate: list[str] | None = None,
) -> dict[str, Any]:
    """Predicted and measured seconds of every finished stage, by (kind, task type)."""
    from harness.cost_model import CALIBRATION_FILE, RowCounter, calibrated_speeds, priced_stages, read_calibration
    from harness.experiment import load_experiment
    from harness.plan_report import plan_experiment
    from harness.plugins import load_plugins
    from harness.registry import Catalog

    catalog = Catalog(load_plugins())
    experiment = load_experiment(catalog.experiment_path(experiment_file), catalog).restricted(
        intermediate, None, seeds
    )
    planned = plan_experiment(catalog, experiment, runs_dir, runs_dir / "results", data_dir, device)
    calibration = read_calibration(calibration_file or runs_dir / CALIBRATION_FILE)
    if calibration is None:
        sys.exit(f"no calibration in {calibration_file or runs_dir / CALIBRATION_FILE}: run stilts calibrate first")
    store = planned.ctx.store
    finished = [
        node
        for node in planned.plan.nodes.values()
        if node.key is not None and node.work is not None and (store.path(node.key) / "stage.json").is_file()
    ]
    stages, _, _ = priced_stages(
        planned.ctx,
        finished,
        device,
        calibrated_speeds(calibration, device),
        planned.model_parameters,
        RowCounter(planned.ctx),
    )
    groups: dict[str, list[tuple[float, float, str]]] = {}
    for node, cost in zip(finished, stages, strict=True):
        if cost.seconds is None:
            continue
        assert node.key is not None
        wall = float(json.loads((store.path(node.key) / "stage.json").read_text(encoding="utf-8"))["wall_time_s"])
        groups.setdefault(f"{node.kind} {cost.task_type}", []).append(
            (cost.seconds, wall, f"{node.task} {node.detail}")
        )
    rows = []
    for group, stages in sorted(groups.items()):
        predicted = sum(p for p, _, _ in stages)
        measured = sum(m for _, m, _ in stages)
        ratios = [p / m for p, m, _ in stages if m > 0]
        worst = max(stages, key=lambda s: abs(s[0] / s[1] - 1) if s[1] > 0 else 0)
        rows.append(
            {
                "stage_type": group,
                "stages": len(stages),
                "predicted_s": predicted,
                "measured_s": measured,
                "ratio": predicted / measured if measured else None,
                "median_stage_ratio": statistics.median(ratios) if ratios else None,
                "worst_stage": {"stage": worst[2], "predicted_s": worst[0], "measured_s": worst[1]},
            }
        )
    total_p = sum(r["predicted_s"] for r in rows)
    total_m = sum(r["measured_s"] for r in rows)
    return {"device": device, "rows": rows, "predicted_s": total_p, "measured_s": total_m}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--device", default="cpu", help="the calibration's device label")
    parser.add_argument("--calibration", type=Path, default=None)
    parser.add_argument("--seed", type=int, action="append", default=None)
    parser.add_argument("--intermediate", default="", help="comma-separated intermediate tasks to include")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    intermediate = [i for i in args.intermediate.split(",") if i] or None
    found = compare(
        args.experiment, args.runs_dir, args.data_dir, args.device, args.calibration, args.seed, intermediate
    )
    if args.json:
        print(json.dumps(found, indent=2))
        return
    print(
        "| stage type | stages | predicted s | measured s | predicted ÷ measured | median stage ratio | worst stage |"
    )
    print("|---|---|---|---|---|---|---|")
    for row in found["rows"]:
        worst = row["worst_stage"]
        print(
            f"| {row['stage_type']} | {row['stages']} | {row['predicted_s']:.0f} | {row['measured_s']:.0f} | "
            f"{row['ratio']:.2f} | {row['median_stage_ratio']:.2f} | {worst['stage']}: "
            f"{worst['predicted_s']:.0f} s vs {worst['measured_s']:.0f} s |"
        )
    print(
        f"| all | {sum(r['stages'] for r in found['rows'])} | {found['predicted_s']:.0f} | {found['measured_s']:.0f} | "
        f"{found['predicted_s'] / found['measured_s']:.2f} | | |"
    )


if __name__ == "__main__":
    main()
