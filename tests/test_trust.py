"""Trust: cache keys that see the bytes and only the bytes that matter, the selection direction
declared by metrics, untrusted result files and model packages that never run code, offline
mode, the one list of needed splits, and preflight checks that fail before training."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from harness.errors import MissingResourcesError, SpecError, StiltsError
from tests.helpers import make_pipeline, write_json

REPO = Path(__file__).resolve().parents[1]
QUICKSTART_TASKS = REPO / "plugins" / "quickstart" / "tasks"
QUICKSTART_DATA = REPO / "plugins" / "quickstart" / "data"


def tiny_experiment(tmp_path: Path, model_dir: Path, **extra) -> Path:
    data = {
        "name": "trust",
        "model": {"id": str(model_dir), "label": "tiny-bert"},
        "intermediate": ["qs-nli"],
        "targets": [{"task": "qs-paws", "languages": ["en"]}],
        "training": {
            "epochs": 1,
            "batch_size": 16,
            "learning_rate": 1e-3,
            "max_length": 40,
            "max_train_examples": 32,
            "max_eval_examples": 16,
            "precision": "fp32",
        },
        **extra,
    }
    return write_json(tmp_path / "trust.json", data)


def copy_quickstart_specs(folder: Path) -> Path:
    """The quickstart specs in a folder of our own (so a test can edit them), data beside them."""
    folder.mkdir(parents=True, exist_ok=True)
    for spec in QUICKSTART_TASKS.glob("*.json"):
        data = json.loads(spec.read_text())
        text = json.dumps(data).replace("../data/", f"{QUICKSTART_DATA}/")
        (folder / spec.name).write_text(text)
    return folder


def copied_catalog(folder: Path):
    """The installed plugins with the quickstart's own specs replaced by ``folder``'s copies."""
    from harness.plugins import load_plugins
    from harness.registry import Catalog
    from tests.helpers import SpecFolder

    return Catalog(load_plugins(blocked=["quickstart"], extra=[("copied", SpecFolder(folder))]))


def edit_spec(folder: Path, name: str, change) -> None:
    path = folder / f"{name}.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


# -- model fingerprints -------------------------------------------------------------------------
def test_same_size_folders_with_different_weights_get_different_fingerprints(tmp_path: Path) -> None:
    from harness.interfaces import ModelRef
    from plugins.adapters.hf import HuggingFaceAdapter

    a, b = tmp_path / "a", tmp_path / "b"
    for folder, byte in ((a, b"\x01"), (b, b"\x02")):
        folder.mkdir()
        (folder / "config.json").write_text("{}")
        (folder / "model.safetensors").write_bytes(byte * 4096)
    adapter = HuggingFaceAdapter()
    first, second = adapter.fingerprint(ModelRef(str(a))), adapter.fingerprint(ModelRef(str(b)))
    assert first != second
    (b / "model.safetensors").write_bytes(b"\x01" * 4096)  # re-saved with a's bytes: same model again
    assert adapter.fingerprint(ModelRef(str(b))) == first


def test_hub_ids_resolve_to_their_commit_or_fail_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hub id is keyed by the commit its revision resolves to (here from a local hub cache laid
    out as huggingface_hub lays it out); one that cannot be resolved offline is an error, never
    a key of ``id@default``."""
    from harness import fingerprint

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--someone--encoder"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "snapshots" / commit / "config.json").write_text("{}")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    fingerprint.hub_commit.cache_clear()
    assert fingerprint.hub_commit("someone/encoder", None, True) == commit
    assert fingerprint.hub_commit("someone/encoder", "f" * 40, True) == "f" * 40  # a commit pins itself
    with pytest.raises(MissingResourcesError, match="cannot resolve it to a commit"):
        fingerprint.hub_commit("someone/absent", None, True)


# -- stage keys: exactly what determines a stage ------------------------------------------------
def stage_hashes(result: Path) -> dict[str, str]:
    return {s["kind"]: s["hash"] for s in json.loads(result.read_text())["stages"]}


