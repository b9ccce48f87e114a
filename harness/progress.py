"""Run progress events: what a running experiment tells whoever shows its progress.

The stage runner (:mod:`harness.execution`) and the executors (:mod:`harness.executors`) call a
:class:`RunReporter` at every step of a run: the run and each cell starting, each stage
(intermediate training, target training, evaluation of one language) starting, advancing,
finishing or failing, each language's score, each result file written. The training loop
forwards optimizer steps, loss and throughput through a transformers ``TrainerCallback``
(:class:`harness.train.ReportProgress`).

A reporter only *shows* progress: it must not raise and must not change what is computed.
Every method of :class:`RunReporter` does nothing, so an implementation overrides the events it
shows; :class:`SilentReporter` shows none. Events are called with keyword arguments only, so a
new argument can be added later without breaking existing reporters (accept ``**kwargs`` to be
safe). The console implementations (a live display on a terminal, plain lines in logs) are in
:mod:`harness.console`. :class:`StageTally` is the bookkeeping both share (counts and ETA).

Strings passed to a reporter (task names, paths, error messages, messages) are plain text, never
markup: a reporter that prints through rich escapes them (:func:`rich.markup.escape`) or prints
them as :class:`rich.text.Text`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    from harness.experiment import Cell

#: Stage kinds, in the order a cell runs them.
STAGE_KINDS = ("intermediate", "target", "eval")


class RunReporter:
    """Receives the progress events of one ``stilts run``. Every method does nothing here.

    Order of events: ``run_started``; per cell ``cell_started``, then for each of its stages
    either ``stage_started`` → ``stage_progress``\\* → ``stage_finished`` (a stage built now) or
    ``stage_finished(reused=True)`` alone (a stage found in the cache), each evaluation stage
    followed by ``language_scored``; then ``cell_finished``; finally ``run_finished``. A stage
    that raises gets ``stage_failed`` and the exception then ends the run (no ``run_finished``).
    ``message`` may come at any time.
    """

    def run_started(self, *, experiment: str, cells: int, stage_estimate: Mapping[str, int], **kwargs: Any) -> None:
        """The run begins, after the preflight found everything it needs.

        :param experiment: the experiment's name.
        :param cells: how many cells (intermediate × target × seed) the run has.
        :param stage_estimate: for each stage kind (``intermediate``, ``target``, ``eval``), how
            many distinct stages the run goes through, cached ones included. An estimate: it counts
            a shared intermediate stage once and an evaluation per language, as the stage cache
            does, but cannot know in advance which stages are already cached.
        """

    def cell_started(self, *, index: int, total: int, cell: Cell, **kwargs: Any) -> None:
        """A cell begins.

        :param index: the cell's position, 1-based.
        :param total: the number of cells in the run.
        :param cell: the cell (``cell.intermediate``, ``cell.target.task``, ``cell.seed``).
        """

    def stage_started(self, *, kind: str, task: str, hash: str, detail: str, log: Path | None, **kwargs: Any) -> None:
        """A stage that is not in the cache starts being built (cached stages skip this event).

        :param kind: ``intermediate``, ``target`` or ``eval``.
        :param task: the task trained or evaluated (a multi-task group: the group's name).
        :param hash: the stage's content hash (its folder is ``runs/<kind>/<hash>``).
        :param detail: what else identifies the stage, for people: ``"fp32, seed 1"`` for
            training, the language for an evaluation, the member tasks for a group.
        :param log: the stage's ``log.txt`` while it is built (libraries' logs and warnings go
            there), or ``None``.
        """

    def stage_progress(
        self,
        *,
        step: int,
        total_steps: int,
        loss: float | None,
        examples_per_second: float | None,
        **kwargs: Any,
    ) -> None:
        """The training stage that started last made an optimizer step (called on every step,
        and again when the trainer logs a new loss; a reporter throttles what it prints).

        :param step: optimizer steps done (a resumed stage starts at its checkpoint's step).
        :param total_steps: optimizer steps the stage makes in all.
        :param loss: the training loss last logged by the trainer, ``None`` before the first log.
        :param examples_per_second: training examples per second since this process started
            the stage, ``None`` before the first step.
        """

    def stage_finished(
        self, *, kind: str, task: str, hash: str, wall_s: float, reused: bool, detail: str = "", **kwargs: Any
    ) -> None:
        """A stage is complete (its folder is in place).

        :param kind: ``intermediate``, ``target`` or ``eval``.
        :param task: the task (or group) of the stage.
        :param hash: the stage's content hash. A stage shared by several cells (an intermediate
            model) is reported once per cell, with the same hash.
        :param wall_s: seconds it took to build the stage (when it was built, for a reused one).
        :param reused: ``True`` when the stage came from the cache and nothing ran now.
        :param detail: as in :meth:`stage_started`.
        :param kwargs: ``pulled=True`` when the stage was just pulled from the shared stage store
            (``--store``; then ``reused`` is ``True`` too: nothing was trained here). Reporters must
            accept keywords they do not know.
        """

    def stage_failed(self, *, kind: str, task: str, hash: str, error: BaseException, **kwargs: Any) -> None:
        """A stage raised (an error, or ``KeyboardInterrupt``); the exception ends the run next.
        Its work folder is kept, and the next run resumes from its last checkpoint.

        :param kind: ``intermediate``, ``target`` or ``eval``.
        :param task: the task (or group) of the stage.
        :param hash: the stage's content hash.
        :param error: the exception.
        """

    def language_scored(self, *, task: str, lang: str, metric: str, value: float, cached: bool, **kwargs: Any) -> None:
        """One evaluation language's headline score.

        :param task: the target task.
        :param lang: the evaluation language.
        :param metric: the task's main metric.
        :param value: its score.
        :param cached: ``True`` when the evaluation stage came from the cache.
        """

    def cell_finished(self, *, cell: Cell, result_path: Path, **kwargs: Any) -> None:
        """A cell's result file is written.

        :param cell: the cell.
        :param result_path: the result JSON file.
        """

    def run_finished(self, *, result_paths: Sequence[Path], wall_s: float, **kwargs: Any) -> None:
        """Every cell is done (not called when the run raised).

        :param result_paths: every result file written, in cell order.
        :param wall_s: seconds since the run started (preflight excluded).
        """

    def message(self, text: str, *, level: str = "info", **kwargs: Any) -> None:
        """Anything else worth telling (languages skipped for lack of data, stilts' own warnings).

        :param text: plain text (not markup).
        :param level: ``info``, ``warning`` or ``error``.
        """


class SilentReporter(RunReporter):
    """Shows nothing (library use, tests, ``stilts run --quiet``)."""


@contextmanager
def reported_stage(
    reporter: RunReporter, *, kind: str, task: str, hash: str, detail: str, log: Path | None
) -> Iterator[None]:
    """``stage_started`` now; ``stage_failed`` if the block raises (the exception goes on)."""
    reporter.stage_started(kind=kind, task=task, hash=hash, detail=detail, log=log)
    try:
        yield
    except BaseException as exc:
        reporter.stage_failed(kind=kind, task=task, hash=hash, error=exc)
        raise


@dataclass
class RunningStage:
    """The stage being built now, as the events described it."""

    kind: str
    task: str
    hash: str
    detail: str
    log: Path | None
    started: float
    step: int = 0
    total_steps: int = 0
    loss: float | None = None
    examples_per_second: float | None = None

    @property
    def fraction(self) -> float | None:
        """Share of the optimizer steps done (``None`` for a stage that reports no steps)."""
        return min(1.0, self.step / self.total_steps) if self.total_steps > 0 else None


@dataclass
class StageTally:
    """Counts of a run's stages (done now, cached, running, failed) and an ETA, kept from the
    reporter events. Each distinct stage (hash) counts once, however many cells share it.

    The ETA assumes every stage still to come is built (none cached): per stage kind, the mean
    wall time of the stages of that kind built so far (or the running stage's projected
    duration) times how many are left, plus the rest of the running stage. It is ``None`` while
    a kind still to come has no timing yet.
    """

    clock: Callable[[], float] = time.monotonic
    estimate: dict[str, int] = field(default_factory=dict)
    started: float = 0.0
    done: int = 0
    cached: int = 0
    failed: int = 0
    running: RunningStage | None = None
    #: hash -> "done", "cached" or "failed"
    finished: dict[str, str] = field(default_factory=dict)
    finished_by_kind: Counter[str] = field(default_factory=Counter)
    #: kind -> wall times of the stages built in this run
    walls: dict[str, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def run_started(self, stage_estimate: Mapping[str, int]) -> None:
        self.estimate = {kind: int(n) for kind, n in stage_estimate.items()}
        self.started = self.clock()

    def stage_started(self, kind: str, task: str, hash: str, detail: str, log: Path | None) -> None:
        self.running = RunningStage(kind, task, hash, detail, log, self.clock())

    def stage_progress(
        self, step: int, total_steps: int, loss: float | None, examples_per_second: float | None
    ) -> None:
        if self.running is not None:
            self.running.step, self.running.total_steps = step, total_steps
            self.running.loss, self.running.examples_per_second = loss, examples_per_second

    def stage_finished(self, kind: str, hash: str, wall_s: float, reused: bool) -> bool:
        """Count a finished stage; ``False`` when this stage was already counted in this run."""
        if self.running is not None and self.running.hash == hash:
            self.running = None
        if hash in self.finished:
            return False
        self.finished[hash] = "cached" if reused else "done"
        self.finished_by_kind[kind] += 1
        if reused:
            self.cached += 1
        else:
            self.done += 1
            self.walls.setdefault(kind, []).append(float(wall_s))
        return True

    def stage_failed(self, kind: str, hash: str) -> None:
        if self.running is not None and self.running.hash == hash:
            self.running = None
        if self.finished.get(hash) != "failed":
            self.finished[hash] = "failed"
            self.finished_by_kind[kind] += 1
            self.failed += 1

    @property
    def total(self) -> int:
        """Stages expected in all (never fewer than those seen)."""
        return max(sum(self.estimate.values()), len(self.finished) + (self.running is not None))

    @property
    def completed(self) -> int:
        return len(self.finished)

    def elapsed(self) -> float:
        return max(0.0, self.clock() - self.started)

    def stage_elapsed(self) -> float:
        return max(0.0, self.clock() - self.running.started) if self.running else 0.0

    def eta(self) -> float | None:
        """Seconds until the run ends, or ``None`` when there is nothing to go on yet."""
        now = self.clock()
        running = self.running
        projected: float | None = None  # the running stage's whole duration
        left = 0.0
        if running is not None:
            spent = now - running.started
            fraction = running.fraction
            if fraction:
                projected = spent / fraction
            else:
                mean = self._mean_wall(running.kind)
                projected = max(mean, spent) if mean is not None else None
            if projected is None:
                return None
            left += max(0.0, projected - spent)
        for kind, expected in self.estimate.items():
            remaining = expected - self.finished_by_kind[kind] - (running is not None and running.kind == kind)
            if remaining <= 0:
                continue
            mean = self._mean_wall(kind)
            if mean is None and running is not None and running.kind == kind:
                mean = projected
            if mean is None:
                return None
            left += remaining * mean
        return left

    def _mean_wall(self, kind: str) -> float | None:
        walls = self.walls.get(kind)
        return sum(walls) / len(walls) if walls else None


def clock_text(seconds: float | None) -> str:
    """``H:MM:SS`` (``-:--:--`` when unknown)."""
    if seconds is None:
        return "-:--:--"
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
