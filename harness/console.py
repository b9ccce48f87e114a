"""What ``stilts run`` shows on the console: the run's progress and, at the end, a summary.

Two :class:`~harness.progress.RunReporter` implementations:

* :class:`LiveReporter`, when stdout is a terminal: a rich live display with the run's progress
  over its stages (done / cached / running / failed, elapsed time, ETA) and the running stage
  with its own bar (steps, loss, examples/s); one line per finished stage scrolls above it.
* :class:`PlainReporter`, when stdout is not a terminal (CI, Slurm logs) or with ``--plain`` or
  ``--verbose``: plain lines, no control codes: one line per stage start and finish, and a
  progress line at most every ``every_percent`` % of a stage's steps or ``every_seconds``.

``--quiet`` uses :class:`QuietReporter` (errors only). :func:`library_output` keeps the
libraries' progress bars (transformers, huggingface_hub, datasets, Trainer's tqdm) and warnings
off the console unless ``--verbose``; their log records and Python warnings still reach each
stage's ``log.txt`` (:func:`harness.stages.stage_log`). :func:`print_summary` prints the table of
cells × targets (target average, and Δ against the same model and method without an
intermediate task) from the result files, where the results and the leaderboard are, and the
total wall time.

Every string that comes from the user, a file or a library (names, paths, messages) is printed
as :class:`rich.text.Text` or through :func:`rich.markup.escape`, never read as markup.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from harness.progress import RunReporter, StageTally, clock_text
from harness.stages import LIBRARY_LOGGERS

if TYPE_CHECKING:  # pragma: no cover - typing only
    from harness.experiment import Cell

#: Width tables are laid out in when stdout is not a terminal: wide enough that no cell is cut.
PIPE_WIDTH = 1 << 16
BASELINE = "none"  # harness.experiment.BASELINE, without importing the experiment module here


def print_table(console: Console, table: Table) -> None:
    """Print ``table``; when ``console`` is not a terminal (a pipe, a log), lay it out wide
    enough that no value is cut."""
    if console.is_terminal:
        console.print(table)
        return
    Console(file=console.file, width=PIPE_WIDTH, highlight=False, color_system=None).print(table, crop=False)


# -- libraries' output ------------------------------------------------------------------------------
@contextmanager
def library_output(verbose: bool) -> Iterator[None]:
    """Unless ``verbose``: no library progress bars and no library warnings on the console while
    the block runs (all restored afterwards).

    * transformers' bars ("Loading weights", "Writing model shards") and huggingface_hub's
      (``transformers.utils.logging.disable_progress_bar()``), datasets' bars, and Trainer's tqdm
      bar (:func:`harness.train.training_arguments` follows the same switch);
    * the console handlers of the libraries' loggers (:data:`harness.stages.LIBRARY_LOGGERS`) are
      detached, and Python warnings become records of the ``py.warnings`` logger. Their levels
      are kept, so warnings still reach each stage's ``log.txt``.
    """
    if verbose:
        yield
        return
    with ExitStack() as stack:
        stack.enter_context(_progress_bars_off())
        stack.enter_context(_warnings_to_logging())
        for name in LIBRARY_LOGGERS:
            stack.enter_context(_no_console_handlers(logging.getLogger(name)))
        yield


@contextmanager
def _progress_bars_off() -> Iterator[None]:
    from huggingface_hub import utils as hub_utils
    from transformers.utils import logging as hf_logging

    hf_logging.get_logger("transformers")  # configure transformers' root logger now, not mid-run
    hf_bars, hub_bars = hf_logging.is_progress_bar_enabled(), not hub_utils.are_progress_bars_disabled()
    hf_logging.disable_progress_bar()  # huggingface_hub's too
    datasets_bars = None
    env = os.environ.get("HF_DATASETS_DISABLE_PROGRESS_BARS")
    if "datasets" in sys.modules:
        from datasets import utils as datasets_utils

        datasets_bars = not datasets_utils.are_progress_bars_disabled()
        if datasets_bars:
            datasets_utils.disable_progress_bars()
    elif env is None:
        os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"  # read when datasets is imported
    try:
        yield
    finally:
        if hf_bars:
            hf_logging.enable_progress_bar()
        if not hub_bars:
            hub_utils.disable_progress_bars()
        if datasets_bars:
            from datasets import utils as datasets_utils

            datasets_utils.enable_progress_bars()
        if env is None:
            os.environ.pop("HF_DATASETS_DISABLE_PROGRESS_BARS", None)


@contextmanager
def _no_console_handlers(logger: logging.Logger) -> Iterator[None]:
    """Detach ``logger``'s stream handlers (not file handlers) and give it a null handler, so its
    records reach no console (not even logging's last-resort stderr handler)."""
    detached = [
        h for h in logger.handlers if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    ]
    for handler in detached:
        logger.removeHandler(handler)
    null = logging.NullHandler()
    logger.addHandler(null)
    try:
        yield
    finally:
        logger.removeHandler(null)
        for handler in detached:
            logger.addHandler(handler)


@contextmanager
def _warnings_to_logging() -> Iterator[None]:
    """Python warnings go to the ``py.warnings`` logger instead of stderr (as
    :func:`logging.captureWarnings` does, but undone when the block ends)."""

    def to_log(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        text = warnings.formatwarning(message, category, filename, lineno, line).rstrip()
        logging.getLogger("py.warnings").warning("%s", text)

    with warnings.catch_warnings():
        warnings.showwarning = to_log
        yield


class ReporterLogHandler(logging.Handler):
    """Sends stilts' own warnings and errors (the ``stilts`` logger) to a reporter's ``message``."""

    def __init__(self, reporter: RunReporter):
        super().__init__(logging.WARNING)
        self.reporter = reporter

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level = "error" if record.levelno >= logging.ERROR else "warning"
            self.reporter.message(record.getMessage(), level=level)
        except Exception:  # a reporter must never break the run
            self.handleError(record)


@contextmanager
def stilts_warnings_to(reporter: RunReporter) -> Iterator[None]:
    """While the block runs, stilts' logged warnings and errors go to ``reporter.message``."""
    handler = ReporterLogHandler(reporter)
    logger = logging.getLogger("stilts")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


# -- line texts shared by both reporters ----------------------------------------------------------------
def _stage_name(kind: str, task: str, detail: str) -> str:
    return f"{kind} {task}" + (f" ({detail})" if detail else "")


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 60 else clock_text(value)


def _error_text(error: BaseException) -> str:
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    text = str(error).strip().splitlines()
    return type(error).__name__ + (f": {text[0]}" if text else "")


def _cell_text(index: int, total: int, cell: Cell) -> str:
    return f"cell {index}/{total}: intermediate={cell.intermediate} target={cell.target.task} seed={cell.seed}"


def _estimate_text(experiment: str, cells: int, estimate: Mapping[str, int]) -> str:
    kinds = ", ".join(f"{n} {kind}" for kind, n in estimate.items() if n)
    return f"{experiment}: {cells} cell(s), {sum(estimate.values())} stage(s)" + (f" ({kinds})" if kinds else "")


def _last_loss(tally: StageTally, hash: str) -> float | None:
    running = tally.running
    return running.loss if running is not None and running.hash == hash else None


def _message_style(level: str) -> str:
    return {"warning": "yellow", "error": "bold red"}.get(level, "")


# -- plain lines ---------------------------------------------------------------------------------------
class PlainReporter(RunReporter):
    """One line per event, each prefixed by the run's elapsed time; no cursor movement, and no
    colour unless ``console`` is a terminal. Training progress is printed when a stage has
    advanced ``every_percent`` % of its steps, or ``every_seconds`` have passed, since the last
    line about it."""

    def __init__(
        self,
        console: Console,
        *,
        every_percent: float = 10.0,
        every_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.console, self.every_percent, self.every_seconds, self.clock = console, every_percent, every_seconds, clock
        self.tally = StageTally(clock=clock)
        self._shown_step, self._shown_at = 0, clock()

    def _line(self, word: str, *parts: str | tuple[str, str], style: str = "") -> None:
        stamp = clock_text(self.tally.elapsed())
        line = Text.assemble((stamp, "dim"), " ", (f"{word:<8}", style or "bold"), " ", *parts)
        self.console.print(line, soft_wrap=True)  # one line per event, however long

    def _counts(self) -> str:
        t = self.tally
        return f"[{t.completed}/{t.total} stages, eta {clock_text(t.eta())}]"

    def run_started(self, *, experiment: str, cells: int, stage_estimate: Mapping[str, int], **kwargs: Any) -> None:
        self.tally.run_started(stage_estimate)
        self._line("run", _estimate_text(experiment, cells, stage_estimate))

    def cell_started(self, *, index: int, total: int, cell: Cell, **kwargs: Any) -> None:
        self._line("cell", _cell_text(index, total, cell).removeprefix("cell "))

    def stage_started(self, *, kind: str, task: str, hash: str, detail: str, log: Path | None, **kwargs: Any) -> None:
        self.tally.stage_started(kind, task, hash, detail, log)
        self._shown_step, self._shown_at = 0, self.clock()
        self._line("start", _stage_name(kind, task, detail), f" {hash}" + (f", log {log}" if log else ""))

    def stage_progress(
        self, *, step: int, total_steps: int, loss: float | None, examples_per_second: float | None, **kwargs: Any
    ) -> None:
        self.tally.stage_progress(step, total_steps, loss, examples_per_second)
        running = self.tally.running
        if running is None or total_steps <= 0 or step >= total_steps or step <= self._shown_step:
            return
        advanced = 100.0 * (step - self._shown_step) / total_steps
        if advanced < self.every_percent and self.clock() - self._shown_at < self.every_seconds:
            return
        self._shown_step, self._shown_at = step, self.clock()
        parts = [f"step {step}/{total_steps} ({100 * step // total_steps}%)"]
        if loss is not None:
            parts.append(f"loss {loss:.4f}")
        if examples_per_second is not None:
            parts.append(f"{examples_per_second:.1f} examples/s")
        self._line("progress", f"{running.kind} {running.task}: " + ", ".join(parts), " ", self._counts())

    def stage_finished(
        self, *, kind: str, task: str, hash: str, wall_s: float, reused: bool, detail: str = "", **kwargs: Any
    ) -> None:
        loss = _last_loss(self.tally, hash)
        self.tally.stage_finished(kind, hash, wall_s, reused)
        if reused:
            state = "pulled" if kwargs.get("pulled") else "cached"
            self._line(state, _stage_name(kind, task, detail), f" (built in {_seconds(wall_s)}) ", self._counts())
        else:
            took = f" in {_seconds(wall_s)}" + (f", loss {loss:.4f}" if loss is not None else "")
            self._line("done", _stage_name(kind, task, detail), took, " ", self._counts(), style="green")

    def stage_failed(self, *, kind: str, task: str, hash: str, error: BaseException, **kwargs: Any) -> None:
        running = self.tally.running
        log = running.log if running is not None and running.hash == hash else None
        self.tally.stage_failed(kind, hash)
        where = f" (log {log})" if log else ""
        self._line("FAILED", f"{kind} {task}: {_error_text(error)}{where}", style="bold red")

    def language_scored(self, *, task: str, lang: str, metric: str, value: float, cached: bool, **kwargs: Any) -> None:
        self._line("score", f"{task} {lang}: {metric} = {value:.2f}" + (" (cached)" if cached else ""))

    def cell_finished(self, *, cell: Cell, result_path: Path, **kwargs: Any) -> None:
        self._line("result", str(result_path))

    def run_finished(self, *, result_paths: Sequence[Path], wall_s: float, **kwargs: Any) -> None:
        t = self.tally
        self._line(
            "finished",
            f"{len(result_paths)} result(s); stages: {t.done} built, {t.cached} cached, {t.failed} failed "
            f"in {clock_text(wall_s)}",
        )

    def message(self, text: str, *, level: str = "info", **kwargs: Any) -> None:
        self._line(level if level != "info" else "note", text, style=_message_style(level))

    def close(self, error: BaseException | None = None) -> None:
        running = self.tally.running
        if error is not None and running is not None:  # failed outside the reported block (saving)
            self.stage_failed(kind=running.kind, task=running.task, hash=running.hash, error=error)


# -- rich live display ---------------------------------------------------------------------------------
class LiveReporter(RunReporter):
    """A rich live display: the run's progress over its stages and the running stage's bar.
    Finished stages, scores and messages print above it, one line each; the display's last state
    stays on screen when the run ends."""

    bar_width = 24

    def __init__(self, console: Console, *, clock: Callable[[], float] = time.monotonic, refresh_per_second: float = 4):
        self.console, self.clock, self.refresh_per_second = console, clock, refresh_per_second
        self.tally = StageTally(clock=clock)
        self.lock = threading.RLock()
        self.live: Live | None = None
        self._refreshed = clock()

    # rendering (called by Live's refresh thread as well)
    def __rich__(self) -> RenderableType:
        with self.lock:
            return self.render()

    def render(self) -> RenderableType:
        """The display: the run's bar with its counts, elapsed time and ETA; then the running
        stage's name and its bar (steps, loss, examples/s, time in the stage)."""
        t = self.tally
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=6, no_wrap=True)
        grid.add_column(width=self.bar_width, no_wrap=True)
        grid.add_column(no_wrap=True, overflow="ellipsis")
        grid.add_row(
            Text("stages", style="bold"),
            ProgressBar(total=max(t.total, 1), completed=t.completed, width=self.bar_width),
            Text.assemble(
                (f"{t.completed}/{t.total}", "bold"),
                f"  elapsed {clock_text(t.elapsed())}  ETA {clock_text(t.eta())}",
            ),
        )
        counts = Text.assemble(
            " " * 7,
            (f"✓ {t.done} done", "green"),
            "  ",
            (f"↺ {t.cached} cached", "cyan"),
            "  ",
            (f"▶ {int(t.running is not None)} running", "yellow"),
            "  ",
            (f"✗ {t.failed} failed", "bold red" if t.failed else "dim"),
            no_wrap=True,
            overflow="ellipsis",
        )
        running = t.running
        if running is None:
            return Group(grid, counts)
        parts = [f"step {running.step}/{running.total_steps}"] if running.total_steps > 0 else []
        if running.loss is not None:
            parts.append(f"loss {running.loss:.4f}")
        if running.examples_per_second is not None:
            parts.append(f"{running.examples_per_second:.1f} ex/s")
        parts.append(clock_text(t.stage_elapsed()))
        stage = Table.grid(padding=(0, 1))
        stage.add_column(width=6, no_wrap=True)
        stage.add_column(width=self.bar_width, no_wrap=True)
        stage.add_column(no_wrap=True, overflow="ellipsis")
        name = Text.assemble(
            ("▶ " + _stage_name(running.kind, running.task, running.detail), "yellow"),
            no_wrap=True,
            overflow="ellipsis",
        )
        stage.add_row(
            "",
            ProgressBar(total=running.total_steps or None, completed=running.step, width=self.bar_width),
            Text("  ".join(parts)),
        )
        return Group(grid, counts, name, stage)

    def _print(self, *parts: str | tuple[str, str]) -> None:
        self.console.print(Text.assemble(*parts))

    # events
    def run_started(self, *, experiment: str, cells: int, stage_estimate: Mapping[str, int], **kwargs: Any) -> None:
        with self.lock:
            self.tally.run_started(stage_estimate)
        self._print(("run " + _estimate_text(experiment, cells, stage_estimate), "bold"))
        if self.live is None:
            self.live = Live(self, console=self.console, refresh_per_second=self.refresh_per_second, transient=False)
            self.live.start()

    def cell_started(self, *, index: int, total: int, cell: Cell, **kwargs: Any) -> None:
        self._print((_cell_text(index, total, cell), "bold"))

    def stage_started(self, *, kind: str, task: str, hash: str, detail: str, log: Path | None, **kwargs: Any) -> None:
        with self.lock:
            self.tally.stage_started(kind, task, hash, detail, log)
        self._refresh()

    def stage_progress(
        self, *, step: int, total_steps: int, loss: float | None, examples_per_second: float | None, **kwargs: Any
    ) -> None:
        with self.lock:
            self.tally.stage_progress(step, total_steps, loss, examples_per_second)
        now = self.clock()  # Live refreshes by itself too; this keeps the display in step with the run
        if now - self._refreshed >= 1 / self.refresh_per_second:
            self._refreshed = now
            self._refresh()

    def stage_finished(
        self, *, kind: str, task: str, hash: str, wall_s: float, reused: bool, detail: str = "", **kwargs: Any
    ) -> None:
        with self.lock:
            loss = _last_loss(self.tally, hash)
            self.tally.stage_finished(kind, hash, wall_s, reused)
        name = _stage_name(kind, task, detail)
        if reused:
            state = "  pulled from the store" if kwargs.get("pulled") else "  cached"
            self._print("  ", ("↺ ", "cyan"), name, (state, "cyan"), (f" (built in {_seconds(wall_s)})", "dim"))
        else:
            trained = f"  loss {loss:.4f}" if loss is not None else ""
            self._print("  ", ("✓ ", "green"), name, f"  {_seconds(wall_s)}", (trained, "dim"))
        self._refresh()

    def stage_failed(self, *, kind: str, task: str, hash: str, error: BaseException, **kwargs: Any) -> None:
        with self.lock:
            running = self.tally.running
            log = running.log if running is not None and running.hash == hash else None
            self.tally.stage_failed(kind, hash)
        self._print("  ", ("✗ ", "bold red"), f"{kind} {task}: ", (_error_text(error), "red"))
        if log:
            self._print("    log: ", (str(log), "dim"))
        self._refresh()

    def language_scored(self, *, task: str, lang: str, metric: str, value: float, cached: bool, **kwargs: Any) -> None:
        self._print(
            "      ", f"{task} {lang}: {metric} = ", (f"{value:.2f}", "bold"), (" (cached)" if cached else "", "dim")
        )

    def run_finished(self, *, result_paths: Sequence[Path], wall_s: float, **kwargs: Any) -> None:
        self.close()

    def message(self, text: str, *, level: str = "info", **kwargs: Any) -> None:
        prefix = f"{level}: " if level != "info" else ""
        self._print((prefix + text, _message_style(level)))

    def _refresh(self) -> None:
        if self.live is not None:
            self.live.refresh()

    def close(self, error: BaseException | None = None) -> None:
        """Stop the display (its last state stays); a stage still running failed with ``error``."""
        running = self.tally.running
        if error is not None and running is not None:
            self.stage_failed(kind=running.kind, task=running.task, hash=running.hash, error=error)
        if self.live is not None:
            live, self.live = self.live, None
            live.stop()


class QuietReporter(RunReporter):
    """``--quiet``: only error messages (stilts' logged errors), on ``console`` (stderr)."""

    def __init__(self, console: Console):
        self.console = console

    def message(self, text: str, *, level: str = "info", **kwargs: Any) -> None:
        if level == "error":
            self.console.print(Text.assemble(("error: ", "bold red"), text))

    def close(self, error: BaseException | None = None) -> None:
        pass


ConsoleReporter = PlainReporter | LiveReporter | QuietReporter


def plain_console(console: Console) -> Console:
    """``console``'s stream, without colour or any other control code."""
    return Console(file=console.file, color_system=None, highlight=False, soft_wrap=True, width=console.width)


def choose_reporter(
    console: Console, err_console: Console, *, quiet: bool = False, verbose: bool = False, plain: bool = False
) -> ConsoleReporter:
    """Quiet: errors only. A terminal: the live display, unless ``plain`` (or ``verbose``: the
    libraries' own bars then share the terminal, so stilts prints lines). Otherwise plain lines."""
    if quiet:
        return QuietReporter(err_console)
    if console.is_terminal and not plain and not verbose:
        return LiveReporter(console)
    return PlainReporter(console)


@contextmanager
def run_console(
    console: Console,
    err_console: Console,
    *,
    quiet: bool = False,
    verbose: bool = False,
    plain: bool = False,
    builds: bool = True,
) -> Iterator[RunReporter]:
    """The reporter for one run, with the libraries' console output set for ``verbose`` and
    stilts' logged warnings routed to the reporter. The display is closed however the block ends.
    ``builds=False``: the run builds no stage (all cached), so the libraries are left alone
    (quieting them imports transformers, most of the time such a run would take)."""
    reporter = choose_reporter(console, err_console, quiet=quiet, verbose=verbose, plain=plain)
    with library_output(verbose or not builds), stilts_warnings_to(reporter):
        try:
            yield reporter
        except BaseException as exc:
            reporter.close(exc)
            raise
        reporter.close()


# -- summary ---------------------------------------------------------------------------------------------
@dataclass
class SummaryRow:
    """One row of the summary: a (model, method, intermediate, seed) and its targets."""

    model: str
    method: str
    intermediate: str
    seed: int
    #: target -> the cell's target average (``aggregate.mean``)
    values: dict[str, float] = field(default_factory=dict)
    #: target -> difference to the baseline row's value (``None``: a baseline row, or no baseline)
    deltas: dict[str, float | None] = field(default_factory=dict)


@dataclass
class RunSummary:
    #: target -> its main metric, in order of appearance
    targets: dict[str, str]
    rows: list[SummaryRow]


def summarize(result_paths: Sequence[Path]) -> RunSummary:
    """Cells × targets from result files (``cell`` and ``aggregate`` fields). Δ is the value minus
    the value of the same model, method and seed with intermediate ``none``, when that cell exists."""
    from harness.specs import read_json

    targets: dict[str, str] = {}
    rows: dict[tuple[str, str, str, int], SummaryRow] = {}
    for path in result_paths:
        result = read_json(Path(path))
        cell, aggregate = result["cell"], result["aggregate"]
        key = (cell["model"], cell["method"], cell["intermediate"], int(cell["seed"]))
        row = rows.setdefault(key, SummaryRow(*key))
        row.values[cell["target"]] = float(aggregate["mean"])
        targets.setdefault(cell["target"], aggregate["metric"])
    for (model, method, intermediate, seed), row in rows.items():
        base = rows.get((model, method, BASELINE, seed))
        for target, value in row.values.items():
            baseline = base.values.get(target) if base is not None and intermediate != BASELINE else None
            row.deltas[target] = None if baseline is None else value - baseline
    order = {key: i for i, key in enumerate(rows)}
    ordered = sorted(rows, key=lambda k: (k[0], k[1], k[3], k[2] != BASELINE, order[k]))
    return RunSummary(targets, [rows[key] for key in ordered])


def summary_table(summary: RunSummary) -> Table:
    """The summary as a rich table: a column per target with the average and its Δ."""
    seeds = len({row.seed for row in summary.rows}) > 1
    table = Table(title="results", title_justify="left", caption_justify="left")
    for name in ("model", "method", "intermediate", *(("seed",) if seeds else ())):
        table.add_column(name)
    for target, metric in summary.targets.items():
        table.add_column(Text(f"{target}\n{metric} (Δ)"), justify="right")
    for row in summary.rows:
        cells: list[Text] = [Text(row.model), Text(row.method), Text(row.intermediate)]
        if seeds:
            cells.append(Text(str(row.seed)))
        for target in summary.targets:
            value, delta = row.values.get(target), row.deltas.get(target)
            if value is None:
                cells.append(Text("–", style="dim"))
                continue
            text = Text(f"{value:.2f}")
            if delta is not None:
                style = "green" if delta > 0.005 else "red" if delta < -0.005 else "dim"
                text.append(f" ({delta:+.2f})", style=style)
            cells.append(text)
        table.add_row(*cells)
    return table


def print_summary(
    console: Console,
    result_paths: Sequence[Path],
    results_dir: Path,
    *,
    wall_s: float,
    site_index: Path | None = None,
) -> None:
    """The summary table, where the results and the leaderboard are, and the total wall time."""
    if result_paths:
        summary = summarize(result_paths)
        table = summary_table(summary)
        print_table(console, table)
        if any(d is not None for row in summary.rows for d in row.deltas.values()):
            console.print(
                f"(Δ: difference to the same model, method and seed with intermediate {BASELINE!r})", soft_wrap=True
            )
    console.print(f"[green]wrote {len(result_paths)} result(s)[/] to {escape(str(results_dir))}", soft_wrap=True)
    if site_index is not None:
        console.print(
            f"leaderboard: [bold]{escape(str(site_index.resolve()))}[/] (open it in a browser)", soft_wrap=True
        )
    console.print(f"total wall time: {clock_text(wall_s)}")
