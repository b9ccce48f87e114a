"""Runs an experiment: preflight (:mod:`harness.preflight`), plan (:mod:`harness.planning`),
build the stages that are not cached with an executor (:mod:`harness.executors`), write each
cell's result from the stage store (:mod:`harness.cell_results`).

Every stage is cached in the stage store by a content hash of its inputs, so an intermediate
model is trained once and reused by every target, seed-sharing cell and later experiment.
"""

from __future__ import annotations

import time
from pathlib import Path

from harness.errors import MalformedDataError, MissingResourcesError, StiltsError
from harness.executors import ExecutionSession, ExecutorOptions
from harness.experiment import Experiment
from harness.planning import Planner, StagePlan, blocked_reasons, dev_languages_dropped
from harness.preflight import preflight
from harness.progress import STAGE_KINDS, RunReporter, SilentReporter
from harness.registry import Catalog
from harness.run_context import RunContext


class StagesFailedError(StiltsError):
    """Some stages failed (the others were built and their cells written)."""


class Pipeline:
    """Plans and runs the cells of one experiment."""

    def __init__(
        self,
        catalog: Catalog,
        experiment: Experiment,
        *,
        runs_dir: Path,
        results_dir: Path,
        data_dir: Path | None = None,
        offline: bool = False,
        device: str | None = None,
        reporter: RunReporter | None = None,
        prune_target_weights: bool = False,
        executor: str = "inline",
        executor_options: ExecutorOptions | None = None,
        store_url: str | None = None,
    ):
        """``prune_target_weights``: delete a target stage's weights once its cell's result is
        written (its evaluations are cached; a later run that needs them trains the stage again).
        ``executor``: who builds the stages (a name registered with ``stilts_executors``).
        ``store_url``: a stage store shared between machines (:mod:`harness.shared_store`)."""
        self.executor = catalog.executor(executor)
        self.executor_options = executor_options or ExecutorOptions()
        self.ctx = RunContext(
            catalog,
            experiment,
            runs_dir=Path(runs_dir),
            results_dir=Path(results_dir),
            data_dir=data_dir,
            offline=offline,
            device=device or self.executor.planning_device(self.executor_options) or "",
            reporter=reporter if reporter is not None else SilentReporter(),
            data_parallel=self.executor_options.gpus_per_stage,
            store_url=store_url,
        )
        self.prune_target_weights = prune_target_weights
        #: the last execution (what was built, what failed), after :meth:`run`
        self.session: ExecutionSession | None = None

    def plan(self) -> StagePlan:
        """Preflight and plan; the plan lists what the preflight found missing."""
        problems = preflight(self.ctx)
        return Planner(self.ctx).plan(problems=problems)

    def collect(self) -> tuple[list[Path], StagePlan]:
        """Write the result of every cell whose stages are all built (by any executor, any run);
        build nothing. Returns the results written (or already up to date) and the plan."""
        plan = self.plan()
        session = self.session = ExecutionSession(self.ctx, plan, self.executor_options)
        session.write_finished_cells()
        return [session.written[cell.index] for cell in plan.cells if cell.index in session.written], plan

    def prepare(self) -> StagePlan:
        """Preflight, then plan; raises :class:`MissingResourcesError` listing what is missing
        (or what blocks a stage) before anything is built."""
        problems = preflight(self.ctx)
        if self.ctx.malformed:
            raise MalformedDataError(problems, self.ctx.malformed)
        if problems:
            raise MissingResourcesError(problems)
        plan = Planner(self.ctx).plan()
        blocked = blocked_reasons(plan)
        if blocked:
            raise MissingResourcesError(blocked)
        return plan

    def run(self, plan: StagePlan | None = None) -> list[Path]:
        """Build what is missing and write every cell's result; returns the result paths (of the
        cells written; with an executor that submits to a queue, of those already finished).
        ``plan``: what :meth:`prepare` returned, when the caller looked at it first."""
        ctx = self.ctx
        started = time.monotonic()
        if plan is None:
            plan = self.prepare()
        for task_name, langs in ctx.skipped.items():
            ctx.reporter.message(f"skipping {task_name} languages without data: {', '.join(langs)}", level="warning")
        for line in ctx.store.moved_aside:
            ctx.reporter.message(line, level="warning")
        for task_name, langs in dev_languages_dropped(plan).items():
            ctx.reporter.message(
                f"{task_name}: target-language dev selection without dev data in {', '.join(langs)} "
                "(checkpoints are selected on the other languages' dev sets)",
                level="warning",
            )
        ctx.reporter.run_started(
            experiment=ctx.experiment.name,
            cells=len(plan.cells),
            stage_estimate={kind: plan.counts().get(kind, {}).get("total", 0) for kind in STAGE_KINDS},
        )
        session = self.session = ExecutionSession(
            ctx, plan, self.executor_options, prune_target_weights=self.prune_target_weights
        )
        self.executor.execute(session)
        session.write_finished_cells()
        for line in ctx.store.store_notes:
            ctx.reporter.message(line, level="warning")
        paths = [session.written[cell.index] for cell in plan.cells if cell.index in session.written]
        if self.executor.submits and len(paths) < len(plan.cells):
            ctx.reporter.message(
                f"{len(paths)} of {len(plan.cells)} cell result(s) written; the other cells' stages are queued: "
                "follow them with `stilts status`, then `stilts collect` (or this command again) writes their results"
            )
        if session.failed:
            lines = [
                f"{f.kind} {f.task} ({f.detail}) {f.node}: {f.error}"
                for f in session.failed.values()
                if not f.error.startswith("not built:")
            ]
            waiting = len(session.failed) - len(lines)
            raise StagesFailedError(
                f"{len(lines)} stage(s) failed"
                + (f" and {waiting} that start from them were not built" if waiting else "")
                + f"; {len(paths)} of {len(plan.cells)} cell result(s) written:\n  "
                + "\n  ".join(lines)
            )
        ctx.reporter.run_finished(result_paths=paths, wall_s=time.monotonic() - started)
        return paths
