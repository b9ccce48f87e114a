"""What `stilts run` prints: plain lines in logs, a rich live display on a terminal, --quiet,
-v, library bars off by default, and the summary table with its Δ against the baseline."""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console
from typer.testing import CliRunner

from harness.cli import app
from harness.console import (
    LiveReporter,
    PlainReporter,
    library_output,
    print_summary,
    stilts_warnings_to,
    summarize,
)
from harness.experiment import Cell, Target
from harness.progress import StageTally
from tests.helpers import write_json

ANSI = re.compile(r"\x1b[\[\]()]")
LIBRARY_NOISE = ("Loading weights", "Writing model shards", "it/s", "s/it", "{'loss'", "train_runtime")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def small_experiment(tmp_path: Path, tiny_model_dir: Path) -> Path:
    """{none, qs-nli} × qs-paws in en and de on the tiny model: 7 stages of a second or two."""
    return write_json(
        tmp_path / "exp.json",
        {
            "name": "small",
            "model": {"id": str(tiny_model_dir), "label": "tiny-bert"},
            "intermediate": ["none", "qs-nli"],
            "targets": [{"task": "qs-paws", "languages": ["en", "de"]}],
            "training": {
                "epochs": 1,
                "batch_size": 8,
                "learning_rate": 1e-3,
                "max_length": 32,
                "max_train_examples": 16,
                "max_eval_examples": 16,
                "precision": "fp32",
            },
        },
    )


def stilts_run(exp: Path, tmp_path: Path, runs: str, *flags: str):
    args = ["run", str(exp), "--runs-dir", str(tmp_path / runs), "--results-dir", str(tmp_path / "results"), *flags]
    return CliRunner().invoke(app, args)


def words(output: str, word: str) -> list[str]:
    """Plain lines whose event word (after the elapsed time) is ``word``."""
    return [line for line in output.splitlines() if re.match(rf"\d+:\d\d:\d\d {re.escape(word)} ", line)]


# -- a tiny run through the command --------------------------------------------------------------------
def test_plain_output_of_a_run_then_quiet_then_verbose(small_experiment: Path, tmp_path: Path) -> None:
    result = stilts_run(small_experiment, tmp_path, "runs")  # CliRunner's stdout is not a terminal
    assert result.exit_code == 0, result.output
    out = result.output
    assert not ANSI.search(out), "plain mode must print no control codes"
    for noise in LIBRARY_NOISE:  # library bars and Trainer's dict logs are off by default
        assert noise not in out, noise

    started, done = words(out, "start"), words(out, "done")
    assert len(started) == len(done) == 7  # 1 intermediate, 2 target, 4 eval stages: one line each
    for kind, count in (("intermediate", 1), ("target", 2), ("eval", 4)):
        assert sum(f"start    {kind} " in line for line in started) == count
        assert sum(f"done     {kind} " in line for line in done) == count
    assert "done     target qs-paws (fp32, seed 1) in " in out and "[7/7 stages" in out
    assert len(words(out, "score")) == 4 and len(words(out, "result")) == 2
    assert "finished 2 result(s); stages: 7 built, 0 cached, 0 failed" in out

    table = out[out.index("┏") :]  # the summary: cells × targets, Δ against the baseline
    rows = {line.split()[5]: line for line in table.splitlines() if "tiny-bert" in line}
    assert set(rows) == {"none", "qs-nli"}
    paws = {
        json.loads(p.read_text())["cell"]["intermediate"]: json.loads(p.read_text())["aggregate"]["mean"]
        for p in (tmp_path / "results" / "small").glob("*.json")
    }
    assert f"{paws['none']:.2f}" in rows["none"] and "(" not in rows["none"].split("│")[4]
    assert f"({paws['qs-nli'] - paws['none']:+.2f})" in rows["qs-nli"]
    assert f"wrote 2 result(s) to {tmp_path / 'results' / 'small'}" in out and "total wall time: " in out

    # everything cached: --quiet prints nothing at all
    quiet = stilts_run(small_experiment, tmp_path, "runs", "--quiet")
    assert quiet.exit_code == 0 and quiet.output == "", quiet.output
    both = stilts_run(small_experiment, tmp_path, "runs", "--quiet", "-v")
    assert both.exit_code == 2 and "exclude each other" in both.output

    # -v brings the libraries' progress bars back (a fresh cache, so something is trained)
    verbose = stilts_run(small_experiment, tmp_path, "runs-verbose", "-v", "--intermediate", "none")
    assert verbose.exit_code == 0, verbose.output
    assert "Loading weights" in verbose.output and "it/s" in verbose.output
    assert verbose.output.count(" done     ") == 3  # stilts' own lines are still there (between the bars)


