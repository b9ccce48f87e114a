"""Multiple choice (HellaSwag, CosmosQA, CommonsenseQA, SocialIQA, COPA/XCOPA).

Each choice is scored as the pair (context + question, choice) by a multiple-choice head; the
prediction is the best-scoring choice. ``label`` is the gold choice's index (or a name from the
spec's ``labels``, e.g. "A".."E"); ``question`` may be absent (HellaSwag), ``context`` too (CSQA).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness import hookimpl
from harness.errors import DataError
from harness.interfaces import Entry, Head, RunSettings, TaskType


class MultipleChoice(TaskType):
    fields = ("context", "question", "choices", "label")
    field_kinds = {"context": "text", "question": "text", "choices": "texts"}
    optional_fields = ("context", "question")
    translatable_fields = ("context", "question", "choices")
    uses_label_list = True

    def head(self, task: Any) -> Head:
        return Head("multiple_choice")

    def collator(self, task: Any, tokenizer: Any) -> Any:
        from transformers import DataCollatorForMultipleChoice

        return DataCollatorForMultipleChoice(tokenizer)

    def _encode(self, task: Any, records: Sequence[dict], tokenizer: Any, max_length: int) -> list[dict]:
        features = []
        for index, record in enumerate(records):
            choices = [str(c) for c in record["choices"]]
            if len(choices) < 2:
                raise DataError(
                    f"task {task.name!r}, record {index}: {len(choices)} choice(s); multiple choice needs 2 or more"
                )
            first = " ".join(part for part in (str(record["context"]).strip(), str(record["question"]).strip()) if part)
            encoded = tokenizer([first] * len(choices), choices, truncation=True, max_length=max_length)
            features.append({k: encoded[k] for k in encoded})
        return features

    def encode(self, task: Any, records: Sequence[dict], tokenizer: Any, max_length: int) -> list[dict]:
        features = self._encode(task, records, tokenizer, max_length)
        for index, (feature, record) in enumerate(zip(features, records)):
            if not 0 <= record["label"] < len(feature["input_ids"]):
                raise DataError(
                    f"task {task.name!r}, record {index}: label {record['label']} but {len(feature['input_ids'])} choices"
                )
            feature["labels"] = record["label"]
        return features

    def predict(self, task: Any, model: Any, records: Sequence[dict], settings: RunSettings) -> list[int]:
        from harness.inference import batched_forward

        features = self._encode(task, records, model.tokenizer, settings.max_length)
        pad = self.collator(task, model.tokenizer)

        def collate(chunk: list[dict]) -> dict:  # the collator wants labels: pad with a dummy, drop it
            batch = pad([{**feature, "labels": 0} for feature in chunk])
            batch.pop("labels")
            return batch

        predictions = [0] * len(features)
        for indices, outputs, _batch in batched_forward(
            model.model, model.tokenizer, features, settings, collate=collate
        ):
            for index, best in zip(indices, outputs.logits.argmax(dim=-1).tolist()):
                predictions[index] = best
        return predictions

    def references(self, task: Any, records: Sequence[dict]) -> list[int]:
        return [r["label"] for r in records]


@hookimpl
def stilts_task_types() -> list[Entry]:
    return [Entry("multiple_choice", MultipleChoice, "context + question -> one of N choices")]
