"""Experiment files: validation, model resolution, hyperparameter resolution, cells.

An experiment expands to cells, one per (intermediate task, target task, seed); the
intermediate ``"none"`` is the no-intermediate baseline.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import SpecError, SpecIssue, UnknownNameError
from harness.interfaces import ModelRef
from harness.model_packages import ModelPackageError, package_model_folder
from harness.registry import Catalog
from harness.specs import load_validated, validate_data
from harness.tasks import TaskSpec, content_hash

BASELINE = "none"

#: stilts' own defaults; the task spec's recipe and the experiment override them, in that order.
TRAINING_DEFAULTS: dict[str, Any] = {
    "epochs": 2,
    "batch_size": 32,
    "eval_batch_size": 64,
    "learning_rate": 1e-5,
    "warmup_ratio": 0.1,
    "weight_decay": 0.0,
    "max_length": 128,
    "gradient_accumulation_steps": 1,
    "precision": "auto",
    "length_grouping": True,
    "method": {"kind": "full"},
    "checkpoint_every": 500,
    "selection": "english_dev",
}

#: Settings that change how a stage runs but not what it computes: left out of stage hashes.
NOT_HASHED = ("checkpoint_every",)


def hashed_training(config: dict[str, Any]) -> dict[str, Any]:
    """The part of a resolved training config that identifies a stage's output."""
    return {key: value for key, value in config.items() if key not in NOT_HASHED}


#: Filled in for a LoRA method so that the stage hash and the result state every value used.
LORA_DEFAULTS: dict[str, Any] = {"r": 8, "alpha": 16, "dropout": 0.1}


def resolve_method(method: dict[str, Any]) -> dict[str, Any]:
    """The method with its defaults filled in (``target_modules`` stays absent: the adapter picks)."""
    if method.get("kind") == "lora":
        return {"kind": "lora", **LORA_DEFAULTS, **method}
    return dict(method)


def method_label(method: dict[str, Any]) -> str:
    """Short name of a method for cell ids and the leaderboard: ``full``, ``lora-r8``."""
    method = resolve_method(method)
    if method["kind"] == "lora":
        return f"lora-r{method['r']}"
    return str(method["kind"])


def entry_name(item: str | dict[str, Any], key: str) -> str:
    """The name of an experiment list entry: the string itself, or the object's ``key``
    (``"name"`` for intermediate groups, ``"task"`` for targets)."""
    return item if isinstance(item, str) else item[key]


@dataclass(frozen=True)
class Target:
    task: str
    languages: tuple[str, ...] | None = None
    training: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Cell:
    """One path through the pipeline: [intermediate] -> target, for one seed."""

    intermediate: str
    target: Target
    seed: int

    def id(self, model_label: str, method: str) -> str:
        """A file-name-safe id: ``model__method__intermediate__target__seedN``, characters
        outside ``[A-Za-z0-9._-]`` replaced by ``-``; an id longer than 150 characters keeps its
        first 130 and a digest of the whole, so it stays unique and fits every file system."""
        raw = f"{model_label}__{method}__{self.intermediate}__{self.target.task}__seed{self.seed}"
        safe = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "-" for c in raw)
        if len(safe) > 150:
            safe = f"{safe[:130]}-{content_hash(raw, length=16)}"
        return safe


