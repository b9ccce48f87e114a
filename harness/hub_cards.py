"""What a hub dataset's card says it holds: its configs, each config's splits and features.

The facts are read from the card's YAML header (``configs`` and ``dataset_info``) by the
``datasets`` library's own parsers (:class:`~datasets.utils.metadata.MetadataConfigs` and
:class:`~datasets.info.DatasetInfosDict`), the code ``load_dataset`` itself uses, so a config or
split the facts list is one ``load_dataset`` will find. They come, best first, from the lock file
(the card at the pinned commit, recorded by ``stilts lock``), the card itself (the mirror's clone
or the hub), or the facts verified by hand and shipped in ``task_specs/hub_cards/`` (one JSON per
dataset, with the URL each was read from), which is what ``stilts plan`` checks against offline
before anything is locked.

:func:`check_request` compares one requested (dataset, config, split, columns, labels) with the
facts and says what is wrong in words, with the closest valid names.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from harness.errors import near_names

DEFAULT_CONFIG = "default"
#: ``train[:10%]`` and ``train[100:200]`` name the split ``train``
_SLICE = re.compile(r"\[[^\]]*\]$")


@dataclass(frozen=True)
class ConfigFacts:
    """One config: its splits (name -> number of examples, None when unknown) and its features
    in the card's YAML form (a list of ``{"name": ..., "dtype" | "list" | "struct" | ...}``);
    ``features`` None: the card does not say."""

    splits: dict[str, int | None] = field(default_factory=dict)
    features: list[dict[str, Any]] | None = None

    def to_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {"splits": dict(self.splits)}
        if self.features is not None:
            found["features"] = self.features
        return found


@dataclass(frozen=True)
class CardFacts:
    """The facts of one dataset. ``loadable`` False: the repository holds a loading script, which
    the installed ``datasets`` refuses. ``origin`` says where the facts were read (for messages)."""

    dataset: str
    configs: dict[str, ConfigFacts]
    loadable: bool = True
    origin: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "loadable": self.loadable,
            "configs": {name: config.to_json() for name, config in self.configs.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], origin: str) -> CardFacts:
        configs = {
            name: ConfigFacts(dict(one.get("splits", {})), one.get("features"))
            for name, one in data.get("configs", {}).items()
        }
        return cls(data["dataset"], configs, bool(data.get("loadable", True)), origin)

    def config(self, name: str | None) -> tuple[str | None, ConfigFacts | None]:
        """The facts of config ``name`` (None: the dataset's only or ``default`` config)."""
        if name is None:
            if DEFAULT_CONFIG in self.configs:
                return DEFAULT_CONFIG, self.configs[DEFAULT_CONFIG]
            if len(self.configs) == 1:
                only = next(iter(self.configs))
                return only, self.configs[only]
            return None, None
        return name, self.configs.get(name)


def facts_from_card(dataset: str, readme: str, files: Sequence[str] | None, origin: str) -> CardFacts:
    """Parse a dataset card (README.md text) with ``datasets``' own card parsers. ``files``: the
    repository's file list, when known (a loading script at its root makes it unloadable)."""
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard

    card = DatasetCard(readme)
    metadata = MetadataConfigs.from_dataset_card_data(card.data)
    infos = DatasetInfosDict.from_dataset_card_data(card.data)
    configs: dict[str, ConfigFacts] = {}
    for name in [*metadata, *(n for n in infos if n not in metadata)]:
        info = infos.get(name)
        splits: dict[str, int | None] = {}
        if info is not None and info.splits:
            splits = {split: one.num_examples for split, one in info.splits.items()}
        else:
            splits = {split: None for split in _data_file_splits(metadata.get(name, {}).get("data_files"))}
        features = info.features._to_yaml_list() if info is not None and info.features is not None else None
        configs[name] = ConfigFacts(splits, features)
    script = f"{dataset.rsplit('/', 1)[-1]}.py"
    loadable = not (files is not None and script in files)
    return CardFacts(dataset, configs, loadable, origin)


def _data_file_splits(data_files: Any) -> list[str]:
    """Split names of a ``configs[].data_files`` entry (a path or list of paths means ``train``)."""
    if isinstance(data_files, dict):
        return list(data_files)
    if isinstance(data_files, list) and data_files and all(isinstance(one, dict) for one in data_files):
        return [str(one.get("split", "train")) for one in data_files]
    return ["train"] if data_files else []


def shipped_facts_folder() -> Path:
    return Path(str(resources.files("task_specs") / "hub_cards"))


def shipped_facts(dataset: str) -> CardFacts | None:
    """The facts verified by hand for ``dataset`` and shipped with stilts (None: none shipped)."""
    path = shipped_facts_folder() / f"{dataset.replace('/', '--')}.json"
    if not path.is_file():
        return None
    return CardFacts.from_json(json.loads(path.read_text(encoding="utf-8")), f"the verified card facts in {path}")


PARQUET_EXPORT = "refs/convert/parquet"
"""The branch where the hub keeps its own parquet conversion of a dataset (one folder per config,
one subfolder per split): the way to read a dataset whose main branch still holds a loading script.
Its configs, splits and features are those of the main branch's card."""


# -- checking one request ----------------------------------------------------------------------
def split_names(expression: str) -> list[str]:
    """The split names in a ``datasets`` split expression: ``"train_r1+train_r2[:50%]"``."""
    return [_SLICE.sub("", part.strip()) for part in expression.split("+")]


@dataclass(frozen=True)
class Request:
    """What one source part asks of a dataset: ``columns`` are the keys records are read from
    (dotted keys walk structs); ``label_columns`` map a column to the label names the spec
    expects there after ``label_map`` (None: the spec has no fixed list); ``revision`` is the one the
    spec asks for (the parquet export branch reads a script-based dataset)."""

    dataset: str
    config: str | None
    split: str
    columns: tuple[str, ...] = ()
    label_columns: tuple[tuple[str, tuple[str, ...]], ...] = ()
    label_map: tuple[tuple[str, str], ...] = ()
    dropped: tuple[str, ...] = ()
    revision: str | None = None


def check_request(request: Request, facts: CardFacts) -> list[str]:
    """What is wrong with ``request`` according to ``facts`` (empty: nothing)."""
    where = f"hub dataset {request.dataset}"
    if not facts.loadable and request.revision != PARQUET_EXPORT:
        return [
            f"{where} holds a loading script, which the installed `datasets` refuses ('Dataset scripts are no "
            f"longer supported'); point the spec at a parquet copy of it, or at the hub's own parquet export of it "
            f"(revision {PARQUET_EXPORT!r}) (according to {facts.origin})"
        ]
    name, config = facts.config(request.config)
    if config is None:
        known = sorted(facts.configs)
        if request.config is None:
            return [f"{where} has several configs and the spec names none; its configs: {_listing(known)}"]
        close = near_names(request.config, known)
        hint = f"; closest: {', '.join(close)}" if close else f"; its configs: {_listing(known)}"
        return [f"{where} has no config {request.config!r}{hint} (according to {facts.origin})"]
    problems = []
    label = f"{where} config {name}"
    if config.splits:
        for split in split_names(request.split):
            if split not in config.splits:
                close = near_names(split, config.splits)
                hint = f" (closest: {', '.join(close)})" if close else ""
                problems.append(
                    f"{label} has no split {split!r}{hint}; its splits: {', '.join(config.splits)} "
                    f"(according to {facts.origin})"
                )
    if config.features is None:
        return problems
    features = _features(config.features)
    for column in request.columns:
        if _feature_at(features, column) is None:
            problems.append(
                f"{label} has no column {column!r}; its columns: {', '.join(features)} (according to {facts.origin})"
            )
    mapping = dict(request.label_map)
    for column, expected in request.label_columns:
        names = class_label_names(_feature_at(features, column))
        if names is None:
            continue
        given = [mapping.get(n, n) for n in names if n not in request.dropped]
        if set(given) != set(expected):
            problems.append(
                f"{label} column {column!r} has the labels {given} (ClassLabel names"
                f"{' after label_map' if mapping else ''}), the spec's labels are {list(expected)}; "
                f"missing from the spec: {sorted(set(given) - set(expected))}, "
                f"not in the data: {sorted(set(expected) - set(given))} (according to {facts.origin})"
            )
    return problems


def _listing(names: Iterable[str], most: int = 12) -> str:
    names = list(names)
    return ", ".join(names[:most]) + (f" ... ({len(names)} in all)" if len(names) > most else "")


def _features(yaml_list: list[dict[str, Any]]) -> Any:
    from datasets import Features

    return Features._from_yaml_list(yaml_list)


def _feature_at(features: Any, column: str) -> Any:
    """The feature a (dotted) column key reads, or None."""
    if column in features:
        return features[column]
    value: Any = features
    for part in column.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def class_label_names(feature: Any) -> list[str] | None:
    """The names of a ClassLabel feature, or of the ClassLabel inside a list/sequence feature."""
    from datasets import ClassLabel

    for _ in range(3):
        if isinstance(feature, ClassLabel):
            return list(feature.names)
        feature = getattr(feature, "feature", None)
        if feature is None:
            return None
    return None
