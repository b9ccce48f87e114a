"""What planning, running and writing the results of one experiment share: the catalog, the
experiment, its data resolver, the stage store, the model adapter and the device.

Creating a :class:`RunContext` imports no torch and touches no model: the starting model's folder
is resolved (a model source builds it) only when :attr:`RunContext.base_ref` is first used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from harness.data import DataResolver, SourcePlan, enable_offline_mode, offline_mode
from harness.devices import local_device, planned_precision
from harness.experiment import Experiment, Target
from harness.hub import HubAccess
from harness.interfaces import ModelAdapter, ModelRef, RunSettings
from harness.progress import RunReporter, SilentReporter
from harness.registry import Catalog
from harness.shared_store import STORE_ENV, SharedStore
from harness.stages import StageStore
from harness.tasks import TaskSpec


@dataclass
class RunContext:
    """The shared state of one run. ``device`` None: this machine's (:func:`local_device`)."""

    catalog: Catalog
    experiment: Experiment
    runs_dir: Path
    results_dir: Path
    data_dir: Path | None = None
    offline: bool = False
    device: str = ""
    reporter: RunReporter = field(default_factory=SilentReporter)
    #: evaluation languages skipped for lack of data (``missing_languages: skip``), by task
    skipped: dict[str, list[str]] = field(default_factory=dict)
    #: the preflight's problems that are malformed data (not missing data), one line each
    malformed: list[str] = field(default_factory=list)
    #: processes (GPUs) that train each single-task training stage together, data-parallel; part of
    #: those stages' keys when above 1 (float sums in another order give other weights)
    data_parallel: int = 1
    #: a stage store shared between machines (any fsspec URL or a path; default ``$STILTS_STORE``):
    #: stages are pulled from it instead of built and pushed to it when finished
    store_url: str | None = None

    def __post_init__(self) -> None:
        self.offline = self.offline or offline_mode()
        if self.offline:
            enable_offline_mode()  # --offline reaches every library, not only the preflight
        self.device = self.device or local_device()
        #: pins every hub dataset and model to a commit: the experiment's lock, a mirror, the hub
        self.hub = HubAccess.for_experiment(self.experiment.path, self.offline)
        self.resolver = DataResolver(self.catalog, self.experiment.data_dir(self.data_dir), self.hub)
        self.store_url = self.store_url or os.environ.get(STORE_ENV) or None
        self.store = StageStore(self.runs_dir, SharedStore.open(self.store_url) if self.store_url else None)
        self.results_dir = Path(self.results_dir)
        model = self.experiment.model
        self.adapter_name: str = model.get("adapter") or self.catalog.host.choose_adapter(model) or "hf"

    @cached_property
    def adapter(self) -> ModelAdapter:
        return self.catalog.adapter(self.adapter_name)

    @cached_property
    def base_ref(self) -> ModelRef:
        """The model the experiment starts from (a model source builds its folder on first use);
        a hub model pinned to its commit (:meth:`HubAccess.pin`), read from the mirror if any."""
        return pinned_model(self.hub, self.experiment.model_ref(self.catalog))

    @cached_property
    def base_id(self) -> str:
        """The starting model's identity in stage keys: ``<adapter>:<content fingerprint>``."""
        return f"{self.adapter_name}:{self.adapter.fingerprint(self.base_ref)}"

    def task(self, name: str) -> TaskSpec:
        return self.experiment.task(self.catalog, name)

    def task_key(self, task: TaskSpec) -> dict[str, Any]:
        """What of ``task`` enters stage keys: :meth:`TaskSpec.identity` and the packages (and
        versions) that provide its task type and metrics."""
        return {**task.identity(), "code": self.catalog.code_identity(task)}

    @cached_property
    def adapter_key(self) -> dict[str, str]:
        """The model adapter in stage keys: its name and the package that provides it."""
        return {
            "name": self.adapter_name,
            "code": self.catalog.provider_of(self.catalog.adapter_entries, self.adapter_name),
        }

    def eval_languages(self, task: TaskSpec, target: Target) -> list[str]:
        """The languages a target is evaluated in (the experiment's list, else the spec's)."""
        return list(target.languages) if target.languages else task.eval_languages

    def settings(self, task: TaskSpec, config: dict[str, Any]) -> RunSettings:
        """How ``task`` runs with the resolved hyperparameters ``config`` on this run's device."""
        options = task.task_options
        return RunSettings(
            batch_size=int(options.get("batch_size", config["eval_batch_size"])),
            precision=planned_precision(config["precision"], self.device),
            device=self.device,
            max_length=int(options.get("max_length", config["max_length"])),
            options=options,
        )

    def load_split(self, task: TaskSpec, split: str, lang: str, limit: int | None) -> tuple[list[dict], SourcePlan]:
        """A split's records (at most ``limit``) and the source plan they came from."""
        loaded = self.resolver.load(task, split, lang, limit)
        return loaded.records, loaded.plan


def pinned_model(hub: HubAccess, ref: ModelRef) -> ModelRef:
    """``ref`` with a hub id's revision replaced by the commit it is pinned to (and the mirror's
    snapshot folder); local folders are returned as they are."""
    if ref.is_local:
        return ref
    pin = hub.pin("model", ref.id, ref.revision)
    return replace(ref, revision=pin.commit, snapshot=str(pin.snapshot) if pin.snapshot else None)
