"""Executors: who builds the stages of a plan that are not in the stage cache.

An :class:`Executor` gets an :class:`ExecutionSession` (the plan, the run's context, a way to build
a stage in this process, the worker job of a stage for other processes, and the bookkeeping of
what is built, failed and written) and builds the stages to run, each once the stage it starts
from is done. The built-in executors are registered by the ``executors`` plugin through the ``stilts_executors``
hook, as a third party's would be: ``inline`` (:class:`InlineExecutor`, this process, cell after
cell), ``local`` (:mod:`plugins.executors.local`, worker processes on this machine, one fresh
process per stage, optionally one GPU each), ``slurm`` (:mod:`plugins.executors.slurm`, job
arrays through submitit).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from harness.cell_results import ResultWriter
from harness.errors import StiltsError
from harness.execution import StageRunner
from harness.planning import BLOCKED, CACHED, RUN, CellPlan, StagePlan
from harness.run_context import RunContext

#: Folder of the stage store where worker jobs and their logs are kept: ``runs/jobs/<stage id>.*``.
JOBS = "jobs"


@dataclass
class StageFailure:
    """A stage that did not build: its error and where its log is."""

    node: str
    kind: str
    task: str
    detail: str
    error: str
    log: Path | None = None


@dataclass
class ExecutorOptions:
    """Options of ``stilts run`` for executors (each executor uses those it understands).

    :param jobs: how many stages may run at once (``local``: worker processes; ``slurm``: the
        array parallelism).
    :param gpus: GPU ids for ``local``: each running stage gets one (``CUDA_VISIBLE_DEVICES``).
    :param threads: CPU threads per stage (default: the machine's CPUs divided by ``jobs``).
    :param gpus_per_stage: processes (GPUs) per training stage, data-parallel (``torchrun``).
    :param evals_per_worker: evaluation stages of one trained model that one worker process builds
        in turn, sharing the loaded model and its remembered embeddings (``local``, ``slurm``);
        0: all of them; 1: a fresh process per stage.
    :param extra: executor-specific settings (``slurm``: partition, time limits...).
    """

    jobs: int = 1
    gpus: list[str] = field(default_factory=list)
    threads: int | None = None
    gpus_per_stage: int = 1
    evals_per_worker: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class ExecutionSession:
    """One execution of a plan: what executors build stages with and report to."""

    def __init__(
        self, ctx: RunContext, plan: StagePlan, options: ExecutorOptions, *, prune_target_weights: bool = False
    ):
        self.ctx, self.plan, self.options = ctx, plan, options
        self.prune_target_weights = prune_target_weights
        #: stages built by this run
        self.built: set[str] = set()
        self.failed: dict[str, StageFailure] = {}
        #: cell index -> result path, for cells written by this run
        self.written: dict[int, Path] = {}

    @cached_property
    def runner(self) -> StageRunner:
        """Builds stages in this process."""
        return StageRunner(self.ctx)

    @cached_property
    def writer(self) -> ResultWriter:
        return ResultWriter(self.ctx)

    def is_done(self, node_id: str) -> bool:
        return node_id in self.built or self.plan.nodes[node_id].state == CACHED

    def ready(self, node_id: str) -> bool:
        """True when the stage ``node_id`` may start: the stage it starts from is done."""
        start = self.plan.nodes[node_id].start
        return start is None or self.is_done(start)

    def blocked_by_failure(self, node_id: str) -> str | None:
        """The failed stage ``node_id`` depends on (directly or not), if any."""
        start = self.plan.nodes[node_id].start
        while start is not None:
            if start in self.failed:
                return start
            start = self.plan.nodes[start].start
        return None

    def write_cell(self, cell: CellPlan) -> Path:
        """Write ``cell``'s result (all its stages done), then prune its target weights if asked."""
        path = self.writer.write(self.plan, cell, self.built)
        self.written[cell.index] = path
        if self.prune_target_weights and cell.target:
            self.ctx.store.prune_weights(self.runner.record(self.plan.nodes[cell.target], reused=True))
        return path

    def write_finished_cells(self) -> list[Path]:
        """Write every cell whose stages are all done and which is not written yet."""
        out = []
        for cell in self.plan.cells:
            if cell.index not in self.written and all(self.is_done(n) for n in cell.nodes):
                path = self.write_cell(cell)
                self.ctx.reporter.cell_finished(cell=cell.cell, result_path=path)
                out.append(path)
        return out

    def job(self, node_ids: Sequence[str]) -> dict[str, Any]:
        """The worker job of stages ``node_ids``: everything another process needs to plan their
        cells again and build them in turn (:mod:`harness.worker`)."""
        ctx = self.ctx
        options = ctx.catalog.host.load_options
        if options is None or options.in_process:
            names = ", ".join(options.in_process) if options else "plugins registered directly"
            raise StiltsError(
                f"this run's plugins include {names}, registered as objects in this process, which a worker "
                "process cannot load; register them through an entry point, `-p module.name` or --include-path"
            )
        stages, cells = [], []
        for node_id in node_ids:
            node = self.plan.nodes[node_id]
            assert node.key is not None
            stages.append({"node": node_id, "kind": node.kind, "key_inputs": node.key.inputs})
            cell = self.plan.cells[node.cells[0]].cell
            found = {"intermediate": cell.intermediate, "target": cell.target.task, "seed": cell.seed}
            if found not in cells:
                cells.append(found)
        return {
            "job_format": 2,
            "stages": stages,
            "cells": cells,
            "plugins": {
                "strict": options.strict,
                "blocked": options.blocked,
                "modules": options.modules,
                "include_paths": options.include_paths,
            },
            "experiment_file": str(ctx.experiment.path.resolve()),
            "experiment": ctx.experiment.data,
            "runs_dir": str(ctx.store.root.resolve()),
            "results_dir": str(ctx.results_dir.resolve()),
            "data_dir": str(ctx.resolver.data_dir),
            "device": ctx.device,
            "offline": ctx.offline,
            "skipped": ctx.skipped,
            "data_parallel": ctx.data_parallel,
            "store_url": ctx.store_url,
        }

    def job_file(self, node_ids: Sequence[str], log: Path | None = None) -> Path:
        """Write the worker job of stages ``node_ids`` to ``runs/jobs/<first id>.json`` (``log``:
        where the worker's output goes, recorded in each stage's state); returns its path."""
        folder = self.ctx.store.root / JOBS
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{node_ids[0]}.json"
        job = self.job(node_ids)
        if log is not None:
            job["log"] = str(log)
        path.write_text(json.dumps(job, indent=2, default=str), encoding="utf-8")
        return path

    def worker_batches(self, node_ids: Sequence[str]) -> list[list[str]]:
        """``node_ids`` cut into the stage lists of worker jobs: the evaluations that start from the
        same model together (at most :attr:`ExecutorOptions.evals_per_worker` of them, in plan
        order), every other stage alone."""
        limit = self.options.evals_per_worker
        batches: list[list[str]] = []
        open_batch: dict[str | None, list[str]] = {}
        for node_id in node_ids:
            node = self.plan.nodes[node_id]
            if node.kind != "eval" or limit == 1:
                batches.append([node_id])
                continue
            batch = open_batch.get(node.start)
            if batch is None or (limit and len(batch) >= limit):
                batch = open_batch[node.start] = []
                batches.append(batch)
            batch.append(node_id)
        return batches

    def fail(self, node_id: str, error: str, log: Path | None = None) -> None:
        node = self.plan.nodes[node_id]
        self.failed[node_id] = StageFailure(node_id, node.kind, node.task, node.detail, error, log)
        self.ctx.reporter.stage_failed(kind=node.kind, task=node.task, hash=node_id, error=StiltsError(error))


class Executor(ABC):
    """Builds the stages of a plan that are not cached (an extension point: register a subclass
    with the ``stilts_executors`` hook).

    An executor must build a stage only after the stage it starts from
    (:attr:`harness.planning.StageNode.start`) is done; record every stage it builds in
    ``session.built`` and every failure with :meth:`ExecutionSession.fail` (the independent stages
    go on); and call :meth:`ExecutionSession.write_finished_cells` as cells complete (or once at
    the end). It may return before the stages are built (a cluster queue): the run then says so,
    and ``stilts run`` again (or ``stilts collect``) writes the results once they are.
    """

    #: True when :meth:`execute` returns before the stages are built (they run elsewhere).
    submits: bool = False

    def planning_device(self, options: ExecutorOptions) -> str | None:
        """The device the stages will run on, when it is not this machine's (a cluster's GPU
        nodes): stage keys are planned for it. None: this machine's device (or ``--device``).

        :param options: the options of ``stilts run`` for executors.
        """
        return None

    @abstractmethod
    def execute(self, session: ExecutionSession) -> None:
        """Build the stages of ``session.plan`` whose state is ``run``.

        :param session: the plan (``session.plan``), the run's context (``session.ctx``: its
            stage store, reporter, device), the options of ``stilts run`` (``session.options``),
            and the bookkeeping (``built``, ``failed``, results written).
        """


class InlineExecutor(Executor):
    """Builds every stage in this process, cell after cell (each result written as soon as its
    cell is done). A failing stage ends the run with its error, as it always has."""

    def execute(self, session: ExecutionSession) -> None:
        if session.options.gpus_per_stage > 1:
            raise StiltsError("data-parallel stages (--gpus-per-stage) need worker processes: use --executor local")
        plan, reporter = session.plan, session.ctx.reporter
        for cell in plan.cells:
            reporter.cell_started(index=cell.index + 1, total=len(plan.cells), cell=cell.cell)
            for node_id in cell.nodes:
                node = plan.nodes[node_id]
                if node.state == RUN and node_id not in session.built:
                    session.runner.build(plan, node_id)
                    session.built.add(node_id)
                elif node.state != BLOCKED:
                    session.runner.reuse(plan, node_id)
            session.write_finished_cells()