def test_quiet_prints_nothing_while_training(small_experiment: Path, tmp_path: Path) -> None:
    result = stilts_run(small_experiment, tmp_path, "runs", "--quiet", "--intermediate", "none")
    assert result.exit_code == 0, result.output
    assert result.output == ""
    assert len(list((tmp_path / "results" / "small").glob("*.json"))) == 1


def test_library_output_is_restored_after_the_run() -> None:
    from transformers.utils import logging as hf_logging

    before = hf_logging.is_progress_bar_enabled()
    transformers_handlers = list(logging.getLogger("transformers").handlers)
    with library_output(verbose=False):
        assert not hf_logging.is_progress_bar_enabled()
        from harness.train import training_arguments

        args = training_arguments(
            {
                "batch_size": 2,
                "gradient_accumulation_steps": 1,
                "learning_rate": 1e-3,
                "epochs": 1,
                "warmup_ratio": 0,
                "weight_decay": 0,
                "checkpoint_every": 10,
            },
            SimpleNamespace(device="cpu", precision="fp32"),
            1,
            Path("unused"),
            1,
            1,
        )
        assert args.disable_tqdm
    assert hf_logging.is_progress_bar_enabled() == before
    assert logging.getLogger("transformers").handlers == transformers_handlers


# -- the reporters on their own ------------------------------------------------------------------------
def drive(reporter, clock: Clock) -> None:
    """A run of one cell: a trained intermediate and target stage, and a cached evaluation."""
    cell = Cell("[red]inter[/]", Target("qs-paws"), 1)
    reporter.run_started(experiment="exp", cells=1, stage_estimate={"intermediate": 1, "target": 1, "eval": 1})
    reporter.cell_started(index=1, total=1, cell=cell)
    for kind, task, stage in (("intermediate", "[red]inter[/]", "h1"), ("target", "qs-paws", "h2")):
        reporter.stage_started(kind=kind, task=task, hash=stage, detail="fp32, seed 1", log=Path(f"runs[/]/{stage}"))
        for step in range(1, 11):
            clock.now += 1.0
            reporter.stage_progress(step=step, total_steps=10, loss=1.0 / step, examples_per_second=32.0)
        reporter.stage_finished(kind=kind, task=task, hash=stage, wall_s=10.0, reused=False, detail="fp32, seed 1")
    reporter.stage_finished(kind="eval", task="qs-paws", hash="h3", wall_s=0.5, reused=True, detail="de")
    reporter.language_scored(task="qs-paws", lang="de", metric="accuracy", value=61.25, cached=True)
    reporter.message("look at [bold]this[/]", level="warning")
    reporter.cell_finished(cell=cell, result_path=Path("results/exp/cell.json"))
    reporter.run_finished(result_paths=[Path("results/exp/cell.json")], wall_s=21.0)


def test_live_display_renders_its_final_state() -> None:
    clock = Clock()
    console = Console(file=io.StringIO(), force_terminal=True, record=True, width=100, color_system="truecolor")
    reporter = LiveReporter(console, clock=clock)
    drive(reporter, clock)
    assert reporter.live is None  # stopped by run_finished
    text = console.export_text()
    final = text[text.rindex("stages ") :]  # the display's last frame stays on screen
    assert "3/3" in final and "ETA 0:00:00" in final
    assert "✓ 2 done  ↺ 1 cached  ▶ 0 running  ✗ 0 failed" in final
    assert "✓ intermediate [red]inter[/] (fp32, seed 1)  10.0 s  loss 0.1000" in text  # printed literally
    assert "↺ eval qs-paws (de)  cached" in text and "qs-paws de: accuracy = 61.25 (cached)" in text
    assert "warning: look at [bold]this[/]" in text
    assert "step 10/10  loss 0.1000  32.0 ex/s" in text  # the running stage's bar, while it ran
    assert "\x1b[" in console.file.getvalue()  # a terminal: styles and cursor movement


