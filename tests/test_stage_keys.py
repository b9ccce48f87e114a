"""Stage keys see every input that determines a stage's output, and nothing else.

One experiment (no intermediate / an NLI intermediate / a multi-task group with continued MLM,
then a paraphrase target evaluated in two languages) is planned once as it is and once per
change, each change to one field of a spec, an experiment or a data file. A change to a field
that determines what a stage computes must change the keys of that stage (and of every stage
built on it); a change to a field that does not (descriptions, citations, licences, display
labels, how results are aggregated) must leave every key as it was. Planning loads no model, so
each variant costs a fraction of a second.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.experiment import load_experiment
from harness.locking import lock_experiment
from harness.plan_report import plan_experiment
from tests.helpers import catalog_with_specs, write_json

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "plugins" / "quickstart"


def base_specs() -> dict[str, dict[str, Any]]:
    """k-nli (intermediate), k-paws (target) and k-mlm (the group's MLM recipe): copies of the
    quickstart specs and of the built-in MLM spec under names of their own."""
    specs = {}
    for name, source in (("k-nli", "qs-nli"), ("k-paws", "qs-paws")):
        data = json.loads((QUICKSTART / "tasks" / f"{source}.json").read_text(encoding="utf-8"))
        specs[name] = {**data, "name": name}
    mlm = json.loads((ROOT / "task_specs" / "mlm.json").read_text(encoding="utf-8"))
    mlm["sources"]["local"]["files"] = {"train": "../data/mlm-{lang}.txt"}
    specs["k-mlm"] = {**mlm, "name": "k-mlm"}
    return specs


def base_experiment(model: Path) -> dict[str, Any]:
    group = {
        "name": "g",
        "tasks": ["k-nli"],
        "sampling": {"kind": "temperature", "temperature": 2},
        "mlm": {"task": "k-mlm", "languages": ["en", "de"], "ratio": 0.5},
    }
    return {
        "name": "keys",
        "description": "stage-key property test",
        "model": {"id": str(model), "label": "tiny"},
        "intermediate": ["none", "k-nli", group],
        "targets": [{"task": "k-paws", "languages": ["en", "de"]}],
        "seeds": [0],
        "training": {
            "epochs": 1,
            "batch_size": 8,
            "learning_rate": 1e-3,
            "max_length": 32,
            "max_train_examples": 16,
            "max_eval_examples": 8,
            "precision": "fp32",
        },
    }


class Variant:
    """A copy of the base specs, data and experiment under ``folder``, planned on demand."""

    def __init__(self, folder: Path, model: Path):
        self.folder = folder
        self.specs = base_specs()
        self.experiment = base_experiment(model)
        shutil.copytree(QUICKSTART / "data", folder / "data")
        for lang, line in (("en", "The cat sat on the mat."), ("de", "Die Katze sitzt auf der Matte.")):
            (folder / "data" / f"mlm-{lang}.txt").write_text(f"{line}\n" * 20, encoding="utf-8")

    def keys(self) -> dict[str, str]:
        """Stage id per (cell, role): ``"k-nli/k-paws target"``, ``"g/k-paws eval:de"``."""
        tasks = self.folder / "tasks"
        tasks.mkdir(exist_ok=True)
        for old in tasks.glob("*.json"):
            old.unlink()
        for name, spec in self.specs.items():
            write_json(tasks / f"{name}.json", spec)
        catalog = catalog_with_specs(tasks)
        path = write_json(self.folder / "experiment.json", self.experiment)
        plan, _, _, _ = plan_experiment(
            catalog, load_experiment(path, catalog), self.folder / "runs", self.folder / "res"
        )
        assert not plan.problems, plan.problems
        out = {}
        for cell in plan.cells:
            tag = f"{cell.cell.intermediate}/{cell.cell.target.task}"  # one seed per variant
            if cell.intermediate:
                out[f"{tag} intermediate"] = cell.intermediate
            assert cell.target is not None
            out[f"{tag} target"] = cell.target
            out.update({f"{tag} eval:{lang}": node for lang, node in cell.evals.items()})
        assert not [node for node in out.values() if node.startswith("?")], plan.nodes
        return out


@pytest.fixture
def variant(tmp_path: Path, tiny_model_dir: Path) -> Callable[[], Variant]:
    count = iter(range(1000))

    def make() -> Variant:
        return Variant(tmp_path / f"v{next(count)}", tiny_model_dir)

    return make


def set_in(data: dict[str, Any], pointer: str, value: Any) -> None:
    """Set ``data[a][b]...`` for the pointer ``a/b/...`` (list indices as numbers)."""
    *path, last = pointer.split("/")
    for part in path:
        data = data[int(part)] if isinstance(data, list) else data[part]
    if isinstance(data, list):
        data[int(last)] = value
    else:
        data[last] = value


def changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    assert before.keys() == after.keys()
    return {stage for stage in before if before[stage] != after[stage]}


ALL_CELLS = ("none/k-paws", "k-nli/k-paws", "g/k-paws")
TARGETS = {f"{cell} {role}" for cell in ALL_CELLS for role in ("target", "eval:en", "eval:de")}
INTERMEDIATES = {"k-nli/k-paws intermediate", "g/k-paws intermediate"}
DOWNSTREAM_OF_NLI = {f"{cell} {role}" for cell in ALL_CELLS[1:] for role in ("target", "eval:en", "eval:de")}
GROUP_ONLY = {f"g/k-paws {role}" for role in ("intermediate", "target", "eval:en", "eval:de")}
EVALS = {stage for stage in TARGETS if " eval:" in stage}
EVERYTHING = TARGETS | INTERMEDIATES

# (what changes, where: "spec:<name>" / "experiment" , JSON pointer, new value, the stages whose keys must change)
DETERMINING: list[tuple[str, str, str, Any, set[str]]] = [
    ("target spec version", "spec:k-paws", "version", "2", TARGETS),
    ("target label order", "spec:k-paws", "labels", ["1", "0"], TARGETS),
    ("target task options", "spec:k-paws", "task_options", {"max_length": 24}, TARGETS),
    ("target column names", "spec:k-paws", "sources/local/options/columns", ["text_b", "text_a", "label"], TARGETS),
    ("target label map", "spec:k-paws", "sources/local/label_map", {"0": "1", "1": "0"}, TARGETS),
    ("target row slice", "spec:k-paws", "sources/local/slices", {"train": "0:40"}, TARGETS),
    ("intermediate spec version", "spec:k-nli", "version", "2", INTERMEDIATES | DOWNSTREAM_OF_NLI),
    (
        "intermediate recipe (every group member)",
        "spec:k-nli",
        "recipe",
        {"warmup_ratio": 0.3},
        INTERMEDIATES | DOWNSTREAM_OF_NLI,
    ),
    ("MLM recipe of the group", "spec:k-mlm", "recipe/warmup_ratio", 0.3, GROUP_ONLY),
    ("MLM task options", "spec:k-mlm", "task_options/mlm_probability", 0.3, GROUP_ONLY),
    ("group sampling", "experiment", "intermediate/2/sampling/temperature", 3, GROUP_ONLY),
    ("MLM ratio", "experiment", "intermediate/2/mlm/ratio", 0.25, GROUP_ONLY),
    ("MLM languages", "experiment", "intermediate/2/mlm/languages", ["en"], GROUP_ONLY),
    ("learning rate", "experiment", "training/learning_rate", 5e-4, EVERYTHING),
    ("epochs", "experiment", "training/epochs", 2, EVERYTHING),
    ("batch size", "experiment", "training/batch_size", 4, EVERYTHING),
    ("max length", "experiment", "training/max_length", 24, EVERYTHING),
    ("training examples", "experiment", "training/max_train_examples", 12, EVERYTHING),
    (
        "evaluation examples (dev sets select checkpoints too)",
        "experiment",
        "training/max_eval_examples",
        6,
        EVERYTHING,
    ),
    ("seed", "experiment", "seeds", [1], EVERYTHING),
    (
        "intermediate training only",
        "experiment",
        "intermediate_training",
        {"learning_rate": 2e-3},
        EVERYTHING - {f"none/k-paws {r}" for r in ("target", "eval:en", "eval:de")},
    ),
]

NOT_DETERMINING: list[tuple[str, str, str, Any]] = [
    ("target description", "spec:k-paws", "description", "another description"),
    ("target citation", "spec:k-paws", "citation", "Someone (2099)."),
    ("target licence", "spec:k-paws", "license", "CC0"),
    ("target homepage", "spec:k-paws", "homepage", "https://example.org/paws"),
    ("target aggregation", "spec:k-paws", "aggregation", {"languages": "all", "mean": "size_weighted"}),
    ("intermediate description", "spec:k-nli", "description", "another"),
    ("MLM spec description", "spec:k-mlm", "description", "another"),
    ("the spec's own evaluation languages", "spec:k-paws", "languages/eval", ["en", "de", "fr", "es", "it"]),
    ("experiment name", "experiment", "name", "renamed"),
    ("experiment description", "experiment", "description", "another"),
    ("model display label", "experiment", "model/label", "shown-as-something-else"),
]


def apply(variant: Variant, where: str, pointer: str, value: Any) -> None:
    target = variant.experiment if where == "experiment" else variant.specs[where.removeprefix("spec:")]
    set_in(target, pointer, copy.deepcopy(value))


def test_each_determining_field_changes_exactly_the_stages_it_determines(variant) -> None:
    base = variant()
    before = base.keys()
    assert before.keys() == {*EVERYTHING}
    for what, where, pointer, value, expected in DETERMINING:
        one = variant()
        apply(one, where, pointer, value)
        assert changed(before, one.keys()) == expected, what


def test_no_non_determining_field_changes_a_key(variant) -> None:
    before = variant().keys()
    for what, where, pointer, value in NOT_DETERMINING:
        one = variant()
        apply(one, where, pointer, value)
        assert changed(before, one.keys()) == set(), what


def test_the_bytes_of_the_data_and_of_the_model_are_in_the_keys(variant, tiny_model_dir: Path, tmp_path: Path) -> None:
    before = variant().keys()

    edited = variant()
    train = edited.folder / "data" / "qs-paws-train-en.tsv"
    lines = train.read_text(encoding="utf-8").splitlines(keepends=True)
    train.write_text("".join([*lines[:3], "edited " + lines[3], *lines[4:]]), encoding="utf-8")  # one sentence
    assert changed(before, edited.keys()) == TARGETS

    model = tmp_path / "model-copy"
    shutil.copytree(tiny_model_dir, model)
    config = json.loads((model / "config.json").read_text(encoding="utf-8"))
    (model / "config.json").write_text(json.dumps({**config, "layer_norm_eps": 1e-7}), encoding="utf-8")
    other = variant()
    other.experiment["model"]["id"] = str(model)
    assert changed(before, other.keys()) == EVERYTHING


def test_the_translation_model_of_translate_train_is_in_the_key(variant, tmp_path: Path, monkeypatch) -> None:
    """A group translating its training data with the seq2seq provider is keyed by the model it
    translates with: a local folder by its bytes, a hub model by the commit it is pinned to."""
    from tests.hub_repos import git_commit, write_model_repo

    def with_translation(model: str) -> Variant:
        one = variant()
        group = {"name": "tt", "tasks": ["k-nli"], "translate": {"languages": ["de"], "provider": "seq2seq"}}
        group["translate"]["options"] = {"model": model}
        one.experiment["intermediate"] = ["none", group]
        return one

    folder = tmp_path / "mt-en-de"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "marian"}', encoding="utf-8")
    local = str(tmp_path / "mt-{source}-{target}")
    before = with_translation(local).keys()
    assert before == with_translation(local).keys()
    (folder / "config.json").write_text('{"model_type": "marian", "d_model": 8}', encoding="utf-8")
    assert changed(before, with_translation(local).keys()) == {
        f"tt/k-paws {role}" for role in ("intermediate", "target", "eval:en", "eval:de")
    }

    mirror = tmp_path / "mirror"
    monkeypatch.setenv("STILTS_HUB_MIRROR", str(mirror))
    write_model_repo(mirror, "Helsinki-NLP/opus-mt-en-de", folder)
    hub = "Helsinki-NLP/opus-mt-{source}-{target}"
    locked = with_translation(hub)
    first = locked.keys()
    catalog = catalog_with_specs(locked.folder / "tasks")
    lock = lock_experiment(
        catalog, load_experiment(locked.folder / "experiment.json", catalog), output=tmp_path / "x.lock.json"
    )
    lock.save()
    (entry,) = [e for e in lock.entries.values() if e.kind == "model"]
    assert entry.repo == "Helsinki-NLP/opus-mt-en-de" and len(entry.commit) == 40

    repo = mirror / "models" / "Helsinki-NLP" / "opus-mt-en-de"
    (repo / "config.json").write_text("{}", encoding="utf-8")
    git_commit(repo, "a new upload")
    assert changed(first, with_translation(hub).keys()) == {
        f"tt/k-paws {role}" for role in ("intermediate", "target", "eval:en", "eval:de")
    }
    monkeypatch.setenv("STILTS_LOCK_FILE", str(tmp_path / "x.lock.json"))
    assert with_translation(hub).keys() == first  # the lock holds the commit it pinned
