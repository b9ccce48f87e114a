"""Download what an experiment needs (model and hub datasets) so later runs work offline."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from harness.data import DataResolver, load_hub_split
from harness.experiment import BASELINE, Experiment
from harness.registry import Catalog
from harness.tasks import TaskSpec


def needed_splits(catalog: Catalog, exp: Experiment) -> Iterator[tuple[TaskSpec, str, str]]:
    """(task spec, split, language) for every split any cell of ``exp`` reads."""
    for name in exp.intermediate:
        if name != BASELINE:
            task = exp.task(catalog, name)
            yield task, "train", task.train_language or "en"
            yield task, "dev", task.train_language or "en"
    for target in exp.targets:
        task = exp.task(catalog, target.task)
        if catalog.task_type(task.task_type).trainable:
            yield task, "train", task.train_language or "en"
            yield task, "dev", task.train_language or "en"
        for lang in target.languages or task.eval_languages:
            yield task, "eval", lang


def prefetch_experiment(catalog: Catalog, exp: Experiment, data_dir: Path | None,
                        say: Callable[[str], None] = print) -> Iterator[str]:
    ref = exp.model_ref()
    if ref.is_local:
        yield f"model: local folder {ref.id}"
    else:
        from huggingface_hub import snapshot_download

        say(f"downloading model {ref.id} ...")
        yield f"model: cached at {snapshot_download(ref.id, revision=ref.revision)}"
    resolver = DataResolver(catalog, exp.data_dir(data_dir))
    for task, split, lang in needed_splits(catalog, exp):
        plan = resolver.plan(task, split, lang)
        if plan is None:
            if resolver.plans(task, split, lang):
                yield f"{task.name}/{split}/{lang}: no source available"
            continue
        if plan.kind == "local":
            yield f"{task.name}/{split}/{lang}: local {plan.describe()}"
            continue
        say(f"downloading {plan.describe()} ...")
        load_hub_split(plan)
        yield f"{task.name}/{split}/{lang}: cached {plan.describe()}"