def test_plain_reporter_lines_and_throttled_progress() -> None:
    clock = Clock()
    stream = io.StringIO()
    drive(PlainReporter(Console(file=stream, width=100), clock=clock, every_percent=30, every_seconds=1e9), clock)
    out = stream.getvalue()
    assert not ANSI.search(out)
    assert len(words(out, "start")) == 2 and len(words(out, "done")) == 2 and len(words(out, "cached")) == 1
    progress = words(out, "progress")
    assert [re.search(r"step (\d+)/", line).group(1) for line in progress] == ["3", "6", "9"] * 2  # every 30 %
    assert "progress intermediate [red]inter[/]: step 3/10 (30%), loss 0.3333, 32.0 examples/s" in out
    assert "done     target qs-paws (fp32, seed 1) in 10.0 s, loss 0.1000 [2/3 stages" in out
    assert "cached   eval qs-paws (de) (built in 0.5 s) [3/3 stages, eta 0:00:00]" in out
    assert "warning  look at [bold]this[/]" in out
    assert "finished 1 result(s); stages: 2 built, 1 cached, 0 failed in 0:00:21" in out

    stream = io.StringIO()  # and by time: a line whenever every_seconds passed
    reporter = PlainReporter(Console(file=stream), clock=clock, every_percent=100, every_seconds=2.5)
    reporter.stage_started(kind="target", task="t", hash="h", detail="", log=None)
    for step in range(1, 11):
        clock.now += 1.0
        reporter.stage_progress(step=step, total_steps=10, loss=None, examples_per_second=None)
    assert len(words(stream.getvalue(), "progress")) == 3  # at 3, 6 and 9 s


def test_failed_stage_is_reported_with_its_log() -> None:
    clock = Clock()
    stream = io.StringIO()
    reporter = PlainReporter(Console(file=stream), clock=clock)
    reporter.run_started(experiment="e", cells=1, stage_estimate={"target": 1})
    reporter.stage_started(kind="target", task="t", hash="h", detail="", log=Path("runs/target/.h.partial/log.txt"))
    reporter.stage_failed(kind="target", task="t", hash="h", error=RuntimeError("out of [memory]"))
    assert "FAILED   target t: RuntimeError: out of [memory] (log runs/target/.h.partial/log.txt)" in stream.getvalue()
    assert reporter.tally.failed == 1 and reporter.tally.running is None


def test_stilts_warnings_go_to_the_reporter() -> None:
    stream = io.StringIO()
    reporter = PlainReporter(Console(file=stream))
    with stilts_warnings_to(reporter):
        logging.getLogger("stilts.pipeline").warning("no dev data in %s", "[xx]")
        logging.getLogger("stilts.pipeline").info("not shown")
    assert "warning  no dev data in [xx]" in stream.getvalue() and "not shown" not in stream.getvalue()


def test_tally_counts_shared_stages_once_and_estimates_the_rest() -> None:
    clock = Clock()
    tally = StageTally(clock=clock)
    tally.run_started({"intermediate": 1, "target": 2, "eval": 4})
    assert tally.total == 7 and tally.eta() is None
    tally.stage_started("intermediate", "mnli", "i", "", None)
    clock.now += 10
    tally.stage_progress(5, 10, 0.5, 10.0)
    assert tally.eta() is None  # nothing known yet about target and eval stages
    clock.now += 10
    assert tally.stage_finished("intermediate", "i", 20.0, reused=False)
    assert not tally.stage_finished("intermediate", "i", 20.0, reused=True)  # the next cell shares it
    tally.stage_started("target", "xnli", "t1", "", None)
    clock.now += 4
    tally.stage_progress(1, 4, None, None)  # a quarter done after 4 s: 16 s in all, 12 s left
    assert tally.stage_finished("eval", "e1", 1.0, reused=False) is True  # (out of order: a test)
    assert tally.eta() == pytest.approx(12 + 16 * 1 + 1.0 * 3)  # this target, the other, 3 evals
    assert (tally.done, tally.cached, tally.completed, tally.total) == (2, 0, 2, 7)


