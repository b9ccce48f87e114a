"""The ``stilts`` command. Importing this module (and ``stilts --help``) never imports torch.

Output rules: every string that comes from the user, a file or a plugin (paths, names, spec
contents, error messages) is printed through :func:`rich.markup.escape` (or as plain text), so a
path such as ``runs[/]x`` prints as itself instead of crashing rich. When stdout is not a terminal
(``stilts tasks list | cat``), tables are rendered wide enough that no value is cut; ``--json``
gives the listings as machine-readable JSON.
"""

from __future__ import annotations

import dataclasses
import errno
import importlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any, ClassVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness import __version__
from harness.console import print_table
from harness.errors import PluginError, SpecError, StiltsError
from harness.hub_mirror import MIRROR_ENV
from harness.lockfile import LOCK_ENV
from harness.plugins import load_plugins, true_word
from harness.registry import Catalog

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)
#: Width tables are laid out in when stdout is not a terminal: wide enough that no cell is cut.

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Measure how English intermediate-task training transfers zero-shot to other languages.",
)
tasks_app = typer.Typer(no_args_is_help=True, help="List, show and validate task specs.")
board_app = typer.Typer(no_args_is_help=True, help="Build the static leaderboard site.")
app.add_typer(tasks_app, name="tasks")
app.add_typer(board_app, name="leaderboard")

QUICKSTART = "quickstart"


class State:
    blocked: ClassVar[list[str]] = []
    strict: ClassVar[bool | None] = None
    #: (name, module) pairs from ``-p module.name``
    modules: ClassVar[list[tuple[str, Any]]] = []
    include_paths: ClassVar[list[Path]] = []
    _catalog: ClassVar[Catalog | None] = None

    @classmethod
    def catalog(cls) -> Catalog:
        if cls._catalog is None:
            host = load_plugins(
                strict=cls.strict,
                blocked=cls.blocked,
                modules=cls.modules,
                include_paths=cls.include_paths,
                on_failure=_warn_plugin,
            )
            cls._catalog = Catalog(host)
        return cls._catalog


def _warn_plugin(error: PluginError) -> None:
    err_console.print(f"[yellow]warning:[/] {escape(str(error))} (skipped; use --strict-plugins to make this fatal)")


def e(value: object) -> str:
    """``value`` as text that rich prints literally (no markup)."""
    return escape(str(value))


def say_plain(message: str) -> None:
    """Print a message that carries no markup of its own (prefetch progress) literally."""
    console.print(e(message))


