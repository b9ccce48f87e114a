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
from tests.helpers import pair_spec, write_json


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
    site = install_dist(
        tmp_path / "site",
        "broken-stilts-plugins",
        {
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
        },
        {"broken-import": "broken_import", "raising-hook": "raising_hook", "typo-hook": "typo_hook"},
    )
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


# -- hooks run on pluggy's own machinery -----------------------------------------------------------
def test_wrapper_implementation_runs_and_its_errors_are_named() -> None:
    from harness import hookimpl
    from harness.interfaces import Entry

    class Wrapped:
        @hookimpl
        def stilts_metrics(self):
            return [Entry("wrapped_metric", "x:y", "plain")]

        @hookimpl(wrapper=True, specname="stilts_metrics")
        def add_one(self):
            results = yield
            return [*results, [Entry("added_by_wrapper", "x:z")]]

    class WrapperOnly:
        @hookimpl(wrapper=True)
        def stilts_data_formats(self):
            results = yield
            return results

    class BrokenWrapper:
        @hookimpl(wrapper=True)
        def stilts_metrics(self):
            yield
            raise RuntimeError("wrapper blew up")

    host = load_plugins(
        extra=[("wrapped", Wrapped()), ("wrapper-only", WrapperOnly()), ("broken-wrapper", BrokenWrapper())]
    )
    metrics = host.metrics()
    assert metrics["wrapped_metric"].plugin == "wrapped" and metrics["added_by_wrapper"].plugin == "wrapped"
    assert "accuracy" in metrics  # the others keep working
    assert "tsv" in host.data_formats()
    [failure] = [f for f in host.failures if f.plugin == "broken-wrapper"]
    assert "running hook stilts_metrics" in str(failure) and "wrapper blew up" in str(failure)
    assert "(registered in-process)" in failure.entry_point
    with pytest.raises(PluginError, match="wrapper blew up"):
        load_plugins(strict=True, extra=[("broken-wrapper", BrokenWrapper())]).metrics()
    told: list[PluginError] = []  # failures inside a hook call reach on_failure (the CLI's warning) too
    load_plugins(extra=[("broken-wrapper", BrokenWrapper())], on_failure=told.append).metrics()
    assert [f.plugin for f in told] == ["broken-wrapper"]


def test_firstresult_stops_at_the_first_answer_and_names_a_raising_plugin() -> None:
    from harness import hookimpl

    calls: list[str] = []

    class Second:
        @hookimpl
        def stilts_choose_adapter(self, model):
            calls.append("second")
            return "second"

    class First:
        @hookimpl(tryfirst=True)
        def stilts_choose_adapter(self, model):
            calls.append("first")
            return "first"

    host = load_plugins(extra=[("second", Second()), ("first", First())])
    assert host.choose_adapter({"id": "m"}) == "first"
    assert calls == ["first"]  # the second implementation is not called

    class Raising:
        @hookimpl(tryfirst=True)
        def stilts_choose_adapter(self, model):
            raise RuntimeError("cannot decide")

    host = load_plugins(extra=[("raising", Raising()), ("second", Second())])
    assert host.choose_adapter({"id": "m"}) == "second"
    [failure] = host.failures
    assert failure.plugin == "raising" and "stilts_choose_adapter" in str(failure) and "cannot decide" in str(failure)
    with pytest.raises(PluginError, match="cannot decide"):
        load_plugins(strict=True, extra=[("raising", Raising())]).choose_adapter({"id": "m"})


