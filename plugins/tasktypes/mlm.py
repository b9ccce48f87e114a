"""Masked language modelling as a task the pipeline can schedule (continued MLM stages).

Training masks tokens on the fly (``DataCollatorForLanguageModeling``: 15 %, of which 80 % become
[MASK], 10 % a random token, 10 % unchanged). Evaluation masks with a fixed seed so that every
model sees the same masked positions, and reports the accuracy of the masked-token predictions and
the perplexity over them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness import hookimpl
from harness.interfaces import Entry, Head, Metric, RunSettings, TaskType

OPTIONS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "mlm_probability": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 1,
            "description": "share of tokens masked (0.15)",
        },
        "eval_seed": {"type": "integer", "description": "seed of the evaluation masking (0)"},
    },
}


class MaskedLM(TaskType):
    fields = ("text",)
    field_kinds = {"text": "text"}
    translatable_fields = ("text",)
    options_schema = OPTIONS_SCHEMA

    def head(self, task: Any) -> Head:
        return Head("masked_lm")

    def _probability(self, task: Any) -> float:
        return float(task.task_options.get("mlm_probability", 0.15))

    def collator(self, task: Any, tokenizer: Any) -> Any:
        from transformers import DataCollatorForLanguageModeling

        return DataCollatorForLanguageModeling(tokenizer, mlm_probability=self._probability(task))

    def encode(self, task: Any, records: Sequence[dict], tokenizer: Any, max_length: int) -> list[dict]:
        encoded = tokenizer(
            [r["text"] for r in records], truncation=True, max_length=max_length, return_special_tokens_mask=True
        )
        return [{k: encoded[k][i] for k in encoded} for i in range(len(records))]

    def predict(self, task: Any, model: Any, records: Sequence[dict], settings: RunSettings) -> dict[str, float]:
        import torch

        from harness.inference import batched_forward

        features = self.encode(task, records, model.tokenizer, settings.max_length)
        collator = self.collator(task, model.tokenizer)
        generator = torch.Generator().manual_seed(int(task.task_options.get("eval_seed", 0)))
        masked: dict[int, dict[str, Any]] = {}
        for index, feature in enumerate(features):  # fixed masking, independent of batching
            with torch.random.fork_rng():  # leaves the global RNG as it was
                torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
                batch = collator([dict(feature)])
            masked[index] = {
                "input_ids": batch["input_ids"][0].tolist(),
                "attention_mask": feature["attention_mask"],
                "labels": batch["labels"][0].tolist(),
            }
        totals = {"loss_sum": 0.0, "masked": 0, "correct": 0}
        inputs = [{k: v for k, v in masked[i].items() if k != "labels"} for i in range(len(features))]
        for indices, outputs, _batch in batched_forward(model.model, model.tokenizer, inputs, settings):
            logits = outputs.logits.float()
            for row, index in enumerate(indices):
                labels = torch.tensor(masked[index]["labels"])
                positions = (labels != -100).nonzero().squeeze(-1)
                if positions.numel() == 0:
                    continue
                scores = logits[row, positions]
                gold = labels[positions]
                totals["loss_sum"] += float(torch.nn.functional.cross_entropy(scores, gold, reduction="sum"))
                totals["masked"] += int(positions.numel())
                totals["correct"] += int((scores.argmax(dim=-1) == gold).sum())
        return totals

    def references(self, task: Any, records: Sequence[dict]) -> None:
        return None  # the masked tokens themselves are the references (inside predict)


class MaskedLMScores(Metric):
    """Masked-token accuracy (headline) and perplexity over the masked tokens."""

    higher_is_better = {"mlm_accuracy": True, "perplexity": False, "masked_tokens": None}
    value_ranges = {"mlm_accuracy": (0, 100), "perplexity": (1, None), "masked_tokens": (0, None)}

    def compute(self, predictions: dict, references: Any, language: str | None = None) -> dict[str, float]:
        import math

        masked = predictions["masked"]
        if not masked:
            raise ValueError("no token was masked: the evaluation texts are empty or too short")
        return {
            "mlm_accuracy": 100.0 * predictions["correct"] / masked,
            "perplexity": math.exp(predictions["loss_sum"] / masked),
            "masked_tokens": masked,
        }


@hookimpl
def stilts_task_types() -> list[Entry]:
    return [Entry("masked_lm", MaskedLM, "masked language modelling on plain text")]


@hookimpl
def stilts_metrics() -> list[Entry]:
    return [Entry("mlm_accuracy", MaskedLMScores, "masked-token accuracy and perplexity (fixed evaluation masking)")]