def print_json(data: Any) -> None:
    """Machine-readable output: plain JSON on stdout, nothing else."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def _import_plugin_module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except Exception as exc:
        hint = " (is it on PYTHONPATH?)" if isinstance(exc, ModuleNotFoundError) and exc.name == name else ""
        raise typer.BadParameter(
            f"cannot import plugin module {name!r}{hint}: {type(exc).__name__}: {exc}", param_hint="-p"
        ) from None


@app.callback()
def _main(
    plugin: Annotated[
        list[str] | None,
        typer.Option(
            "-p",
            help="no:NAME blocks plugin NAME; module.name imports that module and registers it as a plugin "
            "(repeatable).",
        ),
    ] = None,
    include_path: Annotated[
        list[Path] | None,
        typer.Option(
            "--include-path",
            exists=True,
            file_okay=False,
            dir_okay=True,
            help="A folder of task spec *.json files to add to the catalog, as plugin 'include-path' (repeatable; "
            "also STILTS_INCLUDE_PATH, os.pathsep-separated).",
        ),
    ] = None,
    strict_plugins: Annotated[bool, typer.Option("--strict-plugins", help="Any plugin failure is fatal.")] = False,
    hub_mirror: Annotated[
        Path | None,
        typer.Option(
            "--hub-mirror",
            file_okay=False,
            help="A folder of git clones of hub repositories (datasets/OWNER/NAME, models/OWNER/NAME) read instead "
            "of the hub (also STILTS_HUB_MIRROR).",
        ),
    ] = None,
    lock: Annotated[
        Path | None,
        typer.Option(
            "--lock", dir_okay=False, help="The lock file to run with (default: EXPERIMENT.lock.json beside it)."
        ),
    ] = None,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        console.print(f"stilts {e(__version__)}")
        raise typer.Exit()
    blocked: list[str] = []
    modules: list[tuple[str, Any]] = []
    for item in plugin or []:
        if item.startswith("no:"):
            blocked.append(item[3:])
        else:
            modules.append((item, _import_plugin_module(item)))
    State.blocked, State.strict, State.modules = blocked, (True if strict_plugins else None), modules
    State.include_paths = list(include_path or [])
    State._catalog = None
    # environment variables, so that worker processes and Slurm jobs see the same mirror and lock
    if hub_mirror is not None:
        os.environ[MIRROR_ENV] = str(hub_mirror.expanduser().resolve())
    if lock is not None:
        os.environ[LOCK_ENV] = str(lock.expanduser().resolve())


# -- run ---------------------------------------------------------------------------------------
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")]
VerboseOption = Annotated[
    bool,
    typer.Option(
        "--verbose",
        "-v",
        help="Also show the libraries' progress bars and warnings (transformers, datasets, Trainer); "
        "stilts then prints plain lines.",
    ),
]
PlainOption = Annotated[
    bool,
    typer.Option(
        "--plain", help="Plain lines without control codes (the default when stdout is not a terminal: CI, Slurm)."
    ),
]


IntermediateOption = Annotated[
    list[str] | None, typer.Option("--intermediate", help="Only these intermediate tasks ('none' = baseline).")
]
TargetOption = Annotated[list[str] | None, typer.Option("--target", help="Only these target tasks.")]
SeedOption = Annotated[list[int] | None, typer.Option("--seed", help="Only these seeds of the experiment.")]
PlannedDeviceOption = Annotated[
    str | None,
    typer.Option("--device", help="The device the stages are planned for (cpu, cuda); default: this machine's."),
]
GpusPerStageOption = Annotated[
    int,
    typer.Option(
        "--gpus-per-stage",
        min=1,
        help="Processes (GPUs) per training stage, data-parallel (torchrun or Slurm tasks); part of their keys.",
    ),
]


def _selected_experiment(
    catalog: Catalog, experiment: str, intermediate: list[str] | None, target: list[str] | None, seed: list[int] | None
) -> Any:
    """The experiment file or name, restricted to the chosen cells."""
    from harness.experiment import load_experiment

    return load_experiment(catalog.experiment_path(experiment), catalog).restricted(intermediate, target, seed)


def _output_console(quiet: bool, verbose: bool, plain: bool) -> Console:
    """The console for a run's output (``--plain``: no colour or control codes)."""
    from harness.console import plain_console

    if quiet and verbose:
        raise typer.BadParameter("--quiet and --verbose exclude each other")
    return plain_console(console) if plain else console