@dataclass
class Experiment:
    path: Path
    data: dict[str, Any]

    @property
    def name(self) -> str:
        return self.data["name"]

    @property
    def base_dir(self) -> Path:
        return self.path.resolve().parent

    @property
    def model(self) -> dict[str, Any]:
        return dict(self.data["model"])

    @property
    def model_label(self) -> str:
        return self.model.get("label") or self.model["id"]

    @property
    def intermediate(self) -> list[str]:
        """Intermediate names: tasks, multi-task groups (by their name) and ``none``."""
        return [entry_name(item, "name") for item in self.data.get("intermediate", [BASELINE])]

    @property
    def groups(self) -> dict[str, dict[str, Any]]:
        """Multi-task groups by name (``{"name", "tasks", "sampling", "mlm", "training"}``)."""
        return {item["name"]: item for item in self.data.get("intermediate", []) if isinstance(item, dict)}

    def group_training(self, group: dict[str, Any]) -> dict[str, Any]:
        """A group's hyperparameters: defaults < experiment < intermediate_training < group's own."""
        resolved = {
            **TRAINING_DEFAULTS,
            **self.data.get("training", {}),
            **self.data.get("intermediate_training", {}),
            **group.get("training", {}),
        }
        resolved["method"] = resolve_method(resolved["method"])
        return resolved

    @property
    def targets(self) -> list[Target]:
        out = []
        for item in self.data["targets"]:
            if isinstance(item, str):
                out.append(Target(item))
            else:
                langs = tuple(item["languages"]) if "languages" in item else None
                out.append(Target(item["task"], langs, dict(item.get("training", {}))))
        return out

    @property
    def seeds(self) -> list[int]:
        return list(self.data.get("seeds", [1]))

    @property
    def missing_languages(self) -> str:
        return self.data.get("missing_languages", "error")

    def data_dir(self, override: Path | None = None) -> Path:
        if override:
            return Path(override)
        if "data_dir" in self.data:
            return (self.base_dir / os.path.expanduser(self.data["data_dir"])).resolve()
        return Path(os.environ.get("STILTS_DATA_DIR", "data"))

    def cells(self) -> list[Cell]:
        return [
            Cell(intermediate, target, seed)
            for seed in self.seeds
            for intermediate in self.intermediate
            for target in self.targets
        ]

    def restricted(
        self, intermediate: list[str] | None, targets: list[str] | None, seeds: list[int] | None = None
    ) -> Experiment:
        """The same experiment limited to some intermediate and target tasks and seeds (e.g. one
        tox cell, or the seeds done so far)."""
        data = dict(self.data)
        if seeds:
            unknown_seeds = [seed for seed in seeds if seed not in self.seeds]
            if unknown_seeds:
                raise UnknownNameError(f"seed of experiment {self.name!r}", str(unknown_seeds[0]), map(str, self.seeds))
            data["seeds"] = [seed for seed in self.seeds if seed in seeds]
        for kind, names, current in (
            ("intermediate", intermediate, self.intermediate),
            ("targets", targets, [t.task for t in self.targets]),
        ):
            if not names:
                continue
            unknown = [n for n in names if n not in current]
            if unknown:
                raise UnknownNameError(f"{kind} task of experiment {self.name!r}", unknown[0], current)
            if kind == "intermediate":
                data[kind] = [
                    item for item in self.data.get("intermediate", [BASELINE]) if entry_name(item, "name") in names
                ]
            else:
                data[kind] = [item for item in self.data["targets"] if entry_name(item, "task") in names]
        return Experiment(self.path, data)

    def for_cell(self, cell: Cell) -> dict[str, Any]:
        """This experiment's data limited to one cell (what ``stilts rerun`` runs again)."""
        data = dict(self.data)
        data["intermediate"] = [self.groups.get(cell.intermediate, cell.intermediate)]
        data["targets"] = [item for item in self.data["targets"] if entry_name(item, "task") == cell.target.task]
        data["seeds"] = [cell.seed]
        return data

    def model_ref(self, catalog: Catalog | None = None) -> ModelRef:
        """The model to start from: a folder built by a model source (needs ``catalog``), a
        package-shipped folder, a local folder, or a hub id."""
        model = self.model
        path = None
        if "source" in model:
            if catalog is None:
                raise ValueError("a model with a 'source' needs the catalog to resolve it")
            from harness.model_sources import materialized_folder

            problem = catalog.model_source(model["source"]).missing(model)
            if problem:
                raise SpecError([SpecIssue(str(self.path), "/model/source", repr(model["source"]), problem)])
            path = materialized_folder(catalog, model)
        elif "package" in model:
            try:
                path = package_model_folder(model["package"], model.get("folder"))
            except ModelPackageError as exc:
                raise SpecError(
                    [SpecIssue(str(self.path), "/model/package", repr(model["package"]), str(exc))]
                ) from None
        if path is None:
            candidate = self.base_dir / os.path.expanduser(model["id"])
            if candidate.is_dir():
                path = candidate
        return ModelRef(
            str(path) if path else model["id"], model.get("revision"), bool(model.get("trust_remote_code", False))
        )

    def task(self, catalog: Catalog, name: str) -> TaskSpec:
        """The task spec, with the experiment's source override applied."""
        spec = catalog.task(name)
        override = self.data.get("sources", {}).get(name)
        return spec.with_sources(override, self.base_dir) if override else spec

    def training(self, task: TaskSpec, stage: str, target: Target | None = None) -> dict[str, Any]:
        """Resolved hyperparameters: defaults < spec recipe < experiment < stage-specific."""
        resolved = {**TRAINING_DEFAULTS, **task.recipe, **self.data.get("training", {})}
        if stage == "intermediate":
            resolved.update(self.data.get("intermediate_training", {}))
        elif target is not None:
            resolved.update(target.training)
        resolved["method"] = resolve_method(resolved["method"])
        return resolved

    def cell_method(self, target_cfg: dict[str, Any]) -> str:
        """A cell's method label: :meth:`method_label` plus ``+target-dev`` when the target
        selects its checkpoint on target-language dev data (not zero-shot)."""
        return self.method_label(target_cfg["method"]) + (
            "+target-dev" if target_cfg["selection"] == "target_dev" else ""
        )

    def cell_config(self, catalog: Catalog, cell: Cell) -> dict[str, Any]:
        """What a cell runs, known before it runs: the model, seed, intermediate task (or group)
        and target task with their resolved hyperparameters. Results store it under ``config``
        (with what the run found added: fingerprints, dev scores, languages), and ``stilts
        rerun`` checks a result's stored experiment against it."""
        config: dict[str, Any] = {"model": self.model, "seed": cell.seed}
        group = self.groups.get(cell.intermediate)
        if group is not None:
            config["intermediate"] = {"group": group, "training": self.group_training(group)}
        elif cell.intermediate != BASELINE:
            task = self.task(catalog, cell.intermediate)
            config["intermediate"] = {
                "task": task.name,
                "version": task.version,
                "training": self.training(task, "intermediate"),
            }
        target = self.task(catalog, cell.target.task)
        config["target"] = {
            "task": target.name,
            "version": target.version,
            "training": self.training(target, "target", cell.target),
            "task_options": target.task_options,
        }
        return config

    def method_label(self, target_method: dict[str, Any] | None = None) -> str:
        """The method part of a cell id: the target stage's method (``target_method``, else the
        experiment's), preceded by the intermediate stages' when that differs (``lora-r8>full``)."""
        shared = self.data.get("training", {}).get("method", TRAINING_DEFAULTS["method"])
        inter = self.data.get("intermediate_training", {}).get("method", shared)
        label = method_label(target_method or shared)
        return label if method_label(inter) == label else f"{method_label(inter)}>{label}"