def test_stage_keys_ignore_what_does_not_change_a_stage_and_see_what_does(tiny_model_dir: Path, tmp_path: Path) -> None:
    specs = copy_quickstart_specs(tmp_path / "specs")
    exp = tiny_experiment(tmp_path, tiny_model_dir)
    runs = tmp_path / "shared"

    def run() -> dict[str, str]:
        [result] = make_pipeline(copied_catalog(specs), exp, runs).run()
        return stage_hashes(result)

    baseline = run()
    # not part of any stage: description, licence, another evaluation language, aggregation
    edit_spec(specs, "qs-nli", lambda d: d.update(description="reworded", license="CC0"))
    edit_spec(specs, "qs-nli", lambda d: d["languages"]["eval"].append("de"))
    edit_spec(specs, "qs-paws", lambda d: d.update(aggregation={"languages": "non_train"}))
    assert run() == baseline
    # part of the intermediate stage: its version, its label order, how rows are read
    for change in (
        lambda d: d.update(version="2"),
        lambda d: d.update(labels=list(reversed(d["labels"]))),
        lambda d: d["sources"]["local"].update(label_map={"entailment": "neutral"}),
    ):
        edit_spec(specs, "qs-nli", change)
        changed = run()
        assert changed["intermediate"] != baseline["intermediate"]
        assert changed["target"] != baseline["target"]  # it starts from another model
        baseline = changed