def test_report_progress_forwards_steps_loss_and_throughput() -> None:
    from harness.train import ReportProgress

    events: list[dict] = []
    clock = Clock()
    reporter = SimpleNamespace(stage_progress=lambda **kw: events.append(kw))
    callback = ReportProgress(reporter, examples_per_step=16, clock=clock)
    state = SimpleNamespace(global_step=4, max_steps=10)  # resumed at step 4
    callback.on_train_begin(None, state, None)
    clock.now += 2.0
    state.global_step = 6
    callback.on_step_end(None, state, None)
    callback.on_log(None, state, None, logs={"loss": "0.25", "grad_norm": 1.0})
    assert events[0] == {"step": 4, "total_steps": 10, "loss": None, "examples_per_second": None}
    assert events[1] == {"step": 6, "total_steps": 10, "loss": None, "examples_per_second": 16.0}  # 2 steps x 16 / 2 s
    assert events[2]["loss"] == 0.25


# -- the summary ---------------------------------------------------------------------------------------
def result_file(folder: Path, model: str, intermediate: str, target: str, mean: float, seed: int = 1) -> Path:
    cell = {"model": model, "method": "full", "intermediate": intermediate, "target": target, "seed": seed}
    metric = "accuracy" if target == "xnli" else "retrieval_accuracy"
    return write_json(
        folder / f"{model}__{intermediate}__{target}__{seed}.json",
        {"cell": cell, "aggregate": {"metric": metric, "mean": mean}},
    )


def test_summary_delta_against_the_same_model_and_methods_baseline(tmp_path: Path) -> None:
    paths = [
        result_file(tmp_path, "xlmr", "mnli", "xnli", 72.5),  # before its baseline: order does not matter
        result_file(tmp_path, "xlmr", "none", "xnli", 70.0),
        result_file(tmp_path, "xlmr", "none", "tatoeba", 50.0),
        result_file(tmp_path, "xlmr", "mnli", "tatoeba", 49.0),
        result_file(tmp_path, "xlmr", "squad", "xnli", 71.0),
        result_file(tmp_path, "[b]other[/]", "mnli", "xnli", 60.0),  # no baseline for this model
    ]
    summary = summarize(paths)
    assert summary.targets == {"xnli": "accuracy", "tatoeba": "retrieval_accuracy"}
    rows = {(r.model, r.intermediate): r for r in summary.rows}
    assert [(r.model, r.intermediate) for r in summary.rows][:2] == [("[b]other[/]", "mnli"), ("xlmr", "none")]
    assert rows["xlmr", "none"].deltas == {"xnli": None, "tatoeba": None}
    assert rows["xlmr", "mnli"].deltas == {"xnli": pytest.approx(2.5), "tatoeba": pytest.approx(-1.0)}
    assert (
        rows["xlmr", "squad"].deltas == {"xnli": pytest.approx(1.0)} and "tatoeba" not in rows["xlmr", "squad"].values
    )
    assert rows["[b]other[/]", "mnli"].deltas == {"xnli": None}

    stream = io.StringIO()
    print_summary(Console(file=stream, width=80), paths, tmp_path / "[/]results", wall_s=3723, site_index=None)
    out = stream.getvalue()
    assert not ANSI.search(out)
    lines = {line.split("│")[3].strip(): line for line in out.splitlines() if "│ xlmr" in line}
    assert "72.50 (+2.50)" in lines["mnli"] and "49.00 (-1.00)" in lines["mnli"]
    assert "70.00" in lines["none"] and "(" not in lines["none"]
    assert "71.00 (+1.00)" in lines["squad"] and "–" in lines["squad"]
    assert "│ [b]other[/]" in out  # printed literally
    assert f"wrote 6 result(s) to {tmp_path / '[/]results'}" in out and "total wall time: 1:02:03" in out

    seeds = [
        result_file(tmp_path, "xlmr", i, "xnli", v, seed=s)
        for i, v, s in (("none", 70.0, 2), ("mnli", 75.0, 2), ("mnli", 71.0, 1), ("none", 69.0, 1))
    ]
    by_seed = {(r.intermediate, r.seed): r.deltas["xnli"] for r in summarize(seeds).rows}
    assert by_seed == {
        ("none", 1): None,
        ("mnli", 1): pytest.approx(2.0),
        ("none", 2): None,
        ("mnli", 2): pytest.approx(5.0),
    }


def test_a_failing_stage_leaves_its_traceback_in_its_log(tmp_path: Path) -> None:
    from harness.stages import stage_log

    with pytest.raises(ValueError), stage_log(tmp_path):
        raise ValueError("a bad batch")
    text = (tmp_path / "log.txt").read_text(encoding="utf-8")
    assert "ERROR stilts.stage: stage failed" in text and "Traceback" in text and "ValueError: a bad batch" in text
