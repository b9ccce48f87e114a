"""The ``stilts`` command. Importing this module (and ``stilts --help``) never imports torch."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness import __version__
from harness.errors import PluginError, SpecError, StiltsError
from harness.plugins import load_plugins
from harness.registry import Catalog

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Measure how English intermediate-task training transfers zero-shot to other languages.")
tasks_app = typer.Typer(no_args_is_help=True, help="List, show and validate task specs.")
board_app = typer.Typer(no_args_is_help=True, help="Build the static leaderboard site.")
app.add_typer(tasks_app, name="tasks")
app.add_typer(board_app, name="leaderboard")

QUICKSTART = "quickstart"


class State:
    blocked: list[str] = []
    strict: bool | None = None
    _catalog: Catalog | None = None

    @classmethod
    def catalog(cls) -> Catalog:
        if cls._catalog is None:
            host = load_plugins(strict=cls.strict, blocked=cls.blocked, on_failure=_warn_plugin)
            cls._catalog = Catalog(host)
        return cls._catalog


def _warn_plugin(error: PluginError) -> None:
    err_console.print(f"[yellow]warning:[/] {escape(str(error))} (skipped; use --strict-plugins to make this fatal)")


@app.callback()
def _main(
    plugin: Annotated[Optional[list[str]], typer.Option("-p", help="no:NAME blocks plugin NAME (repeatable).")] = None,
    strict_plugins: Annotated[bool, typer.Option("--strict-plugins", help="Any plugin failure is fatal.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        console.print(f"stilts {__version__}")
        raise typer.Exit()
    blocked = []
    for item in plugin or []:
        if not item.startswith("no:"):
            raise typer.BadParameter(f"expected no:NAME, got {item!r}", param_hint="-p")
        blocked.append(item[3:])
    State.blocked, State.strict = blocked, (True if strict_plugins else None)
    State._catalog = None


# -- run ---------------------------------------------------------------------------------------
@app.command()
def run(
    experiment: Annotated[str, typer.Argument(help="Experiment file or name (default: the offline quickstart).")] = QUICKSTART,
    runs_dir: Annotated[Path, typer.Option(help="Stage cache (checkpoints, logs).")] = Path("runs"),
    results_dir: Annotated[Path, typer.Option(help="Result JSON files go here.")] = Path("results"),
    data_dir: Annotated[Optional[Path], typer.Option(help="Value of {data_dir} in local sources.")] = None,
    site: Annotated[Optional[Path], typer.Option(help="Also build the leaderboard here.")] = None,
    offline: Annotated[bool, typer.Option(help="Check everything is local before training; fail fast.")] = False,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda, cuda:1 ... (default: cuda if available).")] = None,
    intermediate: Annotated[Optional[list[str]], typer.Option("--intermediate", help="Only these intermediate tasks ('none' = baseline).")] = None,
    target: Annotated[Optional[list[str]], typer.Option("--target", help="Only these target tasks.")] = None,
) -> None:
    """Run every cell of an experiment; finished stages are reused, interrupted ones restart."""
    from harness.experiment import load_experiment
    from harness.pipeline import Pipeline

    catalog = State.catalog()
    path = catalog.experiment_path(experiment)
    exp = load_experiment(path, catalog).restricted(intermediate, target)
    if experiment == QUICKSTART and site is None:
        site = Path("site")
    console.print(f"experiment [bold]{exp.name}[/] ({path}): {len(exp.cells())} cell(s)")
    pipeline = Pipeline(catalog, exp, runs_dir=runs_dir, results_dir=results_dir, data_dir=data_dir,
                        offline=offline, device=device, say=console.print)
    paths = pipeline.run()
    console.print(f"[green]wrote {len(paths)} result(s)[/] to {results_dir / exp.name}")
    if site is not None:
        from harness.leaderboard import build_site

        index = build_site(results_dir, site)
        console.print(f"leaderboard: [bold]{index.resolve()}[/] (open it in a browser)")


@app.command()
def rerun(
    result: Annotated[Path, typer.Argument(help="A result JSON file written by `stilts run`.")],
    runs_dir: Annotated[Optional[Path], typer.Option(help="Stage cache to use (default: a fresh temporary one, so every stage is recomputed).")] = None,
    results_dir: Annotated[Path, typer.Option(help="Where the rerun's result goes.")] = Path("reruns"),
    data_dir: Annotated[Optional[Path], typer.Option(help="Value of {data_dir} (default: the one the result used).")] = None,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda ... (default: cuda if available).")] = None,
    tolerance: Annotated[float, typer.Option(help="Largest score difference still counted as equal.")] = 0.0,
) -> None:
    """Run a result's cell again from its stored configuration and compare the scores."""
    from harness.rerun import describe, rerun_result

    path, differences = rerun_result(State.catalog(), result, runs_dir=runs_dir, results_dir=results_dir,
                                     data_dir=data_dir, device=device, tolerance=tolerance, say=console.print)
    if differences:
        console.print(f"[red]{len(differences)} score(s) differ[/] (new result: {path}):")
        for line in describe(differences):
            console.print(f"  {escape(line)}")
        raise typer.Exit(1)
    console.print(f"[green]reproduced[/]: every score equals the stored one (new result: {path})")


