"""The paper's whole matrix costed before anything is downloaded: ``examples/xstilts-paper-full.json``
is locked on a mirror whose cards are the real cards' facts (``task_specs/hub_cards``: every
config, split size and feature; one placeholder row per split, since nothing is read), with the
two local-only corpora (CCG, BUCC) as small local files; then ``stilts plan --gpus 8 --device
h100`` prices every one of its 5,527 stages: no stage without an estimate, none blocked, and the
GPU-hours and makespan follow from the card sizes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.hub_repos import card_features, default_value, write_dataset_repo, write_model_repo, write_parquet_export

pytestmark = pytest.mark.hub

STILTS = str(Path(sys.executable).parent / "stilts")
PAPER = Path(__file__).resolve().parents[1] / "examples" / "xstilts-paper-full.json"
BUCC_LANGUAGES = ("de", "fr", "ru", "zh")


def local_corpora(data: Path) -> None:
    """Small CCG and BUCC files in the layout their specs read (sizes are counted from them)."""
    (data / "ccg").mkdir(parents=True)
    sentence = "The\tNP[nb]/N\ncat\tN\nsat\tS[dcl]\\NP\n.\t.\n\n"
    for split, copies in (("train", 40), ("dev", 10), ("test", 10)):
        (data / "ccg" / f"ccg.{split}.tsv").write_text(sentence * copies, encoding="utf-8")
    (data / "bucc2018").mkdir()
    for lang in BUCC_LANGUAGES:
        for split in ("dev", "test"):
            stem = data / "bucc2018" / f"{lang}-en.{split}"
            Path(f"{stem}.{lang}").write_text(
                "".join(f"{lang}-{i:09d}\tsentence {i}\n" for i in range(30)), encoding="utf-8"
            )
            Path(f"{stem}.en").write_text("".join(f"en-{i:09d}\tsentence {i}\n" for i in range(30)), encoding="utf-8")
            Path(f"{stem}.gold").write_text(
                "".join(f"{lang}-{i:09d}\ten-{i:09d}\n" for i in range(10)), encoding="utf-8"
            )


def card_mirror(catalog: Any, experiment: Any, mirror: Path, data: Path) -> int:
    """Every hub split the experiment reads, as a repository whose card states the split sizes of
    the shipped card facts over one placeholder row; the number of splits written."""
    from harness.data import DataResolver
    from harness.hub import HubAccess
    from harness.hub_cards import PARQUET_EXPORT, shipped_facts, split_names
    from harness.needs import experiment_needs

    resolver = DataResolver(catalog, data, HubAccess(lock=None, offline=True))
    tables: dict[tuple[str, bool], dict[str, dict[str, list[dict]]]] = {}
    features: dict[tuple[str, bool], dict[str, Any]] = {}
    sizes: dict[str, dict[str, dict[str, int]]] = {}
    for need in experiment_needs(catalog, experiment):
        candidates = resolver.plans(need.task, need.split, need.lang)
        if any(p.available_locally for p in candidates):
            continue
        plans = [p for p in candidates if p.kind == "hub"]
        if not plans:
            continue
        for part in plans[0].hub_parts:
            dataset = part["dataset"]
            facts = shipped_facts(dataset)
            assert facts is not None, dataset
            config, config_facts = facts.config(part.get("config"))
            assert config is not None and config_facts is not None, part
            key = (dataset, part.get("revision") == PARQUET_EXPORT)
            for split in split_names(str(part["split"])):
                feats = card_features(dataset, config, split)
                tables.setdefault(key, {}).setdefault(config, {})[split] = [default_value(feats)]
                features.setdefault(key, {})[config] = feats
                size = config_facts.splits.get(split)
                assert size is not None, f"the shipped card facts give no size for {dataset} {config} {split}"
                sizes.setdefault(dataset, {}).setdefault(config, {})[split] = size
    for (dataset, export), configs in tables.items():
        if export:  # the parquet export has no card: its sizes come from the shipped facts
            write_parquet_export(mirror, dataset, configs, features[(dataset, export)])
        else:
            write_dataset_repo(mirror, dataset, configs, features[(dataset, export)], sizes[dataset])
    return sum(len(splits) for configs in tables.values() for splits in configs.values())


def xlmr_large_folder(folder: Path) -> Path:
    """XLM-R large's config.json (its parameter count comes from the study's known models)."""
    from transformers import XLMRobertaConfig

    XLMRobertaConfig(
        vocab_size=250002,
        hidden_size=1024,
        num_hidden_layers=24,
        num_attention_heads=16,
        intermediate_size=4096,
        max_position_embeddings=514,
        type_vocab_size=1,
    ).save_pretrained(folder)
    return folder


def test_the_whole_paper_matrix_is_costed_on_8_h100s_after_a_lock(catalog: Any, tmp_path: Path) -> None:
    from harness.experiment import load_experiment

    data, mirror = tmp_path / "data", tmp_path / "mirror"
    local_corpora(data)
    experiment = tmp_path / "xstilts-paper-full.json"
    experiment.write_text(PAPER.read_text(encoding="utf-8"), encoding="utf-8")
    written = card_mirror(catalog, load_experiment(experiment, catalog), mirror, data)
    assert written > 100
    write_model_repo(mirror, "FacebookAI/xlm-roberta-large", xlmr_large_folder(tmp_path / "xlmr"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STILTS_HUB", "STILTS_LOCK", "STILTS_DATA"))}
    env.update(
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        STILTS_CACHE_DIR=str(tmp_path / "cache"),
        HF_HOME=str(tmp_path / "hf-home"),
        STILTS_HUB_MIRROR=str(mirror),
    )

    def stilts(*args: str) -> str:
        done = subprocess.run([STILTS, *args], env=env, capture_output=True, text=True, timeout=900, cwd=tmp_path)
        assert done.returncode == 0, f"stilts {' '.join(args)}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        return done.stdout

    stilts("lock", str(experiment), "--data-dir", str(data))
    runs = str(tmp_path / "runs")
    common = [str(experiment), "--data-dir", str(data), "--runs-dir", runs, "--gpus", "8", "--device", "h100"]
    plan = json.loads(stilts("plan", *common, "--json"))
    assert plan["problems"] == [], plan["problems"][:5]
    cost = plan["cost"]
    assert cost["blocked_stages_not_costed"] == 0
    assert cost["stages_without_estimate"] == []
    assert len(cost["stages"]) == 30 + 231 + 5266  # every stage of the matrix, each with its seconds
    assert all(stage["seconds"] is not None and stage["seconds"] > 0 for stage in cost["stages"])
    assert cost["gpu_hours"] > 0 and cost["makespan_s"] >= cost["critical_path_s"] > 0
    # 8 devices: the makespan lies between the critical path and the work spread evenly plus it
    assert cost["makespan_s"] <= cost["gpu_hours"] * 3600 / 8 + cost["critical_path_s"]
    # the work follows the cards: MNLI's 392,702 training pairs x 3 epochs (XLM-R's recipe in the paper)
    [mnli] = {s["train_records"] for s in cost["stages"] if s["kind"] == "intermediate" and s["task"] == "mnli"}
    assert mnli % 392_702 == 0
    text = stilts("plan", *common)
    [line] = [one for one in text.splitlines() if one.startswith("cost on 8 × h100")]
    assert "GPU-hours" in line and "makespan" in line and "unknown" not in line, line
    print(line)  # the figure docs/running.md quotes
