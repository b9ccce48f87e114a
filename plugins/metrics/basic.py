"""Accuracy (XNLI, PAWS-X, multiple choice) and retrieval accuracy (Tatoeba), as XTREME scores them.

All scores are percentages (0-100), the scale XTREME and the SQuAD scripts report.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness import hookimpl
from harness.interfaces import Entry, Metric
from harness.units import Units, units


class Accuracy(Metric):
    """Share of predictions equal to the gold label: XTREME's ``(preds == labels).mean()``."""

    higher_is_better = {"accuracy": True}
    value_ranges = {"accuracy": (0, 100)}

    def compute(
        self, predictions: Sequence[int], references: Sequence[int], language: str | None = None
    ) -> dict[str, float]:
        if len(predictions) != len(references):
            raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
        if not references:
            raise ValueError("accuracy of an empty set is undefined")
        correct = sum(int(p == r) for p, r in zip(predictions, references))
        return {"accuracy": 100.0 * correct / len(references)}

    def unit_statistics(
        self, predictions: Sequence[int], references: Sequence[int], language: str | None = None
    ) -> Units | None:
        return units("mean", [[float(p == r)] for p, r in zip(predictions, references)])


class RetrievalAccuracy(Metric):
    """Top-1 accuracy of nearest-neighbour search over line-aligned sentence pairs.

    ``predictions`` is ``{"en_to_xx": [...], "xx_to_en": [...]}``: for each query, the index of
    its nearest neighbour in the other language; the gold answer for query ``i`` is ``i``.
    The headline ``retrieval_accuracy`` is XTREME's direction (English queries searched
    against the other language's sentences); the reverse direction and their mean are reported too.
    """

    higher_is_better = {
        "retrieval_accuracy": True,
        "retrieval_accuracy_xx_to_en": True,
        "retrieval_accuracy_both": True,
    }
    value_ranges = {key: (0, 100) for key in higher_is_better}

    def compute(
        self, predictions: dict[str, Sequence[int]], references: Sequence[int], language: str | None = None
    ) -> dict[str, float]:
        def acc(found: Sequence[int]) -> float:
            if len(found) != len(references):
                raise ValueError(f"{len(found)} predictions for {len(references)} references")
            return 100.0 * sum(int(f == r) for f, r in zip(found, references)) / len(references)

        forward, backward = acc(predictions["en_to_xx"]), acc(predictions["xx_to_en"])
        return {
            "retrieval_accuracy": forward,
            "retrieval_accuracy_xx_to_en": backward,
            "retrieval_accuracy_both": (forward + backward) / 2,
        }

    def unit_statistics(
        self, predictions: dict[str, Sequence[int]], references: Sequence[int], language: str | None = None
    ) -> Units | None:
        """One row per English query: 1 when its nearest neighbour is its translation."""
        return units("mean", [[float(f == r)] for f, r in zip(predictions["en_to_xx"], references)])


class BuccF1(Metric):
    """Precision, recall and F1 of mined pairs against the gold pairs (BUCC 2018 / XTREME).

    No per-example statistics: the mined pairs and the threshold are properties of the whole
    corpus, so BUCC scores get no bootstrap interval."""

    higher_is_better = {
        "bucc_f1": True,
        "bucc_precision": True,
        "bucc_recall": True,
        "threshold": None,
        "threshold_tuned_on_eval": None,
        "n": None,
    }
    value_ranges = {"bucc_f1": (0, 100), "bucc_precision": (0, 100), "bucc_recall": (0, 100), "n": (0, None)}

    def compute(
        self, predictions: dict, references: Sequence[Sequence[str]], language: str | None = None
    ) -> dict[str, float]:
        gold = {tuple(pair) for pair in references}
        mined = {tuple(pair) for pair in predictions["pairs"]}
        correct = len(gold & mined)
        precision = correct / len(mined) if mined else 0.0
        recall = correct / len(gold) if gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if correct else 0.0
        return {
            "bucc_f1": 100 * f1,
            "bucc_precision": 100 * precision,
            "bucc_recall": 100 * recall,
            "threshold": float(predictions["threshold"]),
            "threshold_tuned_on_eval": float(predictions["threshold_tuned_on_eval"]),
            "n": len(gold),
        }


@hookimpl
def stilts_metrics() -> list[Entry]:
    return [
        Entry("accuracy", Accuracy, "percentage of exact label matches"),
        Entry("retrieval_accuracy", RetrievalAccuracy, "top-1 nearest-neighbour accuracy (XTREME Tatoeba)"),
        Entry("bucc_f1", BuccF1, "precision/recall/F1 of mined bitext pairs (BUCC 2018)"),
    ]
