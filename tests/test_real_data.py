"""Real XTREME files from ../shared/data with the real MiniLM (skipped when the files are absent)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import make_pipeline, write_json

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.shared_data
@pytest.mark.slow
def test_english_nli_intermediate_then_xnli_and_tatoeba(
    catalog, shared_data: Path, minilm_dir: Path, tmp_path: Path
) -> None:
    example = json.loads((REPO / "examples" / "xstilts-local.json").read_text())
    example["targets"] = [
        {"task": "xnli", "languages": ["en", "de", "ar"]},
        {"task": "tatoeba", "languages": ["de", "fr", "jv"]},
    ]
    example["training"] |= {"epochs": 1, "max_train_examples": 256, "max_eval_examples": 200}
    paths = make_pipeline(catalog, write_json(tmp_path / "exp.json", example), tmp_path, data_dir=shared_data).run()
    results = {json.loads(p.read_text())["cell"]["id"]: json.loads(p.read_text()) for p in paths}
    xnli = results["all-MiniLM-L6-v2__full__mnli__xnli__seed1"]
    assert set(xnli["languages"]) == {"en", "de", "ar"} and xnli["languages"]["de"]["n"] == 200
    assert all(0 <= v["accuracy"] <= 100 for v in xnli["languages"].values())
    # the result records which files (and rows) each split came from
    train = next(d for d in xnli["data"] if d["task"] == "mnli" and d["split"] == "train")
    assert train["files"]["path"]["path"].endswith("xnli/dev-en.tsv") and train["rows"] == "0:1000"
    assert train["files"]["path"]["sha256"]
    tatoeba = results["all-MiniLM-L6-v2__full__none__tatoeba__seed1"]
    assert tatoeba["skipped_languages"] == ["jv"]  # no local Javanese file: skipped and recorded
    assert tatoeba["languages"]["de"]["n"] == 200
    # an English model retrieves German far better than chance (0.5%), Tatoeba being easy for cognates
    assert tatoeba["languages"]["de"]["retrieval_accuracy"] > 5
