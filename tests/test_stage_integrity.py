"""A stage cache that checks what it reuses: every output of a finished stage (weights, scores,
per-example statistics, predictions, reports, the marker itself) corrupted by truncating,
flipping a byte, deleting or editing it leads to a rebuild that gives the first run's result, or
(a large file flipped, which is digested only when it is first used) to one clear refusal naming
the file, after which the next run rebuilds. Never a reuse, never a crash loop."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.stages import StageCorruptError, verify_store
from tests.helpers import make_pipeline, write_json


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> dict[str, object]:
    """One finished run of a one-cell experiment (no intermediate, qs-paws in en), kept pristine."""
    from harness.plugins import load_plugins
    from harness.registry import Catalog

    root = tmp_path_factory.mktemp("integrity")
    experiment = write_json(
        root / "exp.json",
        {
            "name": "integrity",
            "model": {"id": str(tiny_model_dir), "label": "tiny-bert"},
            "intermediate": ["none"],
            "targets": [{"task": "qs-paws", "languages": ["en"]}],
            "seeds": [1],
            "training": {
                "epochs": 1,
                "batch_size": 16,
                "learning_rate": 1e-3,
                "max_length": 48,
                "max_train_examples": 32,
                "max_eval_examples": 24,
                "precision": "fp32",
            },
        },
    )
    catalog = Catalog(load_plugins())
    [path] = make_pipeline(catalog, experiment, root).run()
    return {"root": root, "experiment": experiment, "catalog": catalog, "result": json.loads(path.read_text())}


def copy_of(finished: dict[str, object], tmp_path: Path) -> Path:
    shutil.copytree(Path(str(finished["root"])) / "runs", tmp_path / "runs")
    return tmp_path / "runs"


def corrupt(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "delete":
        path.unlink()
    elif how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif how == "flip":
        flipped = bytearray(data)
        flipped[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(flipped))
    elif how == "edit":  # a plausible hand edit of the same size: one digit changed
        text = data.decode("utf-8")
        index = next(i for i, ch in enumerate(text) if ch.isdigit())
        path.write_text(text[:index] + str((int(text[index]) + 1) % 10) + text[index + 1 :], encoding="utf-8")


def scores(result: dict) -> dict:
    return {"languages": result["languages"], "dev": result["dev"], "units": result["units"]}


OUTPUTS = [
    ("target", "model/model.safetensors"),
    ("target", "model/config.json"),
    ("target", "report.json"),
    ("eval", "scores.json"),
    ("eval", "units.json"),
    ("eval", "predictions.json"),
    ("eval", "data.json"),
    ("target", "stage.json"),
    ("eval", "stage.json"),
]


@pytest.mark.parametrize("how", ["truncate", "flip", "delete", "edit"])
@pytest.mark.parametrize(("kind", "name"), OUTPUTS, ids=[f"{k}-{n}" for k, n in OUTPUTS])
def test_a_corrupted_output_is_rebuilt_or_refused_never_reused(
    finished: dict, tmp_path: Path, kind: str, name: str, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if how == "edit" and name.endswith(".safetensors"):
        pytest.skip("weights are binary: 'flip' is their edit")
    runs = copy_of(finished, tmp_path)
    (stage,) = list((runs / kind).glob("[!.]*/"))
    corrupt(stage / name, how)
    catalog, experiment = finished["catalog"], finished["experiment"]

    def run() -> dict:
        [path] = make_pipeline(catalog, Path(experiment), tmp_path).run()
        return json.loads(path.read_text())

    expected = scores(finished["result"])
    if name.endswith(".safetensors") and how == "flip":
        # large files are digested when first used: nothing reads the weights while every
        # evaluation is cached; a new language needs them, and the run refuses, naming the file
        monkeypatch.setattr("harness.stage_files.DIGEST_AT_ONCE", 1024)
        data = json.loads(Path(experiment).read_text())
        data["targets"][0]["languages"] = ["en", "de"]
        experiment = write_json(tmp_path / "exp.json", data)
        with pytest.raises(StageCorruptError) as info:
            run()
        assert "model.safetensors changed since the stage was built" in str(info.value)
        assert "run again to rebuild" in str(info.value)
    result = run()
    got = scores(result)
    assert {part: {"en": values["en"]} if part != "dev" else values for part, values in got.items()} == expected
    assert not next(s for s in result["stages"] if s["kind"] == kind)["reused"]  # built again
    (aside,) = list((runs / kind / ".corrupt").iterdir())
    note = (aside / "moved-aside.txt").read_text(encoding="utf-8")
    assert name.rsplit("/", 1)[-1] in note  # says which file was wrong
    assert make_pipeline(catalog, Path(experiment), tmp_path).prepare().to_run() == []  # intact again


def test_stilts_verify_checks_every_digest_and_moves_bad_stages_aside(finished: dict, tmp_path: Path) -> None:
    runs = copy_of(finished, tmp_path)
    assert verify_store(runs) == (2, [])
    (target,) = list((runs / "target").glob("[!.]*/"))
    corrupt(target / "model" / "model.safetensors", "flip")
    checked, bad = verify_store(runs)
    assert checked == 2 and len(bad) == 1 and "model.safetensors changed" in bad[0]
    assert not target.exists() and list((runs / "target" / ".corrupt").iterdir())
    assert verify_store(runs) == (1, [])


def test_the_verify_command_names_each_damaged_stage_and_exits_1(finished: dict, tmp_path: Path) -> None:
    import subprocess
    import sys

    runs = copy_of(finished, tmp_path)
    stilts = str(Path(sys.executable).parent / "stilts")
    clean = subprocess.run([stilts, "verify", str(runs)], capture_output=True, text=True)
    assert clean.returncode == 0 and "2 stage(s) checked, 0 moved aside" in clean.stdout
    (scores_file,) = list((runs / "eval").glob("[!.]*/scores.json"))
    corrupt(scores_file, "edit")
    damaged = subprocess.run([stilts, "verify", str(runs)], capture_output=True, text=True)
    assert damaged.returncode == 1, damaged.stderr
    assert "scores.json changed since the stage was built" in damaged.stderr.replace("\n", " ")
    assert "Traceback" not in damaged.stderr
