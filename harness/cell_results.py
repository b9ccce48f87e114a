"""Writes a cell's result file from the stage store once all of its stages are done.

Everything in a result comes from the stages (dev scores and data provenance from the training
stages' reports, scores, data and per-example statistics from the evaluation stages) and from the
plan (the cell's configuration). A result file that already says exactly that is left as it is:
re-running a finished matrix rewrites nothing and imports no torch.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness.execution import RUNTIME_FILE
from harness.planning import CellPlan, StagePlan, TrainWork
from harness.results import SCHEMA_VERSION, aggregate, write_result
from harness.run_context import RunContext
from harness.stages import StageRecord
from harness.tasks import content_hash
from harness.units import UNITS_FILE, Units

log = logging.getLogger("stilts.results")
#: Parts of a result that differ between two writings of the same result.
VOLATILE = ("runtime", "created_at", "stages", "wall_time_s")


class ResultWriter:
    """Writes the result files of the cells of one run."""

    def __init__(self, ctx: RunContext):
        self.ctx = ctx

    def read_json(self, folder: str | Path, name: str) -> Any:
        return json.loads((Path(folder) / name).read_text(encoding="utf-8"))

    def write(self, plan: StagePlan, cell: CellPlan, built: set[str]) -> Path:
        """Write the result of ``cell`` (every stage of it done); ``built``: the stages this run
        built (the others are reported as reused). Returns the result's path."""
        ctx, exp = self.ctx, self.ctx.experiment
        store = ctx.store
        records: list[StageRecord] = []
        for node_id in cell.nodes:
            node = plan.nodes[node_id]
            assert node.key is not None
            info = store.info(node.key)
            records.append(
                StageRecord(node.kind, node.id, str(store.path(node.key)), info["wall_time_s"], node_id not in built)
            )
        config = json.loads(json.dumps(cell.config))  # a copy: what the cell runs, plus what it found
        config["model_fingerprint"] = ctx.base_id
        data: list[dict[str, Any]] = []
        by_id = {record.hash: record for record in records}
        if cell.intermediate:
            report = self.read_json(by_id[cell.intermediate].path, "report.json")
            config["intermediate"]["dev"] = report["best_dev"]
            data += report["data"]
        dev: dict[str, float] = {}
        if cell.target:
            report = self.read_json(by_id[cell.target].path, "report.json")
            dev = report["best_dev"]
            data += report["data"]
            work = plan.nodes[cell.target].work
            if isinstance(work, TrainWork) and cell.target_config["selection"] == "target_dev":
                config["target"]["dev_languages"] = sorted(work.dev_plans)
                config["target"]["dev_languages_without_data"] = list(work.dev_languages_without_data)
        languages: dict[str, dict[str, float]] = {}
        units: dict[str, Units] = {}
        for lang, node_id in cell.evals.items():
            folder = Path(by_id[node_id].path)
            languages[lang] = self.read_json(folder, "scores.json")
            data += self.read_json(folder, "data.json")
            stats = self.read_json(folder, UNITS_FILE)["units"]  # every stage has it: its marker lists it
            if stats is not None:
                units[lang] = stats
        task, target_cfg = cell.target_task, cell.target_config
        config["target"]["languages"] = list(cell.evals)
        result = {
            "schema_version": SCHEMA_VERSION,
            "experiment": exp.name,
            "cell": {
                "id": cell.result_path.stem,
                "model": exp.model_label,
                "method": exp.cell_method(target_cfg),
                "intermediate": cell.cell.intermediate,
                "target": task.name,
                "seed": cell.cell.seed,
                "selection": target_cfg["selection"],
                "zero_shot": target_cfg["selection"] == "english_dev",
            },
            "task": {
                "name": task.name,
                "version": task.version,
                "task_type": task.task_type,
                "main_metric": task.main_metric,
                "train_language": task.train_language,
                "aggregation": task.aggregation,
            },
            "languages": languages,
            "skipped_languages": ctx.skipped.get(task.name, []),
            "aggregate": aggregate(languages, task.main_metric, task.aggregation, task.train_language),
            "dev": dev,
            "units": units,
            "config": config,
            "config_hash": content_hash(config, length=20),
            "stages": [asdict(record) for record in records],
            "data": data,
            "rerun": {
                "experiment_file": str(exp.path.resolve()),
                "experiment": exp.for_cell(cell.cell),
                "data_dir": str(ctx.resolver.data_dir),
            },
            "wall_time_s": round(sum(record.wall_time_s for record in records), 3),
        }
        if self.up_to_date(cell.result_path, result):
            return cell.result_path
        result["runtime"] = self.runtime(records, cell)
        result["created_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        ranges = {k: v for name in task.metrics for k, v in ctx.catalog.metric(name).value_ranges.items()}
        return write_result(cell.result_path, result, ranges)

    @staticmethod
    def up_to_date(path: Path, result: dict[str, Any]) -> bool:
        """True when ``path`` holds ``result`` already (the same stages, scores and configuration;
        only when it was written and how long its stages took may differ)."""
        try:
            existing = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        if not isinstance(existing, dict):
            return False
        stage_ids = [stage.get("hash") for stage in existing.get("stages", []) if isinstance(stage, dict)]
        if stage_ids != [stage["hash"] for stage in result["stages"]]:
            return False
        return all(existing.get(key) == value for key, value in result.items() if key not in VOLATILE)

    def runtime(self, records: list[StageRecord], cell: CellPlan) -> dict[str, Any]:
        """Where the cell's stages ran (the target stage's machine, else the first evaluation's),
        and the versions of stilts and its libraries."""
        from harness.provenance import git_revision, package_versions

        found = None
        for record in records:
            if record.kind in ("target", "eval") and (Path(record.path) / RUNTIME_FILE).is_file():
                found = self.read_json(record.path, RUNTIME_FILE)
                break
        if found is None:  # stages built before stilts recorded where: this machine
            from harness.execution import runtime_info

            found = runtime_info(self.ctx.device, self.ctx.settings(cell.target_task, cell.target_config).precision)
        return {
            "device": found["device"],
            "precision": found["precision"],
            "threads": found["threads"],
            "batch_size": cell.target_config.get("batch_size"),
            "versions": package_versions(),
            "git_revision": git_revision(),
        }
