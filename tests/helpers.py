"""Small helpers shared by tests (fixtures live in conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path

from harness import hookimpl


def write_json(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def pair_spec(name: str = "my-task", files: dict[str, str] | None = None, **changes: object) -> dict:
    """A valid pair-classification task spec (en train, en/de eval) with a local TSV source
    reading ``files`` (default ``train.tsv`` and ``test-{lang}.tsv``); ``changes`` replace keys."""
    data: dict = {
        "name": name,
        "version": "1",
        "task_type": "pair_classification",
        "role": "target",
        "languages": {"train": "en", "eval": ["en", "de"]},
        "labels": ["no", "yes"],
        "metrics": ["accuracy"],
        "sources": {
            "local": {
                "format": "tsv",
                "options": {"columns": ["text_a", "text_b", "label"]},
                "files": files or {"train": "train.tsv", "eval": "test-{lang}.tsv"},
            }
        },
    }
    data.update(changes)
    return data


class SpecFolder:
    """An in-process plugin contributing one folder of task specs."""

    def __init__(self, folder: Path):
        self.folder = folder

    @hookimpl
    def stilts_task_spec_paths(self) -> list[Path]:
        return [self.folder]


def catalog_with_specs(folder: Path, name: str = "test-specs"):
    """The installed plugins plus ``folder``'s specs."""
    from harness.plugins import load_plugins
    from harness.registry import Catalog

    return Catalog(load_plugins(extra=[(name, SpecFolder(folder))]))


def make_pipeline(catalog, experiment: Path, tmp_path: Path, **kwargs):
    """A quiet pipeline for ``experiment`` with its runs and results under ``tmp_path``."""
    from harness.experiment import load_experiment
    from harness.pipeline import Pipeline
    from harness.progress import SilentReporter

    kwargs.setdefault("reporter", SilentReporter())
    return Pipeline(
        catalog,
        load_experiment(experiment, catalog),
        runs_dir=tmp_path / "runs",
        results_dir=tmp_path / "results",
        **kwargs,
    )


QUICKSTART_DATA = Path(__file__).resolve().parents[1] / "plugins" / "quickstart" / "data"


#: The module a broken target's LoRA method names: no model has it, so its stage fails when it starts.
MISSING_MODULE = "no_such_module"
#: What the failure says (peft's error names the ``target_modules`` setting, not the module).
TRAINING_FAILURE = "target_modules"


def broken_training_experiment(tiny_experiment: Path, tmp_path: Path) -> Path:
    """The tiny experiment cut to a qs-paws target whose training fails once its stage runs (its
    LoRA method names a module the model does not have: nothing the preflight can see) and a
    qs-tatoeba target that trains nothing, with intermediate ``none``. :func:`repair_training`
    makes it trainable."""
    import json

    experiment = json.loads(tiny_experiment.read_text())
    experiment["intermediate"] = ["none"]
    experiment["targets"] = [
        {
            "task": "qs-paws",
            "languages": ["en"],
            "training": {"method": {"kind": "lora", "target_modules": [MISSING_MODULE]}},
        },
        {"task": "qs-tatoeba", "languages": ["de"]},
    ]
    return write_json(tmp_path / "broken.json", experiment)


def repair_training(broken: Path) -> None:
    """The experiment of :func:`broken_training_experiment` with its qs-paws target trainable."""
    import json

    experiment = json.loads(broken.read_text())
    del experiment["targets"][0]["training"]
    write_json(broken, experiment)
