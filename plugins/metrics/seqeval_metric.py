"""Token tagging metrics, computed by seqeval exactly as XTREME's run_tag.py calls it.

XTREME scores both PAN-X and UD-POS with ``seqeval.metrics.f1_score`` in its default (conlleval
style) mode; for POS tags that means seqeval's own chunking of tags without a B-/I- prefix.
Words without a prediction (cut off by max_length) are dropped from both sides first.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from harness import hookimpl
from harness.interfaces import Entry, Metric
from harness.units import Units, units


def scored_pairs(
    predictions: Sequence[Sequence[str | None]], references: Sequence[Sequence[str]]
) -> tuple[list[list[str]], list[list[str]], int]:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predicted sentences for {len(references)} references")
    gold, pred, unscored = [], [], 0
    for p_sent, r_sent in zip(predictions, references):
        if len(p_sent) != len(r_sent):
            raise ValueError("a predicted sentence differs in length from its reference")
        keep = [i for i, tag in enumerate(p_sent) if tag is not None]
        unscored += len(p_sent) - len(keep)
        gold.append([r_sent[i] for i in keep])
        pred.append([p_sent[i] for i in keep])  # type: ignore[misc]
    return gold, pred, unscored


class SeqevalF1(Metric):
    """seqeval F1 / precision / recall (default mode), in percent."""

    higher_is_better = {"seqeval_f1": True, "seqeval_precision": True, "seqeval_recall": True, "unscored_words": None}
    value_ranges = {
        "seqeval_f1": (0, 100),
        "seqeval_precision": (0, 100),
        "seqeval_recall": (0, 100),
        "unscored_words": (0, None),
    }

    def compute(self, predictions, references, language: str | None = None) -> dict[str, float]:
        from seqeval.metrics import f1_score, precision_score, recall_score

        gold, pred, unscored = scored_pairs(predictions, references)
        with warnings.catch_warnings():
            # POS tags have no B-/I- prefix ("ADJ seems not to be NE tag"), and a set without
            # entities has undefined P/R: both are expected, seqeval returns 0 as XTREME reports
            warnings.simplefilter("ignore")
            return {
                "seqeval_f1": 100.0 * f1_score(gold, pred),
                "seqeval_precision": 100.0 * precision_score(gold, pred),
                "seqeval_recall": 100.0 * recall_score(gold, pred),
                "unscored_words": float(unscored),
            }

    def unit_statistics(self, predictions, references, language: str | None = None) -> Units | None:
        """Per sentence: chunks right, chunks predicted, gold chunks (seqeval's own chunking; a
        chunk never crosses a sentence, so the sums are seqeval's micro counts)."""
        from seqeval.metrics.sequence_labeling import get_entities

        gold, pred, _ = scored_pairs(predictions, references)
        rows = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for gold_tags, pred_tags in zip(gold, pred):
                gold_chunks, pred_chunks = set(get_entities(gold_tags)), set(get_entities(pred_tags))
                rows.append([len(gold_chunks & pred_chunks), len(pred_chunks), len(gold_chunks)])
        return units("f1", rows)


class TokenAccuracy(Metric):
    """Share of words whose tag is right (the usual POS accuracy; reported beside seqeval F1)."""

    higher_is_better = {"token_accuracy": True}
    value_ranges = {"token_accuracy": (0, 100)}

    def compute(self, predictions, references, language: str | None = None) -> dict[str, float]:
        gold, pred, _ = scored_pairs(predictions, references)
        total = sum(len(s) for s in gold)
        correct = sum(g == p for gs, ps in zip(gold, pred) for g, p in zip(gs, ps))
        return {"token_accuracy": 100.0 * correct / total if total else 0.0}

    def unit_statistics(self, predictions, references, language: str | None = None) -> Units | None:
        gold, pred, _ = scored_pairs(predictions, references)
        return units("ratio", [[sum(g == p for g, p in zip(gs, ps)), len(gs)] for gs, ps in zip(gold, pred)])


@hookimpl
def stilts_metrics() -> list[Entry]:
    return [
        Entry("seqeval_f1", SeqevalF1, "seqeval F1/precision/recall, default mode (XTREME POS and NER)"),
        Entry("token_accuracy", TokenAccuracy, "per-word tag accuracy"),
    ]