@app.command()
def run(
    experiment: Annotated[
        str, typer.Argument(help="Experiment file or name (default: the offline quickstart).")
    ] = QUICKSTART,
    runs_dir: Annotated[Path, typer.Option(help="Stage cache (checkpoints, logs).")] = Path("runs"),
    results_dir: Annotated[Path, typer.Option(help="Result JSON files go here.")] = Path("results"),
    data_dir: Annotated[Path | None, typer.Option(help="Value of {data_dir} in local sources.")] = None,
    site: Annotated[Path | None, typer.Option(help="Also build the leaderboard here.")] = None,
    offline: Annotated[bool, typer.Option(help="Check everything is local before training; fail fast.")] = False,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, cuda:1 ... (default: cuda if available).")] = None,
    intermediate: IntermediateOption = None,
    target: TargetOption = None,
    seed: SeedOption = None,
    prune_target_weights: Annotated[
        bool,
        typer.Option(
            help="Delete each target stage's model weights once its cell's result is written (saves a "
            "model's size per cell; a later run that needs them trains the stage again)."
        ),
    ] = False,
    executor: Annotated[
        str,
        typer.Option(help="Who builds the stages: inline (this process), local (worker processes), or a plugin's."),
    ] = "inline",
    jobs: Annotated[int, typer.Option(min=1, help="Stages built at once (executor local).")] = 1,
    gpus: Annotated[
        str | None, typer.Option(help="GPU ids for the local executor, one per running stage: 0,1,2,3.")
    ] = None,
    threads: Annotated[
        int | None, typer.Option(min=1, help="CPU threads per stage (default: CPUs / concurrent stages).")
    ] = None,
    gpus_per_stage: GpusPerStageOption = 1,
    evals_per_worker: Annotated[
        int,
        typer.Option(
            min=0,
            help="Evaluation stages of one trained model one worker process builds in turn, sharing the loaded "
            "model and its embeddings (executors local, slurm); 0: all of them, 1: a process per stage.",
        ),
    ] = 0,
    store: Annotated[
        str | None,
        typer.Option(
            envvar="STILTS_STORE",
            help="A stage store shared between machines (s3://bucket/prefix, gs://..., or a path such as an NFS "
            "mount): stages found there are pulled (and checked) instead of trained; finished ones are pushed.",
        ),
    ] = None,
    executor_option: Annotated[
        list[str] | None,
        typer.Option(
            "--executor-option",
            help="KEY=VALUE for the executor (slurm: partition, timeout_min, cpus_per_task, mem_gb, gpus_per_node, "
            "account, qos, max_num_timeout, sbatch.NAME; KIND.KEY for one wave, e.g. target.timeout_min=600).",
        ),
    ] = None,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
    plain: PlainOption = False,
) -> None:
    """Run every cell of an experiment; finished stages are reused, interrupted ones restart.

    On a terminal a live display shows the stages (done, cached, running, failed) and the running
    stage's steps, loss and speed; otherwise one plain line per stage. A summary table follows."""
    from harness.console import print_summary, run_console
    from harness.executors import ExecutorOptions
    from harness.experiment import load_experiment
    from harness.pipeline import Pipeline

    started = time.monotonic()
    out = _output_console(quiet, verbose, plain)
    gpu_ids = [g.strip() for g in gpus.split(",") if g.strip()] if gpus else []
    catalog = State.catalog()
    if executor not in catalog.executor_entries:
        raise typer.BadParameter(
            f"unknown executor {executor!r} (known: {', '.join(catalog.executor_entries)})", param_hint="--executor"
        )
    path = catalog.experiment_path(experiment)
    exp = load_experiment(path, catalog).restricted(intermediate, target, seed)
    if experiment == QUICKSTART and site is None:
        site = Path("site")
    if not quiet:
        out.print(f"experiment [bold]{e(exp.name)}[/] ({e(path)}): {len(exp.cells())} cell(s)")
    pipeline = Pipeline(
        catalog,
        exp,
        runs_dir=runs_dir,
        results_dir=results_dir,
        data_dir=data_dir,
        offline=offline,
        device=device,
        prune_target_weights=prune_target_weights,
        executor=executor,
        executor_options=ExecutorOptions(
            jobs=len(gpu_ids) if gpu_ids and jobs == 1 else jobs,
            gpus=gpu_ids,
            threads=threads,
            gpus_per_stage=gpus_per_stage,
            evals_per_worker=evals_per_worker,
            extra=_key_values(executor_option or [], "--executor-option"),
        ),
        store_url=store,
    )
    stage_plan = pipeline.prepare()  # what is missing fails here, before any display
    builds = bool(stage_plan.to_run())
    with run_console(out, err_console, quiet=quiet, verbose=verbose, plain=plain, builds=builds) as reporter:
        pipeline.ctx.reporter = reporter
        paths = pipeline.run(stage_plan)
    index, site_error = None, None
    if site is not None:
        from harness.leaderboard import build_site

        try:
            index = build_site(results_dir, site)
        except StiltsError as exc:  # the results are safe; say so, then fail
            site_error = exc
    if not quiet:
        print_summary(out, paths, results_dir / exp.name, wall_s=time.monotonic() - started, site_index=index)
    if site_error is not None:
        err_console.print(
            f"[red]error:[/] results are written to {e(results_dir / exp.name)}, "
            f"but the leaderboard was not built: {e(site_error)}"
        )
        raise typer.Exit(2)


def _key_values(items: list[str], option: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint=option)
        out[key.strip()] = value.strip()
    return out


@app.command()
def status(
    experiment: Annotated[str, typer.Argument(help="Experiment file or name.")] = QUICKSTART,
    runs_dir: Annotated[Path, typer.Option(help="The run's stage cache.")] = Path("runs"),
    data_dir: Annotated[Path | None, typer.Option(help="Value of {data_dir} in local sources.")] = None,
    device: PlannedDeviceOption = None,
    intermediate: IntermediateOption = None,
    target: TargetOption = None,
    seed: SeedOption = None,
    gpus_per_stage: GpusPerStageOption = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Every stage's state as JSON.")] = False,
) -> None:
    """Where each stage of an experiment stands (done / running / pending / failed / not started),
    from the stage cache, the workers' state files and one look at the Slurm queue; failed stages
    with their error and log."""
    from harness.plan_report import plan_experiment
    from harness.status import STATES, stage_states, state_counts

    catalog = State.catalog()
    exp = _selected_experiment(catalog, experiment, intermediate, target, seed)
    stage_plan = plan_experiment(catalog, exp, runs_dir, Path("results"), data_dir, device, gpus_per_stage).plan
    stages = stage_states(stage_plan, runs_dir)
    failed = any(s.state == "failed" for s in stages)
    if as_json:
        print_json({"experiment": exp.name, "counts": state_counts(stages), "stages": [vars(s) for s in stages]})
        raise typer.Exit(1 if failed else 0)
    counts = state_counts(stages)
    table = Table(title=f"{exp.name}: {len(stages)} stage(s)", title_justify="left")
    table.add_column("kind", header_style="bold")
    for state in STATES:
        table.add_column(state, justify="right")
    for kind in ("intermediate", "target", "eval"):
        if kind in counts:
            table.add_row(kind, *(str(counts[kind][state]) for state in STATES))
    print_table(console, table)
    troubled = [s for s in stages if s.state in ("failed", "running")]
    if troubled:
        detail = Table(title="running and failed stages", title_justify="left")
        for column in ("stage", "state", "kind", "task", "detail", "job", "log", "error"):
            detail.add_column(column)
        for s in troubled:
            detail.add_row(
                s.id, s.state, s.kind, e(s.task), e(s.detail), e(s.job_id or "-"), e(s.log or "-"), e(s.error or "")
            )
        print_table(console, detail)
    if failed:
        raise typer.Exit(1)


