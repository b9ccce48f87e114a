"""A validated task spec with typed accessors and the defaults the schema documents."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_AGGREGATION = {"languages": "all", "mean": "macro"}


def canonical_json(data: Any) -> str:
    """The one serialisation used for every content hash."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def content_hash(data: Any, length: int = 16) -> str:
    return hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()[:length]


@dataclass(frozen=True)
class TaskSpec:
    """One task spec as loaded from ``path`` (contributed by ``plugin``)."""

    data: dict[str, Any]
    path: Path
    plugin: str = ""
    #: Folder that relative source paths resolve against (default: the spec's own folder).
    source_dir: Path | None = None

    @property
    def name(self) -> str:
        return self.data["name"]

    @property
    def version(self) -> str:
        return self.data["version"]

    @property
    def task_type(self) -> str:
        return self.data["task_type"]

    @property
    def role(self) -> str:
        return self.data["role"]

    @property
    def description(self) -> str:
        return self.data.get("description", "")

    @property
    def train_language(self) -> str | None:
        return self.data["languages"].get("train")

    @property
    def eval_languages(self) -> list[str]:
        return list(self.data["languages"]["eval"])

    @property
    def labels(self) -> list[str]:
        labels = self.data.get("labels", [])
        return list(labels) if isinstance(labels, list) else []

    @property
    def labels_from_train(self) -> bool:
        """The label list is derived from the training split (``"labels": "from_train"``)."""
        return self.data.get("labels") == "from_train"

    @property
    def metrics(self) -> list[str]:
        return list(self.data["metrics"])

    @property
    def main_metric(self) -> str:
        return self.data.get("main_metric", self.metrics[0])

    @property
    def aggregation(self) -> dict[str, str]:
        return {**DEFAULT_AGGREGATION, **self.data.get("aggregation", {})}

    @property
    def recipe(self) -> dict[str, Any]:
        return dict(self.data.get("recipe", {}))

    @property
    def task_options(self) -> dict[str, Any]:
        return dict(self.data.get("task_options", {}))

    @property
    def sources(self) -> dict[str, Any]:
        return dict(self.data["sources"])

    @property
    def fields(self) -> dict[str, str]:
        return dict(self.data.get("fields", {}))

    @property
    def base_dir(self) -> Path:
        return self.source_dir or self.path.parent

    def can_be(self, role: str) -> bool:
        return self.role in (role, "both")

    def hash(self) -> str:
        """Changes whenever anything in the spec changes (provenance; stage keys use :meth:`identity`)."""
        return content_hash(self.data)

    def identity(self) -> dict[str, Any]:
        """Exactly the part of the spec that determines a stage's output, for stage keys.

        In: name, version, task type, training language, labels, metrics and main metric (they
        select checkpoints and produce scores) and task options. Out: description, licence,
        citation, homepage, ``languages.eval`` (adding an evaluation language must not retrain
        a shared intermediate stage), aggregation (computed in results, not stages), recipe
        (the resolved hyperparameters are keyed on their own) and sources (each split read is
        keyed by its data fingerprint, which covers the file digests and how rows are read).
        """
        return {
            "name": self.name,
            "version": self.version,
            "task_type": self.task_type,
            "train_language": self.train_language,
            "labels": self.data.get("labels"),
            "metrics": self.metrics,
            "main_metric": self.main_metric,
            "task_options": self.task_options,
        }

    def with_labels(self, labels: list[str]) -> TaskSpec:
        """The same task with a concrete label list (derived from training data)."""
        return TaskSpec(
            {**self.data, "labels": list(labels), "labels_derived": True}, self.path, self.plugin, self.source_dir
        )

    def with_sources(self, sources: dict[str, Any], source_dir: Path) -> TaskSpec:
        """The same task reading from other sources (an experiment's ``sources`` override,
        whose relative paths resolve against ``source_dir``, the experiment's folder)."""
        return TaskSpec({**self.data, "sources": sources}, self.path, self.plugin, source_dir)