@app.command()
def prefetch(experiment: Annotated[str, typer.Argument(help="Experiment file or name.")] = QUICKSTART,
             data_dir: Annotated[Optional[Path], typer.Option()] = None) -> None:
    """Download every model and hub dataset an experiment needs into the local caches."""
    from harness.experiment import load_experiment
    from harness.prefetch import prefetch_experiment

    catalog = State.catalog()
    exp = load_experiment(catalog.experiment_path(experiment), catalog)
    for line in prefetch_experiment(catalog, exp, data_dir, say=console.print):
        console.print(line)


# -- plugins -------------------------------------------------------------------------------------
@app.command()
def plugins() -> None:
    """Every plugin with its distribution, version, status and the hooks it implements."""
    catalog = State.catalog()
    table = Table("plugin", "distribution", "version", "status", "hooks")
    for info in catalog.host.plugin_infos():
        status = {"loaded": "[green]loaded[/]", "blocked": "[yellow]blocked[/]"}.get(info.status, "[red]failed[/]")
        table.add_row(info.name, info.distribution, info.version, status, ", ".join(h.removeprefix("stilts_") for h in info.hooks))
    console.print(table)
    for info in catalog.host.plugin_infos():
        if info.error:
            console.print(f"[red]{escape(info.error)}[/]")
    registered = Table("kind", "name", "plugin", "description")
    for kind, entries in (("task type", catalog.task_type_entries), ("adapter", catalog.adapter_entries),
                          ("metric", catalog.metric_entries), ("data format", catalog.format_entries),
                          ("translation provider", catalog.translator_entries)):
        for entry in entries.values():
            registered.add_row(kind, entry.name, entry.plugin, entry.description)
    console.print(registered)


# -- tasks ---------------------------------------------------------------------------------------
@tasks_app.command("list")
def tasks_list() -> None:
    """Every task spec: name, type, role, languages."""
    catalog = State.catalog()
    table = Table("task", "type", "role", "train", "eval languages", "plugin")
    for spec in catalog.tasks.values():
        langs = spec.eval_languages
        shown = ", ".join(langs[:8]) + (f" ... ({len(langs)})" if len(langs) > 8 else "")
        table.add_row(spec.name, spec.task_type, spec.role, spec.train_language or "-", shown, spec.plugin)
    console.print(table)
    for file, error in catalog.invalid_specs.items():
        err_console.print(f"[red]invalid spec {escape(file)}[/]\n{escape(str(error))}")


@tasks_app.command("show")
def tasks_show(name: str, data_dir: Annotated[Optional[Path], typer.Option()] = None) -> None:
    """A task's spec and which of its sources are available on this machine."""
    from harness.data import DataResolver

    catalog = State.catalog()
    spec = catalog.task(name)
    console.print(f"[bold]{spec.name}[/] v{spec.version} ({spec.task_type}, role {spec.role}) from {spec.path}")
    if spec.description:
        console.print(spec.description)
    resolver = DataResolver(catalog, data_dir)
    table = Table("split", "language", "source used", "local", "where")
    splits = [("train", spec.train_language), ("dev", spec.train_language)] if spec.train_language else []
    per_language = [(split, lang) for split in ("eval", "tune", "translate_train") for lang in spec.eval_languages]
    for split, lang in splits + per_language:
        if not resolver.plans(spec, split, lang):
            continue
        plan = resolver.plan(spec, split, lang)
        local = next((p for p in resolver.plans(spec, split, lang) if p.kind == "local"), None)
        table.add_row(split, lang, plan.kind if plan else "-", "yes" if local and local.available_locally else "no",
                      plan.describe() if plan else "no source")
    console.print(table)
    console.print_json(json.dumps(spec.data))


@tasks_app.command("validate")
def tasks_validate(paths: Annotated[list[Path], typer.Argument(help="Spec files or folders.")]) -> None:
    """Validate spec files: every error with file, JSON pointer, bad value and what was expected."""
    from harness.registry import _spec_files

    catalog = State.catalog()
    failed = 0
    for path in paths:
        for file in _spec_files(path):
            try:
                spec = catalog.load_spec(file)
            except SpecError as exc:
                failed += 1
                for issue in exc.issues:
                    console.print(f"[red]✗[/] {escape(str(issue))}")
                continue
            console.print(f"[green]✓[/] {file}: task {spec.name!r} is valid")
    if failed:
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
    console.print(f"leaderboard: {index.resolve()}")


def main() -> None:
    try:
        app()
    except StiltsError as exc:
        err_console.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]: finished stages are kept; run the same command again to resume.")
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