@app.command()
def collect(
    experiment: Annotated[str, typer.Argument(help="Experiment file or name.")] = QUICKSTART,
    runs_dir: Annotated[Path, typer.Option(help="The run's stage cache.")] = Path("runs"),
    results_dir: Annotated[Path, typer.Option(help="Result JSON files go here.")] = Path("results"),
    data_dir: Annotated[Path | None, typer.Option(help="Value of {data_dir} in local sources.")] = None,
    device: PlannedDeviceOption = None,
    intermediate: IntermediateOption = None,
    target: TargetOption = None,
    seed: SeedOption = None,
    gpus_per_stage: GpusPerStageOption = 1,
) -> None:
    """Write the result of every cell whose stages are all built (by any executor); build nothing."""
    from harness.executors import ExecutorOptions
    from harness.pipeline import Pipeline

    catalog = State.catalog()
    exp = _selected_experiment(catalog, experiment, intermediate, target, seed)
    pipeline = Pipeline(
        catalog,
        exp,
        runs_dir=runs_dir,
        results_dir=results_dir,
        data_dir=data_dir,
        device=device,
        executor_options=ExecutorOptions(gpus_per_stage=gpus_per_stage),
    )
    paths, stage_plan = pipeline.collect()
    console.print(
        f"{len(paths)} of {len(stage_plan.cells)} cell result(s) written to {e(results_dir / exp.name)}"
        + ("" if len(paths) == len(stage_plan.cells) else "; the others wait for stages (stilts status)")
    )


@app.command()
def plan(
    experiment: Annotated[str, typer.Argument(help="Experiment file or name.")] = QUICKSTART,
    runs_dir: Annotated[Path, typer.Option(help="Stage cache to compare with.")] = Path("runs"),
    results_dir: Annotated[Path, typer.Option(help="Where results would go.")] = Path("results"),
    data_dir: Annotated[Path | None, typer.Option(help="Value of {data_dir} in local sources.")] = None,
    device: PlannedDeviceOption = None,
    intermediate: IntermediateOption = None,
    target: TargetOption = None,
    seed: SeedOption = None,
    gpus_per_stage: GpusPerStageOption = 1,
    gpus: Annotated[int, typer.Option("--gpus", min=1, help="Devices the cost model schedules the plan on.")] = 1,
    calibration: Annotated[
        Path | None, typer.Option(help="Figures of `stilts calibrate` (default: RUNS_DIR/calibration.json).")
    ] = None,
    stages: Annotated[bool, typer.Option("--stages", help="List every stage that must run.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole plan as JSON.")] = False,
) -> None:
    """Expand an experiment into its stages, with their keys, without loading a model or torch:
    how many stages there are, which are cached, which must run, what they depend on, what is
    missing, and what the rest should cost: GPU-hours, the makespan on --gpus devices and the
    critical path, at the speed `stilts calibrate` measured or, for --device h100, a100, v100, l4,
    l40s, a10g, h200, the shipped estimates."""
    from harness.cost_model import CALIBRATION_FILE, DEVICE_PEAKS, plan_cost, read_calibration
    from harness.plan_report import plan_experiment, print_cost, print_plan

    catalog = State.catalog()
    exp = _selected_experiment(catalog, experiment, intermediate, target, seed)
    gpu_type = device.lower() if device and device.lower() in DEVICE_PEAKS else None
    stage_plan, estimate, model_size, ctx = plan_experiment(
        catalog, exp, runs_dir, results_dir, data_dir, "cuda" if gpu_type else device, gpus_per_stage
    )
    cost_device = gpu_type or (device or ctx.device).split(":")[0]
    figures = read_calibration(calibration or runs_dir / CALIBRATION_FILE)
    cost = plan_cost(ctx, stage_plan, cost_device, gpus, model_size, figures)
    if as_json:
        print_json(
            {**stage_plan.to_json(), "estimate": estimate, "model_parameters": model_size, "cost": cost.to_json()}
        )
        return
    print_plan(console, stage_plan, estimate, model_size, list_stages=stages)
    print_cost(console, cost)


