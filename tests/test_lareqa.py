"""LAReQA (XTREME-R): the mAP@20 metric by hand, the xquad_r format and its pool, the dual encoder
head, an end-to-end tiny run, and the real XQuAD-R files (shared data)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.interfaces import Head, ModelRef, RunSettings
from plugins.formats.xquad_r import XquadR, split_sentences
from plugins.tasktypes.lareqa import LAReQA, LAReQAMap20, average_precision_at_k, build_pool, rank
from tests.helpers import SpecFolder, make_pipeline, write_json

REPO = Path(__file__).resolve().parents[1]
LANGS = ["ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh"]


def lareqa_catalog(spec_folder: Path | None = None):
    """The installed plugins (plus ``spec_folder``'s specs) with the LAReQA task type, metric and
    format registered here unless an installed plugin registers them already."""
    import plugins.formats.xquad_r as xquad_r_module
    import plugins.tasktypes.lareqa as lareqa_module
    from harness.plugins import load_plugins
    from harness.registry import Catalog

    host = load_plugins(extra=[("test-specs", SpecFolder(spec_folder))] if spec_folder else [])
    if "lareqa" not in host.task_types():
        host.register(lareqa_module, "test-lareqa")
    if "xquad_r" not in host.data_formats():
        host.register(xquad_r_module, "test-xquad-r")
    return Catalog(host)


# -- the metric, by hand ----------------------------------------------------------------------


def test_map20_by_hand() -> None:
    """Three questions over candidates c1..c8:

    * q1, relevant {c1, c5}, ranked c1 c2 c5 ...: (1/1 + 2/3) / 2 = 0.8333
    * q2, relevant {c4}, ranked c3 c4 c4 ...: 1/2 = 0.5 (the repeated c4 counts once)
    * q3, relevant {c6, c7, c8}, only c7 found, at rank 4: (1/4) / 3 = 0.0833
    mAP = (0.8333 + 0.5 + 0.0833) / 3 = 0.4722 -> 47.22
    """
    predictions = {
        "k": 20,
        "pool_size": 8,
        "rankings": {
            "q1": ["c1", "c2", "c5", "c3", "c4"],
            "q2": ["c3", "c4", "c4", "c1"],
            "q3": ["c1", "c2", "c3", "c7", "c4", "c5"],
        },
    }
    references = {"q1": ["c1", "c5"], "q2": ["c4"], "q3": ["c6", "c7", "c8"]}
    scores = LAReQAMap20().compute(predictions, references, "de")
    assert scores["lareqa_map20"] == pytest.approx(100 * (5 / 6 + 1 / 2 + 1 / 12) / 3)
    assert scores["lareqa_map20"] == pytest.approx(47.2222, abs=1e-4)
    assert scores["n"] == 3 and scores["pool_size"] == 8


def test_ap_at_20_stops_at_rank_20_and_divides_by_min_of_k_and_relevant() -> None:
    ranked = [f"c{i}" for i in range(1, 26)]
    assert average_precision_at_k({"c21"}, ranked) == 0.0  # found at rank 21: beyond the cut
    assert average_precision_at_k({"c20"}, ranked) == pytest.approx(1 / 20)
    assert average_precision_at_k({"absent"}, ranked) == 0.0
    # 25 relevant, the first 20 ranks all relevant: 20 / min(25, 20) = 1 (not 20 / 25)
    assert average_precision_at_k(set(ranked), ranked) == pytest.approx(1.0)
    # 2 relevant at ranks 1 and 20: (1/1 + 2/20) / 2
    assert average_precision_at_k({"c1", "c20"}, ranked) == pytest.approx((1 + 2 / 20) / 2)


def test_map20_refuses_missing_rankings_and_short_lists() -> None:
    metric = LAReQAMap20()
    with pytest.raises(ValueError, match="without a ranking"):
        metric.compute({"k": 20, "rankings": {}}, {"q1": ["c1"]})
    with pytest.raises(ValueError, match="mAP@20 needs 20"):
        metric.compute({"k": 10, "rankings": {"q1": ["c1"]}}, {"q1": ["c1"]})
    assert metric.higher_is_better["lareqa_map20"] is True and metric.higher_is_better["n"] is None


def test_rank_breaks_ties_by_pool_position() -> None:
    import torch

    queries = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    candidates = torch.tensor([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [0.6, 0.8]])
    assert rank(queries, candidates, k=3) == [[1, 2, 3], [0, 3, 1]]


# -- the format and the pool ---------------------------------------------------------------


def paragraph(context: str, qas: list[tuple[str, str, str]], breaks: bool = True) -> dict:
    """A SQuAD paragraph; ``qas`` are (id, question, answer text), answer_start found in context
    (``@N`` after the text forces answer_start N)."""
    out: dict = {"context": context, "qas": []}
    for qid, question, answer in qas:
        text, _, forced = answer.partition("@")
        start = int(forced) if forced else context.index(text)
        out["qas"].append({"id": qid, "question": question, "answers": [{"text": text, "answer_start": start}]})
    if breaks:
        out["sentence_breaks"] = [list(span) for span in split_sentences(context)]
        out["sentences"] = [context[s:e] for s, e in out["sentence_breaks"]]
    return out


def write_xquad_r(folder: Path) -> Path:
    """Two 'languages' of a tiny parallel XQuAD-R. In en, q4's answer_start (12) is the space
    between two sentences: q4 is skipped in en, and en's third paragraph (only q4) leaves the pool.
    de's third paragraph repeats its answer sentence: both copies are relevant to q4."""
    en = [
        paragraph(
            "The cat sat on the mat. It was red. Dogs bark loudly.",
            [("q1", "Where did the cat sit?", "on the mat"), ("q2", "What color was it?", "red")],
        ),
        paragraph("Paris is in France. Berlin is in Germany.", [("q3", "Where is Berlin?", "Germany")]),
        paragraph("Rome is old. Rome is big.", [("q4", "How is Rome?", " @12")]),
    ]
    de = [
        paragraph(
            "Die Katze sass auf der Matte. Sie war rot. Hunde bellen laut.",
            [("q1", "Wo sass die Katze?", "auf der Matte"), ("q2", "Welche Farbe hatte sie?", "rot")],
        ),
        paragraph(
            "Paris liegt in Frankreich. Berlin liegt in Deutschland.", [("q3", "Wo liegt Berlin?", "Deutschland")]
        ),
        paragraph("Rom ist alt. Rom ist alt.", [("q4", "Wie ist Rom?", "alt")]),
    ]
    for lang, paragraphs in (("en", en), ("de", de)):
        write_json(folder / f"{lang}.json", {"version": "1.0", "data": [{"title": "T", "paragraphs": paragraphs}]})
    return folder


def write_train(path: Path) -> Path:
    """A plain SQuAD v1.1 file (no sentence breaks: the splitter cuts the contexts)."""
    contexts = [
        ("The sun is a star. It is hot. Mr. Smith studies it.", ["is a star", "hot", "Mr. Smith"]),
        ("Water boils at 100 degrees. Ice melts at 0 degrees.", ["100 degrees", "0 degrees"]),
        ("Bees make honey. Cows give milk. Hens lay eggs.", ["honey", "milk", "eggs"]),
        ("Trains run on rails. Ships sail on water.", ["rails", "water"]),
    ]
    paragraphs = [
        paragraph(context, [(f"t{i}{j}", f"What about {answer}?", answer) for j, answer in enumerate(answers)], False)
        for i, (context, answers) in enumerate(contexts)
    ]
    return write_json(path, {"version": "1.1", "data": [{"title": "Train", "paragraphs": paragraphs}]})


def test_splitter_keeps_abbreviations_and_initials() -> None:
    text = 'Mr. Smith met J. K. Rowling in the U.S. in May. "Really?" She left. It rained, e.g. Tuesday.'
    assert [text[s:e] for s, e in split_sentences(text)] == [
        "Mr. Smith met J. K. Rowling in the U.S. in May.",
        '"Really?"',
        "She left.",
        "It rained, e.g. Tuesday.",
    ]
    assert split_sentences("  Leading space. Next one") == [(2, 16), (17, 25)]


def test_format_orders_by_question_and_flags_the_query_language(tmp_path: Path) -> None:
    folder = write_xquad_r(tmp_path)
    files = {"questions": folder / "de.json", "en": folder / "en.json", "de": folder / "de.json"}
    records = list(XquadR().read(files, {}))
    assert [(r["id"], r["language"], r["query"]) for r in records] == [
        ("q1", "de", True),
        ("q1", "en", False),
        ("q2", "de", True),
        ("q2", "en", False),
        ("q3", "de", True),
        ("q3", "en", False),
        ("q4", "de", True),
        ("q4", "en", False),
    ]
    first = records[0]
    assert first["paragraph"] == "de_1" and first["sentences"] == [
        "Die Katze sass auf der Matte.",
        "Sie war rot.",
        "Hunde bellen laut.",
    ]
    assert first["answer_sentence"] == 0 and records[2]["answer_sentence"] == 1
    assert records[7]["answer_sentence"] is None  # en q4: answer_start on the space between sentences


def test_pool_and_relevant_sentences_follow_xtreme_r(tmp_path: Path) -> None:
    folder = write_xquad_r(tmp_path)
    files = {"questions": folder / "de.json", "en": folder / "en.json", "de": folder / "de.json"}
    pool, references = build_pool(list(XquadR().read(files, {})))
    # every sentence of every paragraph with a usable question, by language and paragraph;
    # en_3 (only q4, skipped) is out
    assert [uid for uid, _, _ in pool] == [
        "de_1_0", "de_1_1", "de_1_2", "de_2_0", "de_2_1", "de_3_0", "de_3_1",
        "en_1_0", "en_1_1", "en_1_2", "en_2_0", "en_2_1",
    ]  # fmt: skip
    assert pool[8][1:] == ("It was red.", "The cat sat on the mat. It was red. Dogs bark loudly.")
    assert references == {
        "q1_de": ["de_1_0", "en_1_0"],
        "q2_de": ["de_1_1", "en_1_1"],
        "q3_de": ["de_2_1", "en_2_1"],
        "q4_de": ["de_3_0", "de_3_1"],  # identical sentences are both relevant; en's q4 is skipped
    }
    en_files = {"questions": folder / "en.json", "en": folder / "en.json", "de": folder / "de.json"}
    en_pool, en_references = build_pool(list(XquadR().read(en_files, {})))
    assert en_pool == pool  # the same pool, in the same order, whatever the query language
    assert sorted(en_references) == ["q1_en", "q2_en", "q3_en"]  # q4 is no query in en


def test_questions_file_must_be_in_the_pool(tmp_path: Path) -> None:
    from harness.errors import DataError

    folder = write_xquad_r(tmp_path)
    with pytest.raises(DataError, match="must also be one of the language files"):
        list(XquadR().read({"questions": folder / "de.json", "en": folder / "en.json"}, {}))


class TopicEmbedder:
    """A fake model handle: a text's vector counts its topic words (cat, red, Berlin, Rome)."""

    topics = [("cat", "katze"), ("red", "rot", "color", "farbe"), ("berlin",), ("rome", "rom")]

    def embed(self, sentences, settings):
        import torch

        rows = []
        for text in sentences:
            words = text.lower().replace("?", " ").replace(".", " ").split()
            rows.append([float(sum(words.count(w) for w in topic)) + 1e-3 for topic in self.topics])
        return torch.nn.functional.normalize(torch.tensor(rows), dim=-1)


def test_predict_with_a_perfect_embedder_scores_100(tmp_path: Path) -> None:
    from harness.tasks import TaskSpec

    folder = write_xquad_r(tmp_path)
    files = {"questions": folder / "de.json", "en": folder / "en.json", "de": folder / "de.json"}
    records = list(XquadR().read(files, {}))
    task = TaskSpec({"name": "t", "task_options": {"answer_context": False}}, tmp_path / "t.json")
    task_type = LAReQA()
    predictions = task_type.predict(task, TopicEmbedder(), records, RunSettings())
    assert predictions["pool_size"] == 12 and set(predictions["rankings"]) == {"q1_de", "q2_de", "q3_de", "q4_de"}
    assert predictions["rankings"]["q3_de"][:2] == ["de_2_1", "en_2_1"]
    scores = LAReQAMap20().compute(predictions, task_type.references(task, records))
    assert scores["lareqa_map20"] == pytest.approx(100.0) and scores["n"] == 4


# -- the dual encoder head ---------------------------------------------------------------------


def test_dual_encoder_trains_both_sides_and_saves_a_plain_encoder(
    catalog, tiny_model_dir: Path, tmp_path: Path
) -> None:
    import torch
    from transformers import AutoModel

    from harness.interfaces import ModelHandle
    from plugins.tasktypes.lareqa import PairCollator

    adapter = catalog.adapter("hf")
    handle = ModelHandle(adapter, ModelRef(str(tiny_model_dir)), Head("dual_encoder"))
    model, tokenizer = handle.model, handle.tokenizer
    features = []
    for q, a in [("where is the cat?", "the cat sat on the mat."), ("what is red?", "it was red and round.")]:
        f = dict(tokenizer(q))
        f.update({f"answer_{k}": v for k, v in tokenizer(a).items()})
        features.append(f)
    batch = PairCollator(tokenizer, "mean", "last")(features)
    assert batch["input_ids"].shape[0] == 2 and "answer_attention_mask" in batch
    out = model(**batch)
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and out["logits"].shape == (2, 2)
    assert model.logit_scale.grad is not None and model.encoder.embeddings.word_embeddings.weight.grad is not None
    # embed runs the plain encoder; saving keeps the encoder only, loadable as AutoModel
    vectors = handle.embed(["a cat", "a dog"], RunSettings(options={"layer": "last", "pooling": "mean"}))
    adapter.save(model, tokenizer, tmp_path / "saved", encoder_only=False)
    plain = AutoModel.from_pretrained(tmp_path / "saved")
    assert type(plain).__name__ == "BertModel"
    assert "logit_scale" not in {name for name, _ in plain.named_parameters()}
    again = ModelHandle(adapter, ModelRef(str(tmp_path / "saved")), Head("encoder"))
    same = again.embed(["a cat", "a dog"], RunSettings(options={"layer": "last", "pooling": "mean"}))
    assert torch.allclose(vectors, same, atol=1e-6)


# -- end to end ---------------------------------------------------------------------------------


def tiny_lareqa(tmp_path: Path, model_dir: Path, **training: object) -> tuple[object, Path]:
    """A tiny LAReQA spec (hand-made en/de XQuAD-R, 10 training questions: 7 train, 3 dev) and an
    experiment training the tiny model on it for 2 epochs; returns (catalog, experiment)."""
    data = tmp_path / "data"
    write_xquad_r(data / "xquad-r")
    write_train(data / "train.json")
    specs = tmp_path / "specs"
    write_json(
        specs / "tiny-lareqa.json",
        {
            "name": "tiny-lareqa",
            "version": "1",
            "task_type": "lareqa",
            "role": "target",
            "languages": {"train": "en", "eval": ["en", "de"]},
            "metrics": ["lareqa_map20"],
            "task_options": {"max_query_length": 16, "max_answer_length": 40},
            "sources": {
                "local": {
                    "format": "xquad_r",
                    "files": {
                        "train": {"en": "{data_dir}/train.json"},
                        "dev": {"en": "{data_dir}/train.json"},
                        "eval": {
                            "questions": "{data_dir}/xquad-r/{lang}.json",
                            "en": "{data_dir}/xquad-r/en.json",
                            "de": "{data_dir}/xquad-r/de.json",
                        },
                    },
                    "slices": {"train": "0:7", "dev": "7:"},
                }
            },
        },
    )
    experiment = write_json(
        tmp_path / "exp.json",
        {
            "name": "lareqa-tiny",
            "model": {"id": str(model_dir), "label": "tiny-bert"},
            "targets": ["tiny-lareqa"],
            "data_dir": str(data),
            "training": {
                "epochs": 2,
                "batch_size": 4,
                "learning_rate": 1e-3,
                "max_length": 48,
                "precision": "fp32",
                **training,
            },
        },
    )
    return lareqa_catalog(specs), experiment


def test_end_to_end_tiny_run(tiny_model_dir: Path, tmp_path: Path) -> None:
    catalog, experiment = tiny_lareqa(tmp_path, tiny_model_dir)
    [path] = make_pipeline(catalog, experiment, tmp_path).run()
    result = json.loads(path.read_text())
    assert set(result["languages"]) == {"en", "de"}
    de, en = result["languages"]["de"], result["languages"]["en"]
    assert de["n"] == 4 and en["n"] == 3 and de["pool_size"] == en["pool_size"] == 12
    assert 0.0 <= de["lareqa_map20"] <= 100.0 and 0.0 <= en["lareqa_map20"] <= 100.0
    target = next(s for s in result["stages"] if s["kind"] == "target")
    report = json.loads((Path(target["path"]) / "report.json").read_text())
    assert report["report"]["steps"] == 4 and len(report["report"]["dev_scores"]) == 2  # 7 pairs / 4, 2 epochs
    assert report["best_dev"]["pool_size"] == 5  # dev: the sentences of the dev questions' 2 paragraphs
    saved = json.loads((Path(target["path"]) / "model" / "config.json").read_text())
    assert saved["architectures"] == ["BertModel"]  # the dual encoder is saved as its plain encoder


def test_interrupted_training_resumes_to_the_same_scores(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dual encoder is no PreTrainedModel: Trainer checkpoints its state dict (logit scale
    included), and a resumed run ends with the uninterrupted run's scores."""
    from transformers import Trainer

    catalog, experiment = tiny_lareqa(tmp_path, tiny_model_dir, checkpoint_every=2)
    [uninterrupted] = make_pipeline(catalog, experiment, tmp_path / "a").run()
    real_step, calls = Trainer.training_step, []

    def crash(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "training_step", crash)
    with pytest.raises(KeyboardInterrupt):
        make_pipeline(catalog, experiment, tmp_path / "b").run()
    monkeypatch.setattr(Trainer, "training_step", real_step)
    [resumed] = make_pipeline(catalog, experiment, tmp_path / "b").run()
    first, second = json.loads(uninterrupted.read_text()), json.loads(resumed.read_text())
    report = json.loads((Path(second["stages"][0]["path"]) / "report.json").read_text())["report"]
    assert report["resumed_from_step"] == 2
    assert second["dev"] == first["dev"] and second["languages"] == first["languages"]


# -- the shipped spec and the real files -----------------------------------------------------------


def test_shipped_spec_validates() -> None:
    spec = lareqa_catalog().load_spec(REPO / "task_specs" / "lareqa.json")
    assert spec.task_type == "lareqa" and spec.eval_languages == LANGS and spec.main_metric == "lareqa_map20"


@pytest.mark.shared_data
def test_real_xquad_r_pool(shared_data: Path) -> None:
    from harness.data import DataResolver

    catalog = lareqa_catalog()
    task = catalog.load_spec(REPO / "task_specs" / "lareqa.json")
    resolver = DataResolver(catalog, shared_data)
    records = resolver.load(task, "eval", "th").records
    assert len(records) == 11 * 1190
    pool, references = build_pool(records)
    per_language = {lang: sum(uid.startswith(f"{lang}_") for uid, _, _ in pool) for lang in LANGS}
    assert per_language == {
        "ar": 1222, "de": 1276, "el": 1234, "en": 1180, "es": 1215, "hi": 1244,
        "ru": 1219, "th": 852, "tr": 1167, "vi": 1209, "zh": 1196,
    }  # fmt: skip
    assert len(pool) == 13014 and len(references) == 1190 and all(q.endswith("_th") for q in references)
    assert {len(relevant) for relevant in references.values()} == {11}  # one answer sentence per language
    assert {uid.split("_")[0] for uid in references["56beb4343aeaaa14008c925b_th"]} == set(LANGS)
    train = resolver.load(task, "train", "en").records
    dev = resolver.load(task, "dev", "en").records
    assert len(train) == 3286 and len(dev) == 521  # 10 articles / the 11th (2008 Sichuan earthquake)
    assert all(r["answer_sentence"] is not None for r in train + dev)  # the splitter loses no answer


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON at line 1"),
        ('{"data": {}}', "the top level 'data' is an object; expected a list"),
        (
            '{"data": [{"paragraphs": [{"context": "abc", "sentence_breaks": [[0, 9]], "qas": []}]}]}',
            r"sentence_breaks\[0\] is \[0, 9\]; expected \[start, end\] with 0 <= start <= end <= 3",
        ),
        (
            '{"data": [{"paragraphs": [{"context": "abc", "qas": [{"id": "x", "question": "q", '
            '"answers": [{"text": "a", "answer_start": "one"}]}]}]}]}',
            r"answers\[0\].answer_start is a string; expected an integer",
        ),
    ],
)
def test_format_errors_name_the_file_and_place(tmp_path: Path, content: str, message: str) -> None:
    from harness.errors import DataError

    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message) as found:
        list(XquadR().read({"path": path}, {}))
    assert str(path) in str(found.value)
