"""``stilts lock EXPERIMENT``: pin every hub dataset and model the experiment reads.

Each hub split a run of the experiment would read (the same list the preflight checks,
:func:`harness.needs.experiment_needs`) is resolved afresh, against the mirror or the hub, to the
commit its revision names now, and the dataset's card at that commit is read and recorded with
it. Every request is checked against those cards first: a lock is written only for an experiment
whose configs, splits, columns and labels the cards confirm. Splits served by local files are not
locked: they are keyed by their files' digests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.data import DataResolver
from harness.errors import MissingResourcesError, StiltsError
from harness.experiment import Experiment
from harness.hub import HubAccess
from harness.hub_mirror import mirror_from_env
from harness.lockfile import LockedRepo, LockFile, lock_path_for
from harness.needs import experiment_needs
from harness.registry import Catalog
from harness.run_context import pinned_model
from harness.tasks import TaskSpec


class LockRefusedError(StiltsError):
    """The cards contradict what the experiment requests, or something cannot be pinned."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            f"no lock written: {len(problems)} problem(s):\n" + "\n".join(f"  - {one}" for one in problems)
        )


def lock_experiment(
    catalog: Catalog, experiment: Experiment, data_dir: Path | None = None, output: Path | None = None
) -> LockFile:
    """Resolve and check everything ``experiment`` reads from the hub; return the lock (not
    saved yet) or raise :class:`LockRefusedError` naming every problem."""
    hub = HubAccess(mirror_from_env())  # a fresh resolution: an existing lock is what is being replaced
    resolver = DataResolver(catalog, experiment.data_dir(data_dir), hub)
    path = output or lock_path_for(experiment.path)
    lock = LockFile(path, experiment=experiment.path.name, resolved_from=hub.describe())
    problems: list[str] = []
    model = experiment.model
    if "source" not in model and "package" not in model:
        try:
            ref = pinned_model(hub, experiment.model_ref(catalog))
            if not ref.is_local and ref.revision:
                lock.add(LockedRepo("model", ref.id, model.get("revision"), ref.revision))
        except MissingResourcesError as exc:
            problems += exc.missing
        except StiltsError as exc:
            problems.append(str(exc))
    for need in experiment_needs(catalog, experiment):
        plan = resolver.plan(need.task, need.split, need.lang)
        if plan is None or plan.kind != "hub":
            continue
        if plan.problem:
            problems.append(f"task {need.task.name!r} split {need.split!r} language {need.lang!r}: {plan.problem}")
            continue
        problems += resolver.hub_problems(need.task, need.split, need.lang)
        for part in plan.hub_parts:
            if lock.get("dataset", part["dataset"], part.get("revision")) is None:
                card = hub.card_at(part["dataset"], part["commit"])
                lock.add(LockedRepo("dataset", part["dataset"], part.get("revision"), part["commit"], card))
    for group in experiment.groups.values():
        tasks = [experiment.task(catalog, name) for name in group["tasks"]]
        problems += lock_translation_models(catalog, resolver, lock, group, tasks)
    if problems:
        raise LockRefusedError(list(dict.fromkeys(problems)))
    return lock


def lock_translation_models(
    catalog: Catalog, resolver: DataResolver, lock: LockFile, group: dict[str, Any], tasks: list[TaskSpec]
) -> list[str]:
    """Pin every hub model the group's translation provider translates with (for each task and
    language without translated files); the problems found."""
    translate = group.get("translate") or {}
    if not translate.get("provider"):
        return []
    provider, options = catalog.translator(translate["provider"]), translate.get("options", {})
    problems: list[str] = []
    for task in tasks:
        for lang in translate["languages"]:
            if not resolver.missing(task, "translate_train", lang):
                continue  # translated files: read, not translated
            named = provider.model_for(options, task.train_language or "en", lang)
            if named is None or Path(named[0]).expanduser().is_dir():
                continue  # no model, or a local folder (keyed by its bytes)
            try:
                pin = resolver.hub.pin("model", named[0], named[1], use_lock=False)
            except MissingResourcesError as exc:
                problems += exc.missing
                continue
            except StiltsError as exc:
                problems.append(str(exc))
                continue
            if lock.get("model", named[0], named[1]) is None:
                lock.add(LockedRepo("model", named[0], named[1], pin.commit))
    return problems