@app.command()
def calibrate(
    experiment: Annotated[str, typer.Argument(help="Experiment file or name.")] = QUICKSTART,
    runs_dir: Annotated[Path, typer.Option(help="The calibration is written to RUNS_DIR/calibration.json.")] = Path(
        "runs"
    ),
    data_dir: Annotated[Path | None, typer.Option(help="Value of {data_dir} in local sources.")] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, cuda:1 ... (default: cuda if available).")] = None,
    label: Annotated[
        str | None, typer.Option(help="Name the figures are kept under (default: cpu or cuda), e.g. h100.")
    ] = None,
    examples: Annotated[str, typer.Option(help="The two example caps of the measured runs.")] = "64,256",
    task_type: Annotated[
        list[str] | None,
        typer.Option("--task-type", help="Calibrate only this task type (repeatable); the others' figures are kept."),
    ] = None,
) -> None:
    """Measure how fast this machine's device trains and evaluates the experiment's model, per task
    type (a warm-up and two short real runs per type), for the cost model of `stilts plan`."""
    from harness.calibrate import calibrate as measure
    from harness.experiment import load_experiment

    catalog = State.catalog()
    exp = load_experiment(catalog.experiment_path(experiment), catalog)
    try:
        small, large = (int(part) for part in examples.split(","))
    except ValueError:
        raise typer.BadParameter("two numbers, e.g. 64,256", param_hint="--examples") from None
    from harness.console import library_output

    with library_output(verbose=False):  # no library progress bars between the lines below
        entry = measure(
            catalog, exp, runs_dir, device or "", label, (small, large), data_dir=data_dir, say=say_plain,
            task_types=task_type,
        )  # fmt: skip
    table = Table(title=f"{entry['name']}: {entry['model']}", title_justify="left")
    for column in ("task type", "max_length", "train rec/s", "eval rec/s", "train overhead", "eval overhead"):
        table.add_column(column)
    for tt, f in entry["task_types"].items():
        table.add_row(
            tt,
            str(f["max_length"]),
            f"{f['train_per_s']:.1f}",
            f"{f['eval_per_s']:.1f}",
            f"{f['train_overhead_s']:.1f} s",
            f"{f['eval_overhead_s']:.1f} s",
        )
    print_table(console, table)
    console.print(f"written to {e(runs_dir / 'calibration.json')}")


@app.command()
def rerun(
    result: Annotated[Path, typer.Argument(help="A result JSON file written by `stilts run`.")],
    runs_dir: Annotated[
        Path | None,
        typer.Option(help="Stage cache to use (default: a fresh temporary one, so every stage is recomputed)."),
    ] = None,
    results_dir: Annotated[Path, typer.Option(help="Where the rerun's result goes.")] = Path("reruns"),
    data_dir: Annotated[
        Path | None, typer.Option(help="Value of {data_dir} (default: the one the result used).")
    ] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda ... (default: cuda if available).")] = None,
    tolerance: Annotated[float, typer.Option(help="Largest score difference still counted as equal.")] = 0.0,
    trust_remote_code: Annotated[
        bool,
        typer.Option(
            "--trust-remote-code", help="Allow a model that needs trust_remote_code (runs code from the model's files)."
        ),
    ] = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
    plain: PlainOption = False,
) -> None:
    """Run a result's cell again from its stored configuration and compare the scores.

    The result file is untrusted: its rerun section must describe exactly its own config, and a
    model that needs remote code runs only with --trust-remote-code."""
    from harness.console import run_console
    from harness.rerun import describe, rerun_result

    out = _output_console(quiet, verbose, plain)
    with run_console(out, err_console, quiet=quiet, verbose=verbose, plain=plain) as reporter:
        path, differences = rerun_result(
            State.catalog(),
            result,
            runs_dir=runs_dir,
            results_dir=results_dir,
            data_dir=data_dir,
            device=device,
            tolerance=tolerance,
            trust_remote_code=trust_remote_code,
            reporter=reporter,
        )
    if differences:  # the verdict is printed even with --quiet: it is what the command is for
        out.print(f"[red]{len(differences)} score(s) differ[/] (new result: {e(path)}):")
        for line in describe(differences):
            out.print(f"  {e(line)}")
        raise typer.Exit(1)
    out.print(f"[green]reproduced[/]: every score equals the stored one (new result: {e(path)})")


