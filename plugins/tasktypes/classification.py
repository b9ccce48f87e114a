"""Sentence and sentence-pair classification (MNLI, XNLI, PAWS-X, QQP ...)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness import hookimpl
from harness.interfaces import Entry, Head, RunSettings, TaskType


class PairClassification(TaskType):
    """Two texts -> one label from the spec's ``labels``; predicts the argmax of the logits."""

    fields = ("text_a", "text_b", "label")
    field_kinds = {"text_a": "text", "text_b": "text"}
    translatable_fields = ("text_a", "text_b")
    uses_label_list = True

    def head(self, task: Any) -> Head:
        return Head("sequence_classification", num_labels=len(task.labels), labels=tuple(task.labels))

    def _texts(self, records: Sequence[dict]) -> tuple[list[str], list[str] | None]:
        return [r["text_a"] for r in records], [r["text_b"] for r in records]

    def _tokenize(self, records: Sequence[dict], tokenizer: Any, max_length: int) -> list[dict]:
        first, second = self._texts(records)
        encoded = tokenizer(first, second, truncation=True, max_length=max_length)
        keys = list(encoded.keys())
        return [{k: encoded[k][i] for k in keys} for i in range(len(records))]

    def encode(self, task: Any, records: Sequence[dict], tokenizer: Any, max_length: int) -> list[dict]:
        features = self._tokenize(records, tokenizer, max_length)
        for feature, record in zip(features, records):
            feature["labels"] = record["label"]
        return features

    def predict(self, task: Any, model: Any, records: Sequence[dict], settings: RunSettings) -> list[int]:
        from harness.inference import batched_forward

        features = self._tokenize(records, model.tokenizer, settings.max_length)
        predictions = [0] * len(features)
        for indices, outputs, _batch in batched_forward(model.model, model.tokenizer, features, settings):
            for index, label in zip(indices, outputs.logits.argmax(dim=-1).tolist()):
                predictions[index] = label
        return predictions

    def references(self, task: Any, records: Sequence[dict]) -> list[int]:
        return [r["label"] for r in records]


class Classification(PairClassification):
    """One text -> one label."""

    fields = ("text", "label")
    field_kinds = {"text": "text"}
    translatable_fields = ("text",)

    def _texts(self, records: Sequence[dict]) -> tuple[list[str], None]:
        return [r["text"] for r in records], None


@hookimpl
def stilts_task_types() -> list[Entry]:
    return [
        Entry("pair_classification", PairClassification, "two texts -> label (NLI, paraphrase)"),
        Entry("classification", Classification, "one text -> label"),
    ]
