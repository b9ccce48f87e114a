"""Local repositories in the Hugging Face hub's own format, for the offline proof of the hub path.

A dataset repository is what the hub serves for a parquet dataset: a README card whose YAML
header carries ``configs`` (``data_files`` per split) and ``dataset_info`` (``features`` with
their ClassLabel names, ``splits`` with their sizes), and one parquet file per split under
``<config>/``. The features are the real card's, read from the verified facts shipped in
``task_specs/hub_cards/`` (the fixture refuses a config or split those facts do not list, so a
wrong config name in a spec cannot be papered over by the fixture). Rows are real records from
``../shared/data``, written back into the dataset's own columns. A model repository is a model
folder. Each repository is a git repository committed on ``main``, laid out as a mirror
(``datasets/OWNER/NAME``, ``models/OWNER/NAME``) that stilts reads through ``datasets.load_dataset``
and ``from_pretrained``.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from harness.hub_cards import shipped_facts

GIT = ["git", "-c", "user.name=stilts tests", "-c", "user.email=tests@stilts.invalid", "-c", "init.defaultBranch=main"]


def git_commit(folder: Path, message: str) -> str:
    """Commit everything in ``folder`` (a repository is created the first time); the commit."""
    if not (folder / ".git").exists():
        subprocess.run([*GIT, "init", "-q", str(folder)], check=True)
    subprocess.run([*GIT, "-C", str(folder), "add", "-A"], check=True)
    subprocess.run([*GIT, "-C", str(folder), "commit", "-q", "--allow-empty", "-m", message], check=True)
    done = subprocess.run([*GIT, "-C", str(folder), "rev-parse", "HEAD"], check=True, capture_output=True, text=True)
    return done.stdout.strip()


def card_features(dataset: str, config: str, split: str) -> Any:
    """The ``datasets.Features`` of ``config`` according to the shipped card facts; fails when
    the facts do not list the config, the split or its features."""
    from datasets import Features

    facts = shipped_facts(dataset)
    assert facts is not None, f"no card facts shipped for {dataset}"
    found = facts.configs.get(config)
    assert found is not None, f"{dataset} has no config {config!r} according to its card"
    assert split in found.splits, f"{dataset} config {config} has no split {split!r} according to its card"
    assert found.features is not None, f"the card facts of {dataset} give no features for {config}"
    return Features._from_yaml_list(found.features)


def write_dataset_repo(
    mirror: Path,
    dataset: str,
    tables: dict[str, dict[str, list[dict[str, Any]]]],
    features: dict[str, Any],
    sizes: dict[str, dict[str, int]] | None = None,
) -> str:
    """Write ``tables`` (config -> split -> rows) as the hub repository ``dataset`` under ``mirror``
    with a card in the hub's format; the commit. ``sizes`` (config -> split -> examples): what the
    card says each split holds, where that is not the rows written (a card copied from the real
    one over a sample of its rows)."""
    from datasets import Dataset

    folder = mirror / "datasets" / dataset
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    configs, infos = [], []
    for config, splits in tables.items():
        data_files, split_infos = [], []
        for split, rows in splits.items():
            (folder / config).mkdir(parents=True, exist_ok=True)
            Dataset.from_list(rows, features=features[config]).to_parquet(
                str(folder / config / f"{split}-00000-of-00001.parquet")
            )
            data_files.append({"split": split, "path": f"{config}/{split}-*"})
            size = (sizes or {}).get(config, {}).get(split, len(rows))
            split_infos.append({"name": split, "num_bytes": 0, "num_examples": size})
        configs.append({"config_name": config, "data_files": data_files})
        infos.append({"config_name": config, "features": features[config]._to_yaml_list(), "splits": split_infos})
    header = yaml.safe_dump({"configs": configs, "dataset_info": infos}, sort_keys=False, allow_unicode=True)
    (folder / "README.md").write_text(f"---\n{header}---\n\n# {dataset} (test copy)\n", encoding="utf-8")
    return git_commit(folder, f"{dataset}: parquet test copy")


def write_parquet_export(
    mirror: Path, dataset: str, tables: dict[str, dict[str, list[dict[str, Any]]]], features: dict[str, Any]
) -> str:
    """The hub's parquet export of a script-based dataset: ``refs/convert/parquet`` holding
    ``<config>/<split>/0000.parquet`` and no card, beside a main branch that holds only the
    loading script (which is never run); the export's commit."""
    from datasets import Dataset

    folder = mirror / "datasets" / dataset
    if not folder.exists():
        folder.mkdir(parents=True)
        (folder / f"{dataset.rsplit('/', 1)[-1]}.py").write_text("raise SystemExit('never run')\n", encoding="utf-8")
        (folder / "README.md").write_text(f"---\nlicense: other\n---\n# {dataset}\n", encoding="utf-8")
        git_commit(folder, "main: the loading script")
    export = folder.parent / f".{folder.name}-export"
    if export.exists():
        shutil.rmtree(export)
    for config, splits in tables.items():
        for split, rows in splits.items():
            (export / config / split).mkdir(parents=True)
            Dataset.from_list(rows, features=features[config]).to_parquet(str(export / config / split / "0000.parquet"))
    commit = git_commit(export, "Update parquet files")
    subprocess.run([*GIT, "-C", str(folder), "fetch", "-q", "-f", str(export), "HEAD:refs/convert/parquet"], check=True)
    shutil.rmtree(export)
    return commit