@app.command()
def verify(
    runs_dir: Annotated[Path, typer.Argument(help="The stage cache to check.")] = Path("runs"),
) -> None:
    """Check every finished stage's outputs against the sizes and digests its marker recorded;
    a stage that fails is moved aside to runs/<kind>/.corrupt/ (kept, never deleted) and is built
    again by the next run. Exits 1 when any stage was moved aside."""
    from harness.stages import verify_store

    if not runs_dir.is_dir():
        raise StiltsError(f"no stage cache at {runs_dir}")
    checked, bad = verify_store(runs_dir)
    for line in bad:
        err_console.print(f"[red]corrupt:[/] {e(line)}")
    console.print(f"{checked} stage(s) checked, {len(bad)} moved aside")
    if bad:
        raise typer.Exit(1)


@app.command()
def lock(
    experiment: Annotated[str, typer.Argument(help="Experiment file or name.")],
    data_dir: Annotated[Path | None, typer.Option(help="Value of {data_dir} in local sources.")] = None,
    output: Annotated[
        Path | None, typer.Option(dir_okay=False, help="Where to write the lock (default: EXPERIMENT.lock.json).")
    ] = None,
) -> None:
    """Pin every hub dataset and model the experiment reads to a commit (the mirror's, else the
    hub's), check every requested config, split, column and label against the datasets' cards at
    those commits, and write the lock file runs then use (commit it next to the experiment)."""
    from harness.experiment import load_experiment
    from harness.locking import lock_experiment

    catalog = State.catalog()
    exp = load_experiment(catalog.experiment_path(experiment), catalog)
    pinned = lock_experiment(catalog, exp, data_dir, output)
    pinned.save()
    for entry in sorted(pinned.entries.values(), key=lambda one: (one.kind, one.repo)):
        at = f" ({entry.revision})" if entry.revision else ""
        console.print(f"{entry.kind} {e(entry.repo)}{e(at)} -> {entry.commit}")
    console.print(f"wrote {e(pinned.path)}: {len(pinned.entries)} repositories pinned ({e(pinned.resolved_from)})")


@app.command()
def prefetch(
    experiment: Annotated[str, typer.Argument(help="Experiment file or name.")] = QUICKSTART,
    data_dir: Annotated[Path | None, typer.Option()] = None,
) -> None:
    """Download every model and hub dataset an experiment needs into the local caches."""
    from harness.experiment import load_experiment
    from harness.prefetch import prefetch_experiment

    catalog = State.catalog()
    exp = load_experiment(catalog.experiment_path(experiment), catalog)
    for line in prefetch_experiment(catalog, exp, data_dir, say=say_plain):
        console.print(e(line))


# -- plugins -------------------------------------------------------------------------------------
def _target_name(target: Any) -> str:
    if isinstance(target, str):
        return target
    module, qualname = getattr(target, "__module__", None), getattr(target, "__qualname__", None)
    return f"{module}:{qualname}" if module and qualname else repr(target)


@app.command()
def plugins(
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON (every field).")] = False,
) -> None:
    """Every plugin with its distribution, version, status and the hooks it implements."""
    catalog = State.catalog()
    kinds = (
        ("task type", catalog.task_type_entries),
        ("adapter", catalog.adapter_entries),
        ("metric", catalog.metric_entries),
        ("data format", catalog.format_entries),
        ("translation provider", catalog.translator_entries),
        ("model source", catalog.model_source_entries),
    )
    if as_json:
        print_json(
            {
                "plugins": [dataclasses.asdict(info) for info in catalog.host.plugin_infos()],
                "registered": [
                    {
                        "kind": kind,
                        "name": entry.name,
                        "plugin": entry.plugin,
                        "description": entry.description,
                        "target": _target_name(entry.target),
                    }
                    for kind, entries in kinds
                    for entry in entries.values()
                ],
            }
        )
        return
    table = Table("plugin", "distribution", "version", "status", "hooks")
    for info in catalog.host.plugin_infos():
        status = {"loaded": "[green]loaded[/]", "blocked": "[yellow]blocked[/]"}.get(info.status, "[red]failed[/]")
        table.add_row(
            e(info.name),
            e(info.distribution),
            e(info.version),
            status,
            e(", ".join(h.removeprefix("stilts_") for h in info.hooks)),
        )
    print_table(console, table)
    for info in catalog.host.plugin_infos():
        if info.error:
            console.print(f"[red]{e(info.error)}[/]")
    registered = Table("kind", "name", "plugin", "description")
    for kind, entries in kinds:
        for entry in entries.values():
            registered.add_row(kind, e(entry.name), e(entry.plugin), e(entry.description))
    print_table(console, registered)