@pytest.mark.parametrize(
    ("hook", "value", "call", "expected"),
    [
        ("stilts_metrics", "not a list", "metrics", "expected a list of harness.interfaces.Entry"),
        ("stilts_task_types", [("pair", "x:y")], "task_types", "item 0 is ('pair', 'x:y') (tuple)"),
        ("stilts_model_adapters", None, "model_adapters", None),  # None means "nothing": allowed
        ("stilts_task_spec_paths", [42], "task_spec_paths", "expected a path"),
        ("stilts_choose_adapter", 42, "choose_adapter", "expected an adapter name"),
    ],
)
def test_malformed_hook_returns_are_named(hook: str, value: object, call: str, expected: str | None) -> None:
    from harness import hookimpl

    def impl():
        return value

    plugin = type("Malformed", (), {hook: staticmethod(hookimpl(tryfirst=True)(impl))})
    host = load_plugins(extra=[("malformed", plugin())])
    answer = getattr(host, call)(*([{"id": "m"}] if call == "choose_adapter" else []))
    if expected is None:
        assert not host.failures
        return
    [failure] = host.failures
    assert failure.plugin == "malformed" and f"running hook {hook}" in str(failure) and expected in str(failure)
    assert answer  # the other plugins' answers are kept (built-ins, or the hf adapter)
    with pytest.raises(PluginError, match="malformed"):
        getattr(load_plugins(strict=True, extra=[("malformed", plugin())]), call)(
            *([{"id": "m"}] if call == "choose_adapter" else [])
        )


def test_unmarked_stilts_functions_are_reported() -> None:
    from harness import hookimpl
    from harness.interfaces import Entry

    class Forgetful:
        @hookimpl
        def stilts_task_types(self):
            return []

        def stilts_metrics(self):  # no @hookimpl: pluggy would silently skip it
            return [Entry("forgotten", "x:y")]

        def helper(self):  # not a hook name: fine
            return None

    host = load_plugins(extra=[("forgetful", Forgetful())])
    info = {i.name: i for i in host.plugin_infos()}["forgetful"]
    assert info.status == "failed"
    assert "function stilts_metrics looks like a hook but has no @hookimpl marker" in info.error
    assert "forgotten" not in host.metrics()
    with pytest.raises(PluginError, match="no @hookimpl marker"):
        load_plugins(strict=True, extra=[("forgetful", Forgetful())])


@pytest.mark.parametrize(
    ("value", "strict"),
    [
        ("1", True),
        ("true", True),
        ("YES", True),
        (" on ", True),
        ("0", False),
        ("false", False),
        ("No", False),
        ("off", False),
        ("", False),
    ],
)
def test_strict_env_is_parsed_as_a_boolean(value: str, strict: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.plugins import PluginHost

    monkeypatch.setenv("STILTS_STRICT_PLUGINS", value)
    assert PluginHost().strict is strict
    assert PluginHost(strict=not strict).strict is (not strict)  # an explicit argument wins


def test_strict_env_with_another_value_is_a_clean_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.errors import StiltsError
    from harness.plugins import PluginHost

    monkeypatch.setenv("STILTS_STRICT_PLUGINS", "sometimes")
    with pytest.raises(StiltsError, match="STILTS_STRICT_PLUGINS='sometimes' is not a boolean"):
        PluginHost()


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
    write_json(
        site / "acme_stilts" / "specs" / "acme-para.json",
        pair_spec("acme-para", {"train": "../data/train-{lang}.tsv", "eval": "../data/test-{lang}.tsv"}),
    )
    exp = write_json(
        tmp_path / "exp.json",
        {
            "name": "acme",
            "model": {"id": str(tiny_model_dir), "label": "tiny"},
            "targets": ["acme-para"],
            "training": {"epochs": 1, "batch_size": 8, "precision": "fp32"},
        },
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    stilts = [sys.executable, "-c", "from harness.cli import main; main()"]
    listing = subprocess.run(
        [*stilts, "tasks", "list"], check=False, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    assert "acme-para" in listing.stdout and "acme" in listing.stdout
    run = subprocess.run(
        [*stilts, "run", str(exp)], check=False, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads((tmp_path / "results" / "acme" / "tiny__full__none__acme-para__seed1.json").read_text())
    assert set(result["languages"]) == {"en", "de"} and result["languages"]["de"]["n"] == 24
