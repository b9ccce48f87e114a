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


def broken_training_experiment(tiny_experiment: Path, tmp_path: Path) -> Path:
    """The tiny experiment cut to a qs-paws target whose training file is malformed (its stage
    fails when it reads it; the preflight does not read training files) and a qs-tatoeba target
    that trains nothing, with intermediate ``none``. The broken file is ``tmp_path/paws-train.tsv``."""
    import json

    broken = tmp_path / "paws-train.tsv"
    broken.write_text("only two\tcolumns\n" * 3)
    experiment = json.loads(tiny_experiment.read_text())
    experiment["intermediate"] = ["none"]
    experiment["targets"] = [{"task": "qs-paws", "languages": ["en"]}, {"task": "qs-tatoeba", "languages": ["de"]}]
    experiment["sources"] = {
        "qs-paws": {
            "local": {
                "format": "tsv",
                "options": {"columns": ["text_a", "text_b", "label"]},
                "files": {
                    "train": str(broken),
                    "dev": str(QUICKSTART_DATA / "qs-paws-dev-en.tsv"),
                    "eval": str(QUICKSTART_DATA / "qs-paws-test-{lang}.tsv"),
                },
            }
        }
    }
    return write_json(tmp_path / "broken.json", experiment)