# -- tasks ---------------------------------------------------------------------------------------
@tasks_app.command("list")
def tasks_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON (every field).")] = False,
) -> None:
    """Every task spec: name, type, role, languages."""
    catalog = State.catalog()
    if as_json:
        print_json(
            {
                "tasks": [
                    {
                        "name": spec.name,
                        "version": spec.version,
                        "task_type": spec.task_type,
                        "role": spec.role,
                        "train_language": spec.train_language,
                        "eval_languages": spec.eval_languages,
                        "metrics": list(spec.data.get("metrics", [])),
                        "plugin": spec.plugin,
                        "path": str(spec.path),
                        "description": spec.description,
                    }
                    for spec in catalog.tasks.values()
                ],
                "invalid_specs": [
                    {"file": file, "issues": [str(issue) for issue in error.issues]}
                    for file, error in catalog.invalid_specs.items()
                ],
            }
        )
        return
    table = Table("task", "type", "role", "train", "eval languages", "plugin")
    for spec in catalog.tasks.values():
        langs = spec.eval_languages
        if console.is_terminal and len(langs) > 8:  # a terminal gets a summary; a pipe gets every language
            shown = ", ".join(langs[:8]) + f" ... ({len(langs)})"
        else:
            shown = ", ".join(langs)
        table.add_row(
            e(spec.name), e(spec.task_type), e(spec.role), e(spec.train_language or "-"), e(shown), e(spec.plugin)
        )
    print_table(console, table)
    for file, error in catalog.invalid_specs.items():
        err_console.print(f"[red]invalid spec {e(file)}[/]\n{e(error)}")


@tasks_app.command("show")
def tasks_show(name: str, data_dir: Annotated[Path | None, typer.Option()] = None) -> None:
    """A task's spec and which of its sources are available on this machine."""
    from harness.data import DataResolver
    from harness.needs import task_needs

    catalog = State.catalog()
    spec = catalog.task(name)
    console.print(
        f"[bold]{e(spec.name)}[/] v{e(spec.version)} ({e(spec.task_type)}, role {e(spec.role)}) from {e(spec.path)}"
    )
    if spec.description:
        console.print(e(spec.description))
    resolver = DataResolver(catalog, data_dir)
    table = Table("split", "language", "source used", "local", "where")
    for need in task_needs(catalog, spec):
        split, lang = need.split, need.lang
        if not resolver.plans(spec, split, lang):
            continue
        plan = resolver.plan(spec, split, lang)
        local = next((p for p in resolver.plans(spec, split, lang) if p.kind == "local"), None)
        table.add_row(
            e(split),
            e(lang),
            e(plan.kind if plan else "-"),
            "yes" if local and local.available_locally else "no",
            e(plan.describe() if plan else "no source"),
        )
    print_table(console, table)
    console.print_json(json.dumps(spec.data))


def _validate_file(catalog: Catalog, file: Path) -> bool:
    """Print one file's verdict; True when it is a valid spec. Never raises (but for ^C)."""
    if not file.is_file():  # checked before reading: a FIFO or /dev/zero would block or never end
        what = "not a regular file" if file.exists() else "no such file"
        console.print(f"[red]✗[/] {e(file)}: {what}")
        return False
    try:
        spec = catalog.load_spec(file)
    except SpecError as exc:
        for issue in exc.issues:
            console.print(f"[red]✗[/] {e(issue)}")
        return False
    except StiltsError as exc:
        console.print(f"[red]✗[/] {e(file)}: {e(exc)}")
        return False
    except Exception as exc:
        console.print(f"[red]✗[/] {e(file)}: internal error: {e(type(exc).__name__)}: {e(exc)}")
        return False
    console.print(f"[green]✓[/] {e(file)}: task {e(repr(spec.name))} is valid")
    return True


@tasks_app.command("validate")
def tasks_validate(paths: Annotated[list[Path], typer.Argument(help="Spec files or folders.")]) -> None:
    """Validate spec files: every error with file, JSON pointer, bad value and what was expected.

    Every file gets its own verdict; the exit status is 1 when any file (or a folder without
    ``*.json`` files) failed."""
    catalog = State.catalog()
    failed = checked = empty = 0
    for path in paths:
        if path.is_dir():
            files = sorted(path.glob("*.json"))  # non-regular entries get their own verdict below
            if not files:
                console.print(f"[red]✗[/] {e(path)}: folder has no *.json task specs")
                empty += 1
                continue
        else:
            files = [path]
        for file in files:
            checked += 1
            failed += not _validate_file(catalog, file)
    if failed or empty:
        summary = [f"{failed} of {checked} file(s) failed"] if checked else []
        summary += [f"{empty} folder(s) without specs"] if empty else []
        console.print(f"[red]{'; '.join(summary)}[/]")
        raise typer.Exit(1)


