"""Data formats, field mapping and label errors; metrics on hand-computed cases."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from harness.data import DataResolver, parse_rows
from harness.errors import DataError, SpecError
from harness.hub import HubAccess
from harness.lockfile import LockedRepo, LockFile
from plugins.formats.files import AlignedLines, Tsv
from plugins.metrics.basic import Accuracy, RetrievalAccuracy
from plugins.tasktypes.retrieval import nearest
from tests.helpers import pair_spec, write_json


def spec_with(catalog, tmp_path: Path, rows: str, **local) -> object:
    (tmp_path / "train.tsv").write_text(rows, encoding="utf-8")
    source = {
        "format": "tsv",
        "options": {"columns": ["a", "b", "y"]},
        "files": {"train": "train.tsv", "eval": "train.tsv"},
        "fields": {"text_a": "a", "text_b": "b", "label": "y"},
        **local,
    }
    return catalog.load_spec(
        write_json(
            tmp_path / "t.json",
            pair_spec("t", languages={"train": "en", "eval": ["en"]}, sources={"local": source}),
        )
    )


def test_tsv_reads_bare_quotes_and_maps_labels(catalog, tmp_path: Path) -> None:
    spec = spec_with(catalog, tmp_path, 'He said "hi\tok\tyes\nx\ty\t0\n')
    records = DataResolver(catalog).load(spec, "train", "en").records
    assert records == [
        {"text_a": 'He said "hi', "text_b": "ok", "label": 1},
        {"text_a": "x", "text_b": "y", "label": 0},
    ]


def test_label_outside_list_names_task_file_record(catalog, tmp_path: Path) -> None:
    spec = spec_with(catalog, tmp_path, "a\tb\tyes\na\tb\tmaybe\n")
    with pytest.raises(DataError, match=r"task 't', .*train.tsv, record 1: label 'maybe' is not in the label list"):
        DataResolver(catalog).load(spec, "train", "en")


def test_missing_mapped_field_names_field_and_keys(catalog, tmp_path: Path) -> None:
    """Where only the data knows its keys (jsonl), a missing mapped key is named at the record;
    where the spec says (tsv columns), the spec is refused when it is loaded."""
    (tmp_path / "train.jsonl").write_text('{"a": "x", "b": "y", "y": "yes"}\n', encoding="utf-8")
    source = {
        "format": "jsonl",
        "files": {"train": "train.jsonl", "eval": "train.jsonl"},
        "fields": {"text_a": "premise", "text_b": "b", "label": "y"},
    }
    spec = catalog.load_spec(
        write_json(
            tmp_path / "j.json", pair_spec("j", languages={"train": "en", "eval": ["en"]}, sources={"local": source})
        )
    )
    with pytest.raises(DataError, match=r"record 0: field 'text_a' \(read from key 'premise'\) is missing"):
        DataResolver(catalog).load(spec, "train", "en")
    with pytest.raises(SpecError, match=r"fields/text_a.*'premise'.*\(a, b, y\)"):
        spec_with(catalog, tmp_path, "a\tb\tyes\n", fields={"text_a": "premise"})


def test_wrong_column_count_names_line(tmp_path: Path) -> None:
    path = tmp_path / "x.tsv"
    path.write_text("a\tb\tc\na\tb\n")
    with pytest.raises(DataError, match="line 2 has 2 column"):
        list(Tsv().read({"path": path}, {"columns": ["x", "y", "z"]}))


def test_empty_split_is_an_error(catalog, tmp_path: Path) -> None:
    spec = spec_with(catalog, tmp_path, "")
    with pytest.raises(DataError, match="has no records"):
        DataResolver(catalog).load(spec, "train", "en")


def test_slices_and_dropped_labels(catalog, tmp_path: Path) -> None:
    rows = "".join(f"a{i}\tb\t{'-' if i == 3 else 'yes'}\n" for i in range(6))
    spec = spec_with(catalog, tmp_path, rows, slices={"train": "2:5"}, drop_labels=["-"])
    loaded = DataResolver(catalog).load(spec, "train", "en")
    assert [r["text_a"] for r in loaded.records] == ["a2", "a4"] and loaded.dropped == 1
    assert loaded.plan.provenance()["rows"] == "2:5"
    assert parse_rows("2000:") == (2000, None) and parse_rows(None) == (0, None)


def test_aligned_lines_length_mismatch(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("x\ny\n")
    (tmp_path / "b").write_text("x\n")
    with pytest.raises(DataError, match="differ in length"):
        list(AlignedLines().read({"source": tmp_path / "a", "target": tmp_path / "b"}, {}))


def test_tatoeba_local_plan_uses_iso3_codes(catalog, tmp_path: Path) -> None:
    plan = DataResolver(catalog, tmp_path).plans(catalog.task("tatoeba"), "eval", "zh")[0]
    assert plan.files["source"].name == "tatoeba.cmn-eng.cmn" and plan.files["target"].name == "tatoeba.cmn-eng.eng"
    hub = DataResolver(catalog, tmp_path).plans(catalog.task("tatoeba"), "eval", "fa")[1]
    assert hub.hub == {"dataset": "google/xtreme", "config": "tatoeba.pes", "split": "validation", "revision": None}


def test_accuracy_hand_computed() -> None:
    assert Accuracy().compute([0, 1, 2, 2], [0, 1, 1, 2]) == {"accuracy": 75.0}
    with pytest.raises(ValueError):
        Accuracy().compute([0], [0, 1])


def test_retrieval_accuracy_both_directions_hand_computed() -> None:
    scores = RetrievalAccuracy().compute({"en_to_xx": [0, 1, 0, 3], "xx_to_en": [0, 2, 2, 3]}, [0, 1, 2, 3])
    assert scores == {"retrieval_accuracy": 75.0, "retrieval_accuracy_xx_to_en": 75.0, "retrieval_accuracy_both": 75.0}


def test_nearest_neighbour_by_cosine_with_ties_to_lowest_index() -> None:
    keys = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), dim=-1)
    queries = torch.nn.functional.normalize(torch.tensor([[2.0, 0.1], [0.1, 3.0]]), dim=-1)
    assert nearest(queries, keys) == [0, 2]


def test_relative_data_dir_is_relative_to_the_working_directory(catalog, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    plan = DataResolver(catalog, Path("some/data")).plans(catalog.task("xnli"), "eval", "de")[0]
    assert plan.files["path"] == tmp_path / "some" / "data" / "xnli" / "dev-de.tsv"


def test_local_split_from_several_files_reads_them_in_order(catalog, tmp_path: Path) -> None:
    (tmp_path / "r2.tsv").write_text("c\td\tno\n", encoding="utf-8")
    spec = spec_with(catalog, tmp_path, "a\tb\tyes\n", files={"train": ["train.tsv", "r2.tsv"]})
    loaded = DataResolver(catalog).load(spec, "train", "en")
    assert [r["text_a"] for r in loaded.records] == ["a", "c"]
    assert sorted(loaded.plan.fingerprint()) == ["part0", "part1", "reading"]


def test_hub_split_list_concatenates_datasets_and_pins_revisions_per_dataset(
    catalog, tmp_path: Path, monkeypatch
) -> None:
    """ANLI+: several hub splits of different datasets make one training split."""
    import datasets

    tables = {
        ("anli", "train_r1+train_r2"): [{"p": "a", "h": "b", "y": 0}],
        ("snli", "train"): [{"p": "c", "h": "d", "y": -1}, {"p": "e", "h": "f", "y": 1}],
    }
    calls = []

    def fake_load_dataset(path, name=None, data_dir=None, split=None, revision=None):  # datasets.load_dataset's names
        calls.append((path, revision))
        return datasets.Dataset.from_list(tables[(path, split)])

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    spec = catalog.load_spec(
        write_json(
            tmp_path / "plus.json",
            pair_spec(
                "plus",
                role="intermediate",
                languages={"train": "en", "eval": ["en"]},
                fields={"text_a": "p", "text_b": "h", "label": "y"},
                sources={
                    "hub": {
                        "dataset": "anli",
                        "revision": "v1",
                        "drop_labels": [-1],
                        "splits": {"train": [{"split": "train_r1+train_r2"}, {"dataset": "snli", "split": "train"}]},
                    }
                },
            ),
        )
    )
    lock = LockFile(tmp_path / "x.lock.json")
    lock.add(LockedRepo("dataset", "anli", "v1", "a" * 40))
    lock.add(LockedRepo("dataset", "snli", None, "b" * 40))
    loaded = DataResolver(catalog, hub=HubAccess(lock=lock)).load(spec, "train", "en")
    assert [r["text_a"] for r in loaded.records] == ["a", "e"] and loaded.dropped == 1
    # each dataset is read at the commit the lock pins for it: the source's revision pins only anli
    assert calls == [("anli", "a" * 40), ("snli", "b" * 40)]
    assert loaded.plan.describe() == (
        f"hub dataset anli split train_r1+train_r2 at {'a' * 12} + hub dataset snli split train at {'b' * 12}"
    )
