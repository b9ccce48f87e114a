"""Builds one planned stage: reads its inputs (the model of the stage it starts from, its data)
and writes its output atomically into the stage store (:class:`harness.stages.StageStore`).

Whoever runs a stage (the ``inline`` executor in the run's own process, a worker process of the
``local`` or ``slurm`` executor) calls :meth:`StageRunner.build` with the plan and the stage's
id. Before anything is built, the precision the planner put into the stage's key is checked
against what torch says on this machine (:func:`harness.inference.resolve_precision`): a stage
planned for bf16 is never written by a worker that would run it in fp32.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness import distributed
from harness.errors import StiltsError
from harness.group_stage import GroupTrainer
from harness.interfaces import ModelHandle, ModelRef
from harness.planning import EvalWork, GroupWork, StageNode, StagePlan, TrainWork
from harness.progress import reported_stage
from harness.run_context import RunContext
from harness.stages import StageRecord, stage_log
from harness.units import UNITS_FILE, main_units

log = logging.getLogger("stilts.execution")
#: Written into every stage built by this version: the machine it ran on (results report it).
RUNTIME_FILE = "runtime.json"


class StageMismatchError(StiltsError):
    """The machine running a stage would compute something other than what was planned."""


class StageRunner:
    """Builds the stages of one plan in this process (model handles of evaluations are reused
    while consecutive evaluations use the same model)."""

    def __init__(self, ctx: RunContext):
        self.ctx = ctx
        self._handle: tuple[tuple[str, str], ModelHandle] | None = None

    def model_of(self, plan: StagePlan, node_id: str | None) -> ModelRef:
        """The model a stage starts from: the folder of stage ``node_id``, or the experiment's."""
        if node_id is None:
            return self.ctx.base_ref
        start = plan.nodes[node_id]
        assert start.key is not None
        return ModelRef(str(self.ctx.store.path(start.key) / "model"))

    def record(self, node: StageNode, reused: bool) -> StageRecord:
        assert node.key is not None
        info = self.ctx.store.info(node.key)
        return StageRecord(node.kind, node.id, str(self.ctx.store.path(node.key)), info["wall_time_s"], reused)

    def reuse(self, plan: StagePlan, node_id: str) -> StageRecord:
        """Report a stage found in the cache (as :meth:`build` reports a built one)."""
        node = plan.nodes[node_id]
        record = self.record(node, reused=True)
        self._finished(node, record)
        return record

    def build(self, plan: StagePlan, node_id: str) -> StageRecord:
        """Build stage ``node_id`` of ``plan`` (its start stage must be done)."""
        node = plan.nodes[node_id]
        if node.key is None or node.work is None:
            raise StiltsError(f"stage {node_id} ({node.kind} {node.task}) cannot run: {node.reason}")
        check_precision(node, self.ctx.device)
        store = self.ctx.store
        start_key = plan.nodes[node.start].key if node.start else None
        if start_key is not None and not store.is_done(start_key):
            raise StiltsError(
                f"stage {node_id} ({node.kind} {node.task}) starts from stage {node.start}, which is not built "
                "(it failed or has not run yet)"
            )
        if start_key is not None:
            store.verify(start_key)  # every digest (the weights too), once per process
        if distributed.world_size() > 1:
            if not isinstance(node.work, TrainWork):
                raise StiltsError(
                    f"stage {node_id} ({node.kind} {node.task}): only single-task training stages run data-parallel"
                )
            distributed.start(self.ctx.device)
            if not distributed.is_main():
                return self.help_build(plan, node, node.work)
        folder = store.path(node.key)
        if store.is_done(node.key) and store.weights_pruned_at(folder):
            store.discard(self.record(node, reused=True))  # rebuilt identically: stages are deterministic
        reused = True
        with store.build(node.key) as work_dir:
            distributed.share_from_main(str(work_dir) if work_dir else None)  # the other ranks train there too
            if work_dir is not None:
                reused = False
                with (
                    reported_stage(
                        self.ctx.reporter,
                        kind=node.kind,
                        task=node.task,
                        hash=node.id,
                        detail=node.detail,
                        log=work_dir / "log.txt",
                    ),
                    stage_log(work_dir),
                ):
                    start = self.model_of(plan, node.start)
                    if isinstance(node.work, EvalWork):
                        self.evaluate(node.work, start, work_dir)
                    elif isinstance(node.work, GroupWork):
                        write_json(work_dir / "report.json", GroupTrainer(self.ctx).train(node.work, start, work_dir))
                    else:
                        self.train(node, node.work, start, work_dir)
                    write_json(work_dir / RUNTIME_FILE, runtime_info(self.ctx.device, node.work.settings.precision))
                distributed.barrier()  # every rank is done before the stage is moved into place
        record = self.record(node, reused)
        self._finished(node, record, pulled=folder in store.pulled)
        return record

    def help_build(self, plan: StagePlan, node: StageNode, work: TrainWork) -> StageRecord:
        """A data-parallel rank other than 0: train beside rank 0 in its work folder, write nothing."""
        shared = distributed.share_from_main(None)
        if shared is not None:
            self.train(node, work, self.model_of(plan, node.start), Path(shared))
            distributed.barrier()
        assert node.key is not None
        return StageRecord(node.kind, node.id, str(self.ctx.store.path(node.key)), 0.0, shared is None)

    def _finished(self, node: StageNode, record: StageRecord, pulled: bool = False) -> None:
        reporter = self.ctx.reporter
        reporter.stage_finished(
            kind=node.kind,
            task=node.task,
            hash=node.id,
            wall_s=record.wall_time_s,
            reused=record.reused,
            detail=node.detail,
            pulled=pulled,
        )
        if node.kind == "eval" and isinstance(node.work, EvalWork):
            scores = json.loads((Path(record.path) / "scores.json").read_text(encoding="utf-8"))
            main = node.work.task.main_metric
            reporter.language_scored(
                task=node.task, lang=node.work.language, metric=main, value=scores[main], cached=record.reused
            )

    def train(self, node: StageNode, work: TrainWork, start: ModelRef, work_dir: Path) -> None:
        """Train ``work.task`` from ``start``; the model goes to ``work_dir/model``."""
        from harness.train import train

        ctx, task, config = self.ctx, work.task, work.config
        limit = config.get("max_eval_examples")
        train_records, _ = ctx.load_split(task, "train", work.language, config.get("max_train_examples"))
        if task.labels_from_train:
            task = task.with_labels(ctx.catalog.task_type(task.task_type).derive_labels(train_records))
        dev_records = ctx.load_split(task, "dev", work.language, limit)[0] if work.dev_plan else None
        task_type = ctx.catalog.task_type(task.task_type)
        handle = ModelHandle(ctx.adapter, start, task_type.head(task))
        dev_sets: dict[str, Sequence[dict]] = {dl: ctx.load_split(task, "dev", dl, limit)[0] for dl in work.dev_plans}
        report = train(
            task=task,
            task_type=task_type,
            handle=handle,
            metrics=[ctx.catalog.metric(m) for m in task.metrics],
            train_records=train_records,
            dev_records=dev_records,
            config=config,
            eval_settings=work.settings,
            seed=work.seed,
            work_dir=work_dir,
            dev_sets=dev_sets or None,
            reporter=ctx.reporter,
        )
        if not distributed.is_main():
            return  # data-parallel ranks > 0 only train
        ctx.adapter.save(handle.model, handle.tokenizer, work_dir / "model", encoder_only=(node.kind == "intermediate"))
        used_dev = list(work.dev_plans.values()) if work.dev_plans else [work.dev_plan]
        provenance = [p.provenance() for p in [work.train_plan, *used_dev] if p]
        write_json(
            work_dir / "report.json",
            {"report": asdict(report), "best_dev": report.best_dev, "data": provenance, "labels": task.labels},
        )

    def evaluate(self, work: EvalWork, model: ModelRef, work_dir: Path) -> None:
        """Evaluate ``model`` on ``work.task`` in ``work.language``: scores, predictions, per-example
        statistics (:mod:`harness.units`) and the data read go to ``work_dir``."""
        from harness.train import score

        ctx, task = self.ctx, work.task
        task_type = ctx.catalog.task_type(task.task_type)
        records, _ = ctx.load_split(task, "eval", work.language, work.config.get("max_eval_examples"))
        handle_key = (model.id, canonical_task(task))
        if self._handle is None or self._handle[0] != handle_key:
            self._handle = (handle_key, ModelHandle(ctx.adapter, model, task_type.head(task), frozen=True))
        extra = {"tune": ctx.load_split(task, "tune", work.language, None)[0]} if work.tune_plan else {}
        predictions = task_type.predict(task, self._handle[1], records, work.settings, **extra)
        metrics = [ctx.catalog.metric(name) for name in task.metrics]
        references = task_type.references(task, records)
        scores = score(task, metrics, predictions, references, work.language)
        write_json(work_dir / "scores.json", {"n": len(records), **scores})  # a metric may count n (BUCC)
        (work_dir / "predictions.json").write_text(json.dumps(predictions), encoding="utf-8")
        stats = main_units(task.main_metric, metrics, predictions, references, work.language, scores[task.main_metric])
        (work_dir / UNITS_FILE).write_text(json.dumps({"units": stats}), encoding="utf-8")
        used = [p.provenance() for p in (work.plan, work.tune_plan) if p]  # BUCC: the threshold's split too
        write_json(work_dir / "data.json", used)


def canonical_task(task: Any) -> str:
    from harness.tasks import canonical_json

    return canonical_json(task.identity())


def check_precision(node: StageNode, device: str) -> None:
    """Stop when torch on this machine resolves the stage's precision differently from the plan."""
    from harness.inference import resolve_precision

    assert node.work is not None
    work = node.work
    wanted = work.config["precision"]
    here = resolve_precision(wanted, device)
    planned = work.settings.precision
    if here != planned:
        raise StageMismatchError(
            f"stage {node.id} ({node.kind} {node.task}) was planned with precision {planned!r}, but "
            f'{wanted!r} is {here!r} on this machine ({device}); set "precision" explicitly in the '
            "experiment's training section, or run it where the plan's device is"
        )


def runtime_info(device: str, precision: str) -> dict[str, Any]:
    """Where a stage ran: device, precision and torch's thread count (results report it)."""
    import torch

    from harness.provenance import device_description

    return {
        "device": device_description(device),
        "precision": precision,
        "threads": torch.get_num_threads(),
    }


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