@tasks_app.command("schema")
def tasks_schema(kind: Annotated[str, typer.Argument(help="task_spec, experiment or result")] = "task_spec") -> None:
    """Print a shipped JSON Schema (draft 2020-12)."""
    from harness.specs import SCHEMAS, load_schema

    if kind not in SCHEMAS:
        raise typer.BadParameter(f"one of {', '.join(SCHEMAS)}")
    sys.stdout.write(json.dumps(load_schema(kind), indent=2) + "\n")


# -- leaderboard ---------------------------------------------------------------------------------
@board_app.command("build")
def leaderboard_build(
    results_dir: Annotated[Path, typer.Argument(help="Folder of result JSON files.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output folder for the site.")] = Path("site"),
    title: Annotated[str, typer.Option(help="Site title.")] = "stilts leaderboard",
) -> None:
    """Write a static site (plain HTML/CSS, opens from file://) from a results folder."""
    from harness.leaderboard import build_site

    index = build_site(results_dir, out, title=title)
    console.print(f"leaderboard: {e(index.resolve())}")


@board_app.command("table")
def leaderboard_table(
    results_dir: Annotated[Path, typer.Argument(help="Folder of result JSON files.")],
) -> None:
    """Print the scores (mean ± sd over seeds) and Δ vs baseline with 95% paired bootstrap
    intervals as Markdown tables, from a results folder (the numbers the site shows)."""
    from harness.comparison import build_board
    from harness.report import markdown_tables
    from harness.results import load_results

    results = load_results(results_dir)
    if not results:
        raise StiltsError(f"no result files found in {results_dir}")
    sys.stdout.write(markdown_tables(build_board(results)))


#: Set to 1 to let an unexpected error end ``stilts`` with its traceback on the terminal.
TRACEBACK_ENV = "STILTS_TRACEBACK"


def main() -> None:
    try:
        app()
    except StiltsError as exc:
        err_console.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]: finished stages are kept; run the same command again to resume.")
        sys.exit(130)
    except Exception as exc:  # a bug or a library's failure (out of memory, CUDA), not bad input
        if true_word(os.environ.get(TRACEBACK_ENV, "")):
            raise
        storage = storage_problem(exc)
        if storage is not None:  # the machine's fault, not stilts': one line, no traceback
            err_console.print(f"[red]error:[/] {escape(storage)}; finished stages are kept", soft_wrap=True)
            sys.exit(2)
        report = crash_report(exc)
        err_console.print(f"[red]error:[/] unexpected {type(exc).__name__}: {escape(str(exc))}", soft_wrap=True)
        err_console.print(
            "finished stages are kept. "
            + (f"The traceback is in {escape(str(report))}" if report else "The traceback could not be saved")
            + f" ({TRACEBACK_ENV}=1 prints it here); please include it when you report the problem.",
            soft_wrap=True,
        )
        sys.exit(1)


#: OS errors that say the storage cannot take what is written (not a bug: the user frees space).
STORAGE_ERRNOS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the file system is read-only",
}


def storage_problem(exc: BaseException) -> str | None:
    """One line for a full disk, a used-up quota or a read-only file system anywhere in ``exc``'s
    chain of causes (the path and the cause), else None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in STORAGE_ERRNOS:
            where = f" writing {current.filename}" if current.filename else ""
            return f"{STORAGE_ERRNOS[current.errno]}{where} ({current.strerror})"
        if "No space left on device" in str(current):  # libraries that wrap the OSError in their own text
            return f"the disk is full ({type(current).__name__}: {current})"
        current = current.__cause__ or current.__context__
    return None


def crash_report(exc: BaseException) -> Path | None:
    """Write ``exc``'s traceback, the command line and the versions to a new file in
    ``$STILTS_CACHE_DIR/crashes/``; the file, or None when it cannot be written."""
    import platform
    import traceback

    from harness.fingerprint import cache_dir

    lines = [
        f"stilts {__version__}, Python {platform.python_version()}, {platform.platform()}",
        "command: " + " ".join(sys.argv),
        "",
        *traceback.format_exception(exc),
    ]
    try:
        folder = cache_dir() / "crashes"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
        path.write_text("\n".join(line.rstrip("\n") for line in lines) + "\n", encoding="utf-8")
    except OSError:
        return None
    return path


if __name__ == "__main__":  # pragma: no cover
    main()
