"""Download what an experiment needs (model and hub datasets) so later runs work offline.

The splits come from :func:`harness.needs.experiment_needs`, the same list the offline
preflight checks: multi-task groups, tune splits, translate-train files and MLM text included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from harness.data import DataResolver, load_hub_split
from harness.experiment import Experiment
from harness.hub import HubAccess
from harness.needs import experiment_needs
from harness.registry import Catalog
from harness.run_context import pinned_model


def prefetch_experiment(
    catalog: Catalog, exp: Experiment, data_dir: Path | None, say: Callable[[str], None] = print
) -> Iterator[str]:
    hub = HubAccess.for_experiment(exp.path)
    ref = pinned_model(hub, exp.model_ref(catalog))  # a model source builds its folder here, once
    if ref.is_local:
        yield f"model: local folder {ref.id}"
    elif ref.snapshot:
        yield f"model: {ref.id} at {ref.revision} in the mirror ({ref.snapshot})"
    else:
        from huggingface_hub import snapshot_download

        say(f"downloading model {ref.id} at {ref.revision} ...")
        yield f"model: cached at {snapshot_download(ref.id, revision=ref.revision)}"
    resolver = DataResolver(catalog, exp.data_dir(data_dir), hub)
    for need in experiment_needs(catalog, exp):
        task, split, lang = need.task, need.split, need.lang
        plan = resolver.plan(task, split, lang)
        if plan is None:
            if resolver.plans(task, split, lang) or not need.optional:
                yield f"{task.name}/{split}/{lang}: no source available ({need.used_by})"
            continue
        if plan.kind == "local":
            yield f"{task.name}/{split}/{lang}: local {plan.describe()}"
            continue
        if plan.problem:
            yield f"{task.name}/{split}/{lang}: {plan.problem}"
            continue
        say(f"downloading {plan.describe()} ...")
        load_hub_split(plan)
        yield f"{task.name}/{split}/{lang}: cached {plan.describe()}"
