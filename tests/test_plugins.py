"""Plugins: entry-point loading one by one, broken plugins named, strict mode, blocking, and a
throwaway third-party package whose task is run by `stilts run`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.errors import PluginError
from harness.plugins import load_plugins
from harness.registry import Catalog
from tests.helpers import write_json


def install_dist(site: Path, dist: str, modules: dict[str, str], entry_points: dict[str, str]) -> Path:
    """Write a package and its .dist-info (what pip would produce) into ``site``."""
    site.mkdir(parents=True, exist_ok=True)
    for rel, source in modules.items():
        path = site / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n", encoding="utf-8")
    lines = "\n".join(f"{name} = {value}" for name, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[stilts.plugins]\n{lines}\n", encoding="utf-8")
    return site


@pytest.fixture
def broken_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = install_dist(tmp_path / "site", "broken-stilts-plugins", {
        "broken_import.py": "raise ImportError('no module named missing_dependency')\n",
        "raising_hook.py": """
            from harness import hookimpl
            @hookimpl
            def stilts_metrics():
                raise RuntimeError('boom in hook')
        """,
        "typo_hook.py": """
            from harness import hookimpl
            @hookimpl
            def stilts_task_typez():
                return []
        """,
    }, {"broken-import": "broken_import", "raising-hook": "raising_hook", "typo-hook": "typo_hook"})
    monkeypatch.syspath_prepend(str(site))
    return site


def test_broken_plugins_are_named_and_others_keep_working(broken_site: Path) -> None:
    host = load_plugins()
    infos = {info.name: info for info in host.plugin_infos()}
    assert infos["broken-import"].status == "failed"
    assert "broken-import = broken_import" in infos["broken-import"].error
    assert "missing_dependency" in infos["broken-import"].error
    assert infos["typo-hook"].status == "failed" and "stilts_task_typez" in infos["typo-hook"].error
    catalog = Catalog(host)
    assert "accuracy" in catalog.metric_entries  # the raising plugin did not take the others down
    assert "xnli" in catalog.tasks
    raising = [f for f in host.failures if f.plugin == "raising-hook"]
    assert raising and "running hook stilts_metrics" in str(raising[0]) and "boom in hook" in str(raising[0])


def test_strict_mode_makes_a_broken_plugin_fatal(broken_site: Path) -> None:
    with pytest.raises(PluginError) as info:
        load_plugins(strict=True)
    assert info.value.plugin == "broken-import" and info.value.entry_point == "broken-import = broken_import"


def test_blocking_by_flag_and_env(broken_site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    host = load_plugins(strict=True, blocked=["broken-import", "raising-hook", "typo-hook"])
    assert {i.name: i.status for i in host.plugin_infos()}["broken-import"] == "blocked"
    monkeypatch.setenv("STILTS_BLOCK_PLUGINS", "broken-import,raising-hook,typo-hook,quickstart")
    host = load_plugins(strict=True)
    assert "qs-nli" not in Catalog(host).tasks


def test_cli_plugins_lists_distribution_version_and_hooks(broken_site: Path) -> None:
    from typer.testing import CliRunner

    from harness.cli import app

    result = CliRunner().invoke(app, ["-p", "no:typo-hook", "plugins"])
    assert result.exit_code == 0, result.output
    assert "broken-import" in result.output and "failed" in result.output and "blocked" in result.output
    assert "stilts" in result.output and "task_spec_paths" in result.output


def test_conflicting_names_are_refused(catalog: Catalog) -> None:
    from harness import hookimpl
    from harness.errors import ConflictError
    from harness.interfaces import Entry

    class Dup:
        @hookimpl
        def stilts_metrics(self):
            return [Entry("accuracy", "x:y")]

    host = load_plugins(extra=[("dup", Dup())])
    with pytest.raises(ConflictError, match="'accuracy' is registered by both"):
        host.metrics()


THIRD_PARTY = {
    "acme_stilts/__init__.py": """
        from pathlib import Path
        from harness import hookimpl

        @hookimpl
        def stilts_task_spec_paths():
            return [Path(__file__).parent / "specs"]
    """,
}


def test_third_party_package_task_is_run_by_stilts_run(tmp_path: Path, tiny_model_dir: Path) -> None:
    site = install_dist(tmp_path / "site", "acme-stilts", THIRD_PARTY, {"acme": "acme_stilts"})
    data = site / "acme_stilts" / "data"
    data.mkdir()
    rows = [("a red cat", "a cat that is red", "yes"), ("a red cat", "a blue dog", "no")] * 12
    for name in ("train-en", "test-en", "test-de"):
        (data / f"{name}.tsv").write_text("".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
    write_json(site / "acme_stilts" / "specs" / "acme-para.json", {
        "name": "acme-para", "version": "1", "task_type": "pair_classification", "role": "target",
        "languages": {"train": "en", "eval": ["en", "de"]}, "labels": ["no", "yes"], "metrics": ["accuracy"],
        "sources": {"local": {"format": "tsv", "options": {"columns": ["text_a", "text_b", "label"]},
                              "files": {"train": "../data/train-{lang}.tsv", "eval": "../data/test-{lang}.tsv"}}},
    })
    exp = write_json(tmp_path / "exp.json", {
        "name": "acme", "model": {"id": str(tiny_model_dir), "label": "tiny"}, "targets": ["acme-para"],
        "training": {"epochs": 1, "batch_size": 8, "precision": "fp32"},
    })
    env = {**os.environ, "PYTHONPATH": str(site)}
    stilts = [sys.executable, "-c", "from harness.cli import main; main()"]
    listing = subprocess.run(stilts + ["tasks", "list"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert "acme-para" in listing.stdout and "acme" in listing.stdout
    run = subprocess.run(stilts + ["run", str(exp)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads((tmp_path / "results" / "acme" / "tiny__full__none__acme-para__seed1.json").read_text())
    assert set(result["languages"]) == {"en", "de"} and result["languages"]["de"]["n"] == 24
