"""Per-example statistics reproduce every metric's headline value, whatever the examples."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.units import combine_sums, main_units, score_of, units
from plugins.metrics.basic import Accuracy, BuccF1, RetrievalAccuracy
from plugins.metrics.qa import Mlqa, SquadV1, SquadV2
from plugins.metrics.seqeval_metric import SeqevalF1, TokenAccuracy
from plugins.tasktypes.lareqa import LAReQAMap20

NER = st.sampled_from(["O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"])
POS = st.sampled_from(["NOUN", "VERB", "ADJ", "DET", "PUNCT"])
WORDS = st.lists(st.sampled_from(["the", "a", "cat", "Cat", "sat", "on", "mat", "!", "le", "chat", "猫"]), max_size=6)


def same_score(metric, main: str, predictions, references, language: str | None = None) -> None:
    expected = metric.compute(predictions, references, language=language)[main]
    assert score_of(metric.unit_statistics(predictions, references, language=language)) == pytest.approx(
        expected, abs=1e-9
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=1, max_size=40))
def test_accuracy_and_retrieval(pairs: list[tuple[int, int]]) -> None:
    predictions, references = [p for p, _ in pairs], [r for _, r in pairs]
    same_score(Accuracy(), "accuracy", predictions, references)
    found = {"en_to_xx": predictions, "xx_to_en": references}
    same_score(RetrievalAccuracy(), "retrieval_accuracy", found, references)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(WORDS, st.lists(WORDS, min_size=1, max_size=3), st.booleans()), min_size=1, max_size=12))
def test_qa_scripts(questions: list[tuple[list[str], list[list[str]], bool]]) -> None:
    references = [{"id": f"q{i}", "answers": [" ".join(g) for g in golds]} for i, (_, golds, _) in enumerate(questions)]
    predictions = {f"q{i}": " ".join(pred) for i, (pred, _, answered) in enumerate(questions) if answered}
    same_score(SquadV1(), "squad_f1", predictions, references)
    same_score(SquadV2(), "squad_v2_f1", predictions, references)
    for lang in ("en", "de", "zh"):
        same_score(Mlqa(), "mlqa_f1", predictions, references, language=lang)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_seqeval_f1_and_token_accuracy(data: st.DataObject) -> None:
    tags = data.draw(st.sampled_from([NER, POS]))
    lengths = data.draw(st.lists(st.integers(0, 8), min_size=1, max_size=10))
    references = [data.draw(st.lists(tags, min_size=n, max_size=n)) for n in lengths]
    predictions = [[data.draw(st.one_of(tags, st.none())) for _ in sentence] for sentence in references]
    same_score(SeqevalF1(), "seqeval_f1", predictions, references)
    if any(tag is not None for sentence in predictions for tag in sentence):
        same_score(TokenAccuracy(), "token_accuracy", predictions, references)


def test_lareqa_average_precision_per_question() -> None:
    candidates = [f"c{i}" for i in range(25)]
    rankings = {"q1": candidates, "q2": list(reversed(candidates)), "q3": candidates[5:] + candidates[:5]}
    references = {"q1": ["c0", "c3"], "q2": ["c0"], "q3": ["c1", "c6", "c24"]}
    found = {"rankings": rankings, "k": 20, "pool_size": 25}
    stats = LAReQAMap20().unit_statistics(found, references)
    # q1: (1/1 + 2/4) / 2; q2: c0 is ranked 25th, beyond 20; q3: c6 at 2 (1/2), c1 at 22 and c24 at 20 (2/20)
    assert [row[0] for row in stats["values"]] == pytest.approx([0.75, 0.0, (1 / 2 + 2 / 20) / 3])
    same_score(LAReQAMap20(), "lareqa_map20", found, references)


def test_bucc_has_no_per_example_statistics() -> None:
    found = {"pairs": [["a", "1"]], "threshold": 0.5, "threshold_tuned_on_eval": False}
    assert main_units("bucc_f1", [BuccF1()], found, [["a", "1"]], "zh", 100.0) is None


def test_rules_and_their_checks() -> None:
    assert score_of(units("ratio", [[1, 2], [3, 6]])) == pytest.approx(50.0)
    assert score_of(units("f1", [[0, 1, 0], [0, 0, 2]])) == 0.0  # nothing right: seqeval's 0
    sums = np.array([[1.0, 2.0, 2.0], [0.0, 0.0, 0.0]])
    assert combine_sums("f1", sums, 1).tolist() == [50.0, 0.0]
    with pytest.raises(ValueError, match="needs 3 finite numbers"):
        units("f1", [[1, 2]])
    with pytest.raises(ValueError, match="unknown combine rule"):
        units("median", [[1]])  # type: ignore[arg-type]


def test_statistics_that_do_not_reproduce_the_score_are_dropped(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(Accuracy):
        def unit_statistics(self, predictions, references, language=None):
            return units("mean", [[1.0] for _ in references])  # claims everything is right

    assert main_units("accuracy", [Broken()], [0, 1], [0, 0], None, 50.0) is None
    assert "not the score 50.0" in caplog.text
    assert main_units("accuracy", [Accuracy()], [0, 1], [0, 0], None, 50.0) == units("mean", [[1.0], [0.0]])
