"""Before any training: check that every model and data split an experiment needs is there."""

from __future__ import annotations

from pathlib import Path

from harness.data import parse_rows
from harness.errors import DataError, MissingResourcesError, StiltsError
from harness.interfaces import ModelRef
from harness.needs import SplitNeed, experiment_needs
from harness.record_checks import records_problem
from harness.run_context import RunContext


def preflight(ctx: RunContext, *, read_files: bool = True) -> list[str]:
    """Check every model and data split the experiment of ``ctx`` needs before any training.
    (Result file names need no check: names are bounded by the schemas and cell ids by
    :meth:`~harness.experiment.Cell.id`.)

    Returns the list of problems (empty when all is there). Evaluation languages without data are
    skipped instead (recorded in ``ctx.skipped``) when the experiment says ``missing_languages:
    skip``. Local evaluation, tune and dev files are read in full here, so a malformed line fails
    now, naming its file and line, not after hours of training (``read_files=False``: only
    whether they exist, as ``stilts plan`` checks).
    """
    problems: list[str] = []
    model = ctx.experiment.model
    source = model.get("source")
    missing_source = ctx.catalog.model_source(source).missing(model) if source else None
    if missing_source:
        problems.append(f"model source {source!r}: {missing_source}")
    elif not source:
        problems += model_problems(ctx)
    for need in experiment_needs(ctx.catalog, ctx.experiment):
        problems += ctx.resolver.hub_problems(need.task, need.split, need.lang)
        if need.optional and not ctx.resolver.plans(need.task, need.split, need.lang):
            continue
        problem = ctx.resolver.missing(need.task, need.split, need.lang)
        if problem and need.split == "translate_train" and need.provider:
            continue  # the group's provider translates the English records instead
        if problem and need.split == "translate_train":
            problem += f", and {need.used_by} names no translation provider"
        if not problem and read_files and need.split in ("train", "eval", "tune", "dev"):
            problem = check_readable(ctx, need)
            if problem and problem not in ctx.malformed:
                ctx.malformed.append(problem)
        if problem and need.eval_language and ctx.experiment.missing_languages == "skip":
            skipped = ctx.skipped.setdefault(need.task.name, [])
            if need.lang not in skipped:
                skipped.append(need.lang)
        elif problem:
            problems.append(problem)
    overlaps = overlap_problems(ctx, experiment_needs(ctx.catalog, ctx.experiment))
    ctx.malformed += [one for one in overlaps if one not in ctx.malformed]
    return problems + overlaps


def overlap_problems(ctx: RunContext, needs: list[SplitNeed]) -> list[str]:
    """Evaluation rows that some stage of the experiment trains on: an eval or tune split whose
    rows of a local file overlap the rows another split (a training split, continued-MLM text)
    reads from the same file (e.g. a dropped ``slices`` entry making train and eval one range)."""
    trained: dict[Path, list[tuple[int, float, str]]] = {}
    evaluated: list[tuple[Path, int, float, str]] = []
    for need in needs:
        plan = ctx.resolver.plan(need.task, need.split, need.lang)
        if plan is None or plan.kind != "local":
            continue
        start, stop = parse_rows(plan.rows)
        end = float("inf") if stop is None else float(stop)
        what = f"task {need.task.name!r} split {need.split!r} language {need.lang!r} ({need.used_by})"
        training = need.split in ("train", "translate_train") or "continued MLM" in need.used_by
        for path in plan.files.values():
            if training:
                trained.setdefault(Path(path).resolve(), []).append((start, end, what))
            elif need.split in ("eval", "tune"):
                evaluated.append((Path(path).resolve(), start, end, what))
    problems = []
    for path, start, end, what in evaluated:
        for train_start, train_end, trainer in trained.get(path, []):
            if start < train_end and train_start < end:
                problems.append(
                    f"{what} evaluates rows {_span(start, end)} of {path}, and {trainer} trains on rows "
                    f"{_span(train_start, train_end)} of it: evaluated rows must not be trained on (give both "
                    "splits disjoint 'slices')"
                )
    return problems


def _span(start: int, end: float) -> str:
    return f"{start}:" if end == float("inf") else f"{start}:{int(end)}"


def check_readable(ctx: RunContext, need: SplitNeed) -> str | None:
    """Read a local split in full and check each record against its task type's field kinds;
    the data error (file and line, or record) if it is malformed."""
    plan = ctx.resolver.plan(need.task, need.split, need.lang)
    if plan is None or plan.kind != "local":
        return None
    try:
        loaded = ctx.resolver.load(need.task, need.split, need.lang)
    except DataError as exc:
        return str(exc)
    task_type = ctx.catalog.task_type(need.task.task_type)
    where = f"split {need.split!r} language {need.lang!r} ({plan.describe()})"
    labels = None if need.task.labels_from_train else need.task.labels
    return records_problem(
        need.task.name, where, task_type.field_kinds, labels, loaded.records, task_type.optional_fields
    )


def model_problems(ctx: RunContext) -> list[str]:
    """Why the starting model cannot be used now: it cannot be pinned, or it is a hub model
    neither in the mirror nor (offline) in the local hub cache."""
    try:
        ref = ctx.base_ref
    except MissingResourcesError as exc:
        return list(exc.missing)
    except StiltsError as exc:
        return [str(exc)]
    if not ref.is_local and not ref.snapshot and ctx.offline and not hub_model_cached(ref):
        return [f"model {ref.id!r} (commit {ref.revision}) is not a local folder and not in the hub cache"]
    return []


def hub_model_cached(ref: ModelRef) -> bool:
    """True when the hub model's files are in the local Hugging Face cache."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        snapshot_download(ref.id, revision=ref.revision, local_files_only=True)
    except (LocalEntryNotFoundError, FileNotFoundError):
        return False
    return True