def write_model_repo(mirror: Path, repo: str, model_folder: Path) -> str:
    """The model folder as the hub repository ``repo`` under ``mirror``; the commit."""
    folder = mirror / "models" / repo
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(model_folder, folder, ignore=shutil.ignore_patterns(".*"))
    return git_commit(folder, f"{repo}: test copy")


# -- rows in a dataset's own columns -------------------------------------------------------------
def default_value(feature: Any) -> Any:
    """An empty value of a feature (for columns a task does not read)."""
    from datasets import ClassLabel, Value

    if isinstance(feature, dict):
        return {name: default_value(one) for name, one in feature.items()}
    if isinstance(feature, ClassLabel):
        return 0
    if isinstance(feature, Value):
        return "" if feature.dtype in ("string", "large_string") else 0
    return []


def set_path(row: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".") if key not in row else [key]
    for part in parts[:-1]:
        row = row.setdefault(part, {})
    row[parts[-1]] = value


def hub_rows(catalog: Any, task: Any, records: Sequence[dict[str, Any]], features: Any) -> list[dict[str, Any]]:
    """``records`` (stilts' canonical fields, labels as indices) written back into the columns the
    task's hub source reads them from: the inverse of :func:`harness.data.map_record`. Labels go
    in as their names (a ClassLabel column encodes them by name) or as the column's own type."""
    from datasets import ClassLabel, Value

    task_type = catalog.task_type(task.task_type)
    hub = task.sources["hub"]
    mapping = {**task.fields, **hub.get("fields", {})}
    unmap = {str(v): k for k, v in hub.get("label_map", {}).items()}
    rows = []
    for record in records:
        row = {name: default_value(feature) for name, feature in features.items()}
        for name in task_type.fields:
            if name not in record or (name in task_type.optional_fields and name not in mapping):
                continue
            value = record[name]
            key = mapping.get(name, name)
            if name == "label" and task_type.uses_label_list:
                value = unmap.get(task.labels[value], task.labels[value])
                column = features[key]
                if isinstance(column, Value) and column.dtype.startswith("int"):
                    value = int(value)
                elif not isinstance(column, ClassLabel):
                    value = str(value)
            if isinstance(key, list):
                for one, item in zip(key, value, strict=True):
                    set_path(row, one, item)
            else:
                set_path(row, key, value)
        rows.append(row)
    return rows