def test_a_changed_data_file_changes_the_key_even_with_the_same_size(tiny_model_dir: Path, tmp_path: Path) -> None:
    specs = copy_quickstart_specs(tmp_path / "specs")
    data = tmp_path / "data"
    shutil.copytree(QUICKSTART_DATA, data)
    edit_spec(
        specs, "qs-paws", lambda d: d["sources"]["local"]["files"].update(eval=f"{data}/qs-paws-test-{{lang}}.tsv")
    )
    exp = tiny_experiment(tmp_path, tiny_model_dir, intermediate=["none"])
    catalog = copied_catalog(specs)
    [first] = make_pipeline(catalog, exp, tmp_path / "out").run()
    first_eval = [s for s in json.loads(first.read_text())["stages"] if s["kind"] == "eval"]
    eval_file = data / "qs-paws-test-en.tsv"
    text = eval_file.read_text()
    swapped = text.replace("\t0\n", "\tX\n").replace("\t1\n", "\t0\n").replace("\tX\n", "\t1\n")  # same size
    assert len(swapped) == len(text) and swapped != text
    stat = eval_file.stat()
    eval_file.write_text(swapped)
    os.utime(eval_file, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even the date is kept
    [second] = make_pipeline(catalog, exp, tmp_path / "out").run()
    second_eval = [s for s in json.loads(second.read_text())["stages"] if s["kind"] == "eval"]
    assert first_eval[0]["hash"] != second_eval[0]["hash"] and not second_eval[0]["reused"]


# -- model selection direction ------------------------------------------------------------------
def test_selection_follows_the_main_metrics_declared_direction(tmp_path: Path) -> None:
    from harness.interfaces import score_direction
    from harness.train import DevSelection, TrainReport
    from plugins.metrics.basic import Accuracy, BuccF1
    from plugins.tasktypes.mlm import MaskedLMScores

    metrics = [MaskedLMScores(), Accuracy()]
    assert score_direction(metrics, "mlm_accuracy") is True
    assert score_direction(metrics, "perplexity") is False
    with pytest.raises(ValueError, match="no direction"):
        score_direction([BuccF1()], "n")
    with pytest.raises(ValueError, match="not declared"):
        score_direction(metrics, "bleu")

    def best(higher: bool) -> int | None:
        report = TrainReport(examples=0, steps=0, epochs=3)
        report.dev_scores = [{"perplexity": 9.0}, {"perplexity": 4.0}, {"perplexity": 6.0}]
        return DevSelection(tmp_path, lambda: None, "perplexity", higher, lambda: None, report)._best_epoch()

    assert best(higher=False) == 2 and best(higher=True) == 1


def test_every_shipped_metric_declares_a_direction_for_the_keys_it_returns(catalog) -> None:
    for name in catalog.metric_entries:
        declared = catalog.metric(name).higher_is_better
        assert name in declared and declared[name] is not None, f"metric {name} must declare its headline key"


def test_warmup_ratio_one_warms_up_over_the_whole_run(tmp_path: Path) -> None:
    from harness.experiment import TRAINING_DEFAULTS
    from harness.interfaces import RunSettings
    from harness.train import training_arguments

    args = training_arguments({**TRAINING_DEFAULTS, "warmup_ratio": 1}, RunSettings(), 1, tmp_path, 10, 20)
    assert args.warmup_steps == 20
    args = training_arguments({**TRAINING_DEFAULTS, "warmup_ratio": 0.1}, RunSettings(), 1, tmp_path, 10, 25)
    assert args.warmup_steps == 3


# -- untrusted result files ---------------------------------------------------------------------
def refusal(path: Path) -> str:
    """The clean error ``stilts rerun PATH`` stops with (nothing runs)."""
    from typer.testing import CliRunner

    from harness.cli import app

    outcome = CliRunner().invoke(app, ["rerun", str(path)])
    assert isinstance(outcome.exception, StiltsError), outcome.output
    return str(outcome.exception)


def resave(path: Path, result: dict) -> None:
    from harness.tasks import content_hash

    result["config_hash"] = content_hash(result["config"], length=20)
    path.write_text(json.dumps(result))


def test_rerun_refuses_results_whose_rerun_section_is_not_their_config(
    catalog, tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exp = tiny_experiment(tmp_path, tiny_model_dir, intermediate=["none"])
    [path] = make_pipeline(catalog, exp, tmp_path).run()
    monkeypatch.chdir(tmp_path)
    original = json.loads(path.read_text())

    edited = json.loads(path.read_text())
    edited["config"]["seed"] = 7  # config edited, hash not
    path.write_text(json.dumps(edited))
    assert "does not match its 'config_hash'" in refusal(path)

    other = json.loads(json.dumps(original))
    other["rerun"]["experiment"]["training"]["learning_rate"] = 0.5  # would run something else
    resave(path, other)
    assert "/config/target/training/learning_rate" in refusal(path)

    remote = json.loads(json.dumps(original))
    for model in (remote["rerun"]["experiment"]["model"], remote["config"]["model"]):
        model["trust_remote_code"] = True
    resave(path, remote)
    assert "pass --trust-remote-code if you trust it" in refusal(path)


def test_a_model_package_is_found_from_its_files_and_never_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.model_packages import ModelPackageError, package_model_folder

    site = tmp_path / "site"
    package = site / "evilmodel"
    (package / "model").mkdir(parents=True)
    (package / "__init__.py").write_text(f"open({str(tmp_path / 'ran')!r}, 'w').write('imported')\n")
    (package / "model" / "config.json").write_text("{}")
    (package / "model" / "model.safetensors").write_bytes(b"0")
    info = site / "evilmodel-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: evilmodel\nVersion: 1.0\n")
    (info / "RECORD").write_text(
        "evilmodel/__init__.py,,\nevilmodel/model/config.json,,\nevilmodel/model/model.safetensors,,\n"
    )
    (info / "top_level.txt").write_text("evilmodel\n")
    monkeypatch.syspath_prepend(str(site))
    assert package_model_folder("evilmodel") == package / "model"
    assert not (tmp_path / "ran").exists() and "evilmodel" not in sys.modules
    with pytest.raises(ModelPackageError, match="ships no model folder"):
        package_model_folder("jsonschema")
    with pytest.raises(ModelPackageError, match="not installed"):
        package_model_folder("no_such_package_here")


def test_an_experiment_naming_a_package_without_a_model_is_a_clean_error(catalog, tmp_path: Path) -> None:
    from harness.experiment import load_experiment

    exp = write_json(
        tmp_path / "e.json", {"name": "e", "model": {"id": "x", "package": "jsonschema"}, "targets": ["qs-paws"]}
    )
    with pytest.raises(SpecError, match="/model/package"):
        load_experiment(exp, catalog).model_ref()


def test_lora_inside_a_multitask_group_is_refused_when_the_experiment_loads(catalog, tmp_path: Path) -> None:
    from harness.experiment import load_experiment

    exp = write_json(
        tmp_path / "e.json",
        {
            "name": "e",
            "model": {"id": "x"},
            "targets": ["qs-paws"],
            "intermediate": [{"name": "grp", "tasks": ["qs-nli"], "training": {"method": {"kind": "lora"}}}],
        },
    )
    with pytest.raises(SpecError, match="multi-task groups train one shared encoder in full"):
        load_experiment(exp, catalog)


# -- offline, needed splits, preflight ----------------------------------------------------------
def test_offline_flag_reaches_the_data_libraries(
    catalog, tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    exp = tiny_experiment(tmp_path, tiny_model_dir, intermediate=["none"])
    make_pipeline(catalog, exp, tmp_path, offline=True)
    assert all(os.environ.get(var) == "1" for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"))
    from harness.data import offline_mode

    assert offline_mode()


def test_needed_splits_cover_groups_tune_translate_and_mlm_text(catalog, tmp_path: Path) -> None:
    from harness.experiment import load_experiment
    from harness.needs import experiment_needs

    exp = write_json(
        tmp_path / "e.json",
        {
            "name": "e",
            "model": {"id": "x"},
            "intermediate": [
                "none",
                {
                    "name": "grp",
                    "tasks": ["qs-nli"],
                    "translate": {"languages": ["de"], "provider": "seq2seq"},
                    "mlm": {"text_from": {"task": "qs-tatoeba"}, "languages": ["fr"]},
                },
            ],
            "targets": ["qs-paws", "bucc"],
        },
    )
    needs = {(n.task.name, n.split, n.lang) for n in experiment_needs(catalog, load_experiment(exp, catalog))}
    assert {
        ("qs-nli", "train", "en"),
        ("qs-nli", "translate_train", "de"),
        ("qs-tatoeba", "eval", "fr"),
        ("qs-paws", "eval", "de"),
        ("bucc", "tune", "zh"),
        ("bucc", "eval", "zh"),
    } <= needs


def test_prefetch_handles_a_multitask_experiment(catalog, tiny_model_dir: Path, tmp_path: Path) -> None:
    from harness.experiment import load_experiment
    from harness.prefetch import prefetch_experiment

    exp = tiny_experiment(
        tmp_path,
        tiny_model_dir,
        intermediate=[
            {"name": "grp", "tasks": ["qs-nli"], "mlm": {"text_from": {"task": "qs-tatoeba"}, "languages": ["de"]}}
        ],
    )
    lines = list(prefetch_experiment(catalog, load_experiment(exp, catalog), None, say=lambda _m: None))
    assert any(line.startswith("qs-tatoeba/eval/de: local") for line in lines)


def test_a_malformed_eval_file_fails_the_preflight_before_any_training(tiny_model_dir: Path, tmp_path: Path) -> None:
    specs = copy_quickstart_specs(tmp_path / "specs")
    data = tmp_path / "data"
    shutil.copytree(QUICKSTART_DATA, data)
    bad = data / "qs-paws-test-de.tsv"
    bad.write_text(bad.read_text() + "only one column\n")
    edit_spec(
        specs, "qs-paws", lambda d: d["sources"]["local"]["files"].update(eval=f"{data}/qs-paws-test-{{lang}}.tsv")
    )
    exp = tiny_experiment(tmp_path, tiny_model_dir, targets=[{"task": "qs-paws", "languages": ["en", "de"]}])
    pipeline = make_pipeline(copied_catalog(specs), exp, tmp_path / "out")
    with pytest.raises(MissingResourcesError, match=r"qs-paws-test-de\.tsv"):
        pipeline.run()
    assert not (tmp_path / "out" / "runs").exists()  # nothing was trained


def test_an_overlong_cell_id_is_shortened_with_a_digest() -> None:
    from harness.experiment import Cell, Target

    cell = Cell("none", Target("xnli"), 1)
    long_id = cell.id("m" * 300, "full")
    assert len(long_id) <= 150 and long_id != cell.id("m" * 299, "full")
    assert cell.id("../evil\n", "full") == "..-evil-__full__none__xnli__seed1"


def test_tox_passes_the_shared_data_location_the_tests_read() -> None:
    """tox used to set only STILTS_DATA_DIR, which the tests do not read: real-data tests
    silently skipped under tox."""
    import configparser

    tox = configparser.ConfigParser(interpolation=None)
    tox.read(REPO / "tox.ini")
    set_env = tox["testenv"]["set_env"]
    conftest = (REPO / "tests" / "conftest.py").read_text()
    assert "STILTS_SHARED_DATA" in conftest and "STILTS_SHARED_DATA" in set_env


def test_a_main_metric_without_a_declared_direction_is_refused(catalog, tmp_path: Path) -> None:
    spec = json.loads((REPO / "task_specs" / "bucc.json").read_text())
    spec["main_metric"] = "n"  # a count: it cannot select a checkpoint
    path = write_json(tmp_path / "bucc.json", spec)
    with pytest.raises(SpecError, match="a score key with a declared direction"):
        catalog.load_spec(path)


def test_ci_runs_exactly_the_test_command_the_readme_gives() -> None:
    """.ci/run's last command is the README's "Run the tests" command, character for character."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("Run the tests", 1)[1]
    command = section.split("```bash\n", 1)[1].split("\n```", 1)[0].strip()
    ci_lines = [line for line in (REPO / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci_lines[-1] == command
