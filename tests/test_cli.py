"""The `stilts` command: --include-path / STILTS_INCLUDE_PATH, `-p module`, markup-safe output,
untruncated piped tables, --json listings, and `tasks validate` verdicts for every file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from tests.helpers import pair_spec, write_json

MARKUP = "[bold]odd[/]"  # a folder name rich would read as markup (and crash on the closing tag)


def spec(name: str, **changes: object) -> dict:
    """A valid pair-classification task spec with a local TSV source."""
    return pair_spec(name, {"train": "train-{lang}.tsv", "eval": "test-{lang}.tsv"}, **changes)


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(app, list(args), env=env)


def listed_tasks(result) -> dict[str, dict]:
    assert result.exit_code == 0, result.output
    return {task["name"]: task for task in json.loads(result.stdout)["tasks"]}


# -- --include-path, STILTS_INCLUDE_PATH and -p module -------------------------------------------
def test_include_path_option_adds_a_folder_of_specs(tmp_path: Path) -> None:
    folder = tmp_path / "my-specs"
    write_json(folder / "loose-para.json", spec("loose-para"))
    tasks = listed_tasks(invoke("--include-path", str(folder), "tasks", "list", "--json"))
    assert tasks["loose-para"]["plugin"] == "include-path"
    assert tasks["loose-para"]["path"] == str((folder / "loose-para.json").resolve())
    assert "xnli" in tasks  # the installed plugins still contribute theirs

    plugins = json.loads(invoke("--include-path", str(folder), "plugins", "--json").stdout)["plugins"]
    assert {p["name"]: p["status"] for p in plugins}["include-path"] == "loaded"

    missing = invoke("--include-path", str(tmp_path / "nowhere"), "tasks", "list")
    assert missing.exit_code == 2 and "nowhere" in missing.output


def test_include_path_env_is_os_pathsep_separated(tmp_path: Path) -> None:
    write_json(tmp_path / "a" / "env-one.json", spec("env-one"))
    write_json(tmp_path / "b" / "env-two.json", spec("env-two"))
    env = {"STILTS_INCLUDE_PATH": os.pathsep.join([str(tmp_path / "a"), "", str(tmp_path / "b")])}
    tasks = listed_tasks(invoke("tasks", "list", "--json", env=env))
    assert tasks["env-one"]["plugin"] == tasks["env-two"]["plugin"] == "include-path"
    blocked = listed_tasks(invoke("-p", "no:include-path", "tasks", "list", "--json", env=env))
    assert "env-one" not in blocked


def test_p_module_registers_it_as_a_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_json(tmp_path / "specs" / "module-para.json", spec("module-para"))
    (tmp_path / "my_stilts_extras.py").write_text(
        textwrap.dedent(f"""
        from pathlib import Path
        from harness import hookimpl

        @hookimpl
        def stilts_task_spec_paths():
            return [Path({str(tmp_path / "specs")!r})]
    """),
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    tasks = listed_tasks(invoke("-p", "my_stilts_extras", "tasks", "list", "--json"))
    assert tasks["module-para"]["plugin"] == "my_stilts_extras"
    plugins = json.loads(invoke("-p", "my_stilts_extras", "plugins", "--json").stdout)["plugins"]
    mine = {p["name"]: p for p in plugins}["my_stilts_extras"]
    assert mine["status"] == "loaded" and mine["hooks"] == ["stilts_task_spec_paths"]
    assert mine["entry_point"] == "-p my_stilts_extras"


def test_p_module_that_fails_to_import_is_a_clean_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = invoke("-p", "no_such_stilts_extras_module", "tasks", "list")
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert "no_such_stilts_extras_module" in result.output and "Traceback" not in result.output

    (tmp_path / "raising_stilts_extras.py").write_text("raise RuntimeError('half-written module')\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    result = invoke("-p", "raising_stilts_extras", "tasks", "list")
    assert result.exit_code == 2 and "raising_stilts_extras" in result.output and "half-written" in result.output


def test_bad_strict_env_is_a_clean_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from harness.cli import main

    monkeypatch.setenv("STILTS_STRICT_PLUGINS", "maybe")
    monkeypatch.setattr(sys, "argv", ["stilts", "tasks", "list"])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2 and "STILTS_STRICT_PLUGINS='maybe'" in capsys.readouterr().err


# -- output: complete when piped, JSON, markup-safe ----------------------------------------------
def test_piped_tables_are_not_truncated(tmp_path: Path) -> None:
    result = invoke("tasks", "list")  # CliRunner's stdout is not a terminal
    assert result.exit_code == 0, result.output
    assert "commonsenseqa" in result.output and "…" not in result.output
    tatoeba = next(line for line in result.output.splitlines() if " tatoeba " in line)
    assert "af, ar, bg" in tatoeba and "vi, zh" in tatoeba and "..." not in tatoeba

    description = "a description much longer than any terminal " * 8
    (tmp_path / "long_description_plugin.py").write_text(
        textwrap.dedent(f"""
        from harness import hookimpl
        from harness.interfaces import Entry

        @hookimpl
        def stilts_metrics():
            return [Entry("long_metric", "x:y", {description.strip()!r})]
    """),
        encoding="utf-8",
    )
    sys.path.insert(0, str(tmp_path))
    try:
        result = invoke("-p", "long_description_plugin", "plugins")
    finally:
        sys.path.remove(str(tmp_path))
    assert result.exit_code == 0, result.output
    assert description.strip() in result.output


def test_json_listings_have_every_field() -> None:
    tasks = listed_tasks(invoke("tasks", "list", "--json"))
    assert len(tasks["tatoeba"]["eval_languages"]) == 36
    assert set(tasks["xnli"]) >= {
        "name",
        "version",
        "task_type",
        "role",
        "train_language",
        "eval_languages",
        "metrics",
        "plugin",
        "path",
        "description",
    }
    data = json.loads(invoke("plugins", "--json").stdout)
    assert {p["name"]: p for p in data["plugins"]}["hf"]["hooks"] == ["stilts_choose_adapter", "stilts_model_adapters"]
    entry = next(r for r in data["registered"] if r["kind"] == "metric" and r["name"] == "accuracy")
    assert entry["plugin"] and entry["target"]


def fake_build_site(results_dir: Path, out_dir: Path, title: str = "") -> Path:
    """Stands in for the leaderboard (another module's business); the CLI prints its path."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return Path(out_dir) / "index.html"


def test_markup_in_paths_and_specs_is_printed_literally(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.leaderboard

    folder = tmp_path / MARKUP
    write_json(folder / "good.json", spec("markup-task", description="uses [red]tags[/] and [/] freely"))
    write_json(folder / "bad.json", {**spec("bad-task"), "task_type": "[/]"})
    result = invoke("tasks", "validate", str(folder))
    assert result.exit_code == 1, result.output
    assert f"{folder / 'good.json'}: task 'markup-task' is valid" in result.output
    assert f"{folder / 'bad.json'}: at /task_type: got '[/]'" in result.output

    shown = invoke("--include-path", str(folder), "tasks", "show", "markup-task")
    assert shown.exit_code == 0, shown.output
    assert "uses [red]tags[/] and [/] freely" in shown.output and str(folder / "good.json") in shown.output

    monkeypatch.setattr(harness.leaderboard, "build_site", fake_build_site)
    (tmp_path / "results").mkdir()
    site = tmp_path / "[/]site"
    built = invoke("leaderboard", "build", str(tmp_path / "results"), "-o", str(site))
    assert built.exit_code == 0, built.output
    assert str((site / "index.html").resolve()) in built.output


def test_run_output_is_markup_safe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.leaderboard
    import harness.pipeline

    class FakeContext:
        reporter = None

    class FakePlan:
        def to_run(self) -> list[str]:
            return ["abc"]

    class FakePipeline:  # the CLI's own printing, without training anything
        def __init__(self, catalog, exp, **kwargs):
            self.ctx = FakeContext()

        def prepare(self) -> FakePlan:
            return FakePlan()

        def run(self, plan: FakePlan) -> list[Path]:
            log = Path("runs[/]x/target/.abc.partial/log.txt")
            self.reporter = self.ctx.reporter
            self.reporter.stage_started(kind="target", task="[bold]qs-paws[/]", hash="abc", detail="fp32", log=log)
            self.reporter.message("[yellow]a message is not markup[/]", level="warning")
            return []

    monkeypatch.setattr(harness.pipeline, "Pipeline", FakePipeline)
    monkeypatch.setattr(harness.leaderboard, "build_site", fake_build_site)
    exp = write_json(
        tmp_path / MARKUP / "exp.json", {"name": "markup", "model": {"id": "some/model"}, "targets": ["qs-paws"]}
    )
    result = invoke("run", str(exp), "--results-dir", str(tmp_path / "[/]results"), "--site", str(tmp_path / "[/]site"))
    assert result.exit_code == 0, result.output
    assert f"experiment markup ({exp})" in result.output
    assert "runs[/]x/target/.abc.partial/log.txt" in result.output and "target [bold]qs-paws[/]" in result.output
    assert "[yellow]a message is not markup[/]" in result.output
    assert str(tmp_path / "[/]results" / "markup") in result.output
    assert str((tmp_path / "[/]site" / "index.html").resolve()) in result.output


# -- tasks validate: a verdict for every file ----------------------------------------------------
def test_validate_gives_every_file_a_verdict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.registry import Catalog

    good = write_json(tmp_path / "good.json", spec("good-task"))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    crash = write_json(tmp_path / "crash.json", spec("crash-task"))
    later = write_json(tmp_path / "later.json", spec("later-task"))
    original = Catalog.load_spec

    def load_spec(self, file, plugin=""):
        if Path(file).name == "crash.json":
            raise RuntimeError("bug in a semantic check")
        return original(self, file, plugin)

    monkeypatch.setattr(Catalog, "load_spec", load_spec)
    result = invoke("tasks", "validate", str(good), str(broken), str(crash), str(later))
    assert result.exit_code == 1, result.output
    assert f"{good}: task 'good-task' is valid" in result.output
    assert f"{broken}: at /: got invalid JSON" in result.output
    assert f"{crash}: internal error: RuntimeError: bug in a semantic check" in result.output
    assert f"{later}: task 'later-task' is valid" in result.output
    assert "2 of 4 file(s) failed" in result.output

    assert invoke("tasks", "validate", str(good), str(later)).exit_code == 0


def test_validate_refuses_an_empty_folder_and_a_missing_file(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no specs here", encoding="utf-8")
    result = invoke("tasks", "validate", str(tmp_path / "empty"), str(tmp_path / "missing.json"))
    assert result.exit_code == 1, result.output
    assert f"{tmp_path / 'empty'}: folder has no *.json task specs" in result.output
    assert f"{tmp_path / 'missing.json'}: no such file" in result.output


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
def test_validate_does_not_hang_on_files_that_are_not_regular(tmp_path: Path) -> None:
    folder = tmp_path / "specs"
    write_json(folder / "good.json", spec("good-task"))
    os.mkfifo(folder / "pipe.json")
    (folder / "dir.json").mkdir()
    fifo = tmp_path / "lone.fifo"
    os.mkfifo(fifo)
    args = [str(folder), str(fifo)] + (["/dev/zero"] if Path("/dev/zero").exists() else [])
    stilts = [sys.executable, "-c", "from harness.cli import main; main()", "tasks", "validate"]
    result = subprocess.run(
        stilts + args, check=False, capture_output=True, text=True, timeout=120
    )  # before the fix: hangs
    assert result.returncode == 1, result.stdout + result.stderr
    for path in (folder / "pipe.json", folder / "dir.json", fifo, *[Path(a) for a in args[2:]]):
        assert f"{path}: not a regular file" in result.stdout
    assert f"{folder / 'good.json'}: task 'good-task' is valid" in result.stdout

    # a catalog folder with such entries skips them instead of blocking
    listing = subprocess.run(
        [
            sys.executable,
            "-c",
            "from harness.cli import main; main()",
            "--include-path",
            str(folder),
            "tasks",
            "list",
            "--json",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listing.returncode == 0, listing.stderr
    assert "good-task" in {t["name"] for t in json.loads(listing.stdout)["tasks"]}


# -- unexpected errors -------------------------------------------------------------------------------------
def test_an_unexpected_error_is_named_and_its_traceback_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import harness.cli as cli

    def broken() -> None:
        raise RuntimeError("CUDA out of memory [not markup]")

    monkeypatch.setattr(cli, "app", broken)
    monkeypatch.setenv("STILTS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("STILTS_TRACEBACK", raising=False)
    with pytest.raises(SystemExit) as info:
        cli.main()
    err = capsys.readouterr().err
    assert info.value.code == 1 and "Traceback" not in err
    assert "unexpected RuntimeError: CUDA out of memory [not markup]" in err
    [report] = (tmp_path / "cache" / "crashes").iterdir()
    assert str(report) in err.replace("\n", "")
    saved = report.read_text(encoding="utf-8")
    assert "Traceback" in saved and "in broken" in saved and "CUDA out of memory" in saved

    monkeypatch.setenv("STILTS_TRACEBACK", "1")
    with pytest.raises(RuntimeError, match="CUDA out of memory"):
        cli.main()