def load_experiment(path: Path, catalog: Catalog, data: dict[str, Any] | None = None) -> Experiment:
    """Validate an experiment file against its schema and the catalog (tasks, roles).

    ``data`` given: validate that instead of reading ``path`` (a result's stored experiment);
    ``path`` still anchors relative paths.
    """
    path = Path(path)
    if data is None:
        data = load_validated(path, "experiment")
    else:
        validate_data(data, "experiment", f"{path} (as stored in a result)")
    experiment = Experiment(path, data)
    issues: list[SpecIssue] = []

    def check(pointer: str, name: str, role: str | None) -> None:
        try:
            spec = catalog.task(name)
        except UnknownNameError as exc:
            issues.append(SpecIssue(str(path), pointer, repr(name), "a known task" + exc.hint))
            return
        except SpecError as exc:
            issues.append(SpecIssue(str(path), pointer, repr(name), f"a valid task spec ({exc.issues[0]})"))
            return
        if role and not spec.can_be(role):
            issues.append(
                SpecIssue(str(path), pointer, repr(name), f"a task whose role allows {role!r} (it is {spec.role!r})")
            )

    for i, name in enumerate(experiment.intermediate):
        group = experiment.groups.get(name)
        if group is None and name != BASELINE:
            check(f"/intermediate/{i}", name, "intermediate")
        elif group is not None:
            if name == BASELINE or name in catalog.tasks:
                issues.append(
                    SpecIssue(
                        str(path),
                        f"/intermediate/{i}/name",
                        repr(name),
                        "a group name that is not 'none' and not a task's name",
                    )
                )
            for j, task_name in enumerate(group["tasks"]):
                check(f"/intermediate/{i}/tasks/{j}", task_name, "intermediate")
            method = experiment.group_training(group)["method"]
            if method.get("kind", "full") != "full":
                issues.append(
                    SpecIssue(
                        str(path),
                        f"/intermediate/{i}",
                        f"method {method['kind']!r} for group {name!r}",
                        "method kind 'full': multi-task groups train one shared encoder in full "
                        "(LoRA inside a group is not supported; set the group's training.method)",
                    )
                )
            provider = group.get("translate", {}).get("provider")
            if provider and provider not in catalog.translator_entries:
                err = UnknownNameError("translation provider", provider, catalog.translator_entries)
                issues.append(
                    SpecIssue(
                        str(path),
                        f"/intermediate/{i}/translate/provider",
                        repr(provider),
                        f"a registered translation provider ({', '.join(err.known) or 'none installed'})",
                    )
                )
            mlm = group.get("mlm", {})
            if "text_from" in mlm:
                check(f"/intermediate/{i}/mlm/text_from/task", mlm["text_from"]["task"], None)
            elif mlm:
                check(f"/intermediate/{i}/mlm/task", mlm.get("task", "mlm"), "intermediate")
    for i, target in enumerate(experiment.targets):
        check(f"/targets/{i}", target.task, "target")
    for name, sources in data.get("sources", {}).items():  # overrides get a spec's source checks
        check(f"/sources/{name}", name, None)
        task = experiment.task(catalog, name) if name in catalog.tasks else None
        for kind, source in sources.items():
            issues.extend(catalog.source_issues(str(path), f"/sources/{name}", kind, source, task))
    source = experiment.model.get("source")
    if source and source not in catalog.model_source_entries:
        err = UnknownNameError("model source", source, catalog.model_source_entries)
        issues.append(
            SpecIssue(
                str(path),
                "/model/source",
                repr(source),
                f"a registered model source{err.hint or ''} ({', '.join(err.known) or 'none installed'})",
            )
        )
    if "package" in experiment.model:
        try:
            experiment.model_ref()
        except SpecError as exc:
            issues.extend(exc.issues)
    adapter = experiment.model.get("adapter")
    if adapter and adapter not in catalog.adapter_entries:
        err = UnknownNameError("model adapter", adapter, catalog.adapter_entries)
        issues.append(
            SpecIssue(str(path), "/model/adapter", repr(adapter), f"a registered adapter ({', '.join(err.known)})")
        )
    if issues:
        raise SpecError(issues)
    return experiment
