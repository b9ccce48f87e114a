"""Sentence retrieval without training (Tatoeba): embed both sides, nearest neighbour by cosine."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness import hookimpl
from harness.interfaces import Entry, Head, RunSettings, TaskType

#: The ``layer`` task option of every task type that pools hidden states (ModelAdapter.embed).
LAYER_OPTION = {
    "oneOf": [{"type": "integer", "minimum": 0}, {"enum": ["middle", "last"]}],
    "description": "Hidden layer to pool: N = output of transformer layer N (0 = embeddings); "
    "middle = ceil(7/12 of the layers), i.e. 14 of 24 as in the study, 7 of 12.",
}

OPTIONS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "layer": LAYER_OPTION,
        "pooling": {
            "enum": ["mean", "cls", "model"],
            "description": "mean over tokens (XTREME), the first token, "
            "or the model's own sentence-transformers pooling",
        },
        "max_length": {"type": "integer", "minimum": 8},
        "batch_size": {"type": "integer", "minimum": 1},
    },
}


def nearest(queries: Any, keys: Any) -> list[int]:
    """Index of the most cosine-similar row of ``keys`` for each row of ``queries`` (both L2-normalised).
    Ties go to the lowest index, as with an exhaustive index search."""
    return (queries @ keys.T).argmax(dim=1).tolist()


class Retrieval(TaskType):
    """Line-aligned ``source`` (other language) / ``target`` (English) pairs; no training.

    Predictions are the nearest-neighbour indices in both directions; see the
    ``retrieval_accuracy`` metric for what is scored.
    """

    fields = ("source", "target")
    field_kinds = {"source": "text", "target": "text"}
    trainable = False
    options_schema = OPTIONS_SCHEMA

    def head(self, task: Any) -> Head:
        return Head("encoder")

    def predict(self, task: Any, model: Any, records: Sequence[dict], settings: RunSettings) -> dict[str, list[int]]:
        xx = model.embed([r["source"] for r in records], settings)
        en = model.embed([r["target"] for r in records], settings)
        return {"en_to_xx": nearest(en, xx), "xx_to_en": nearest(xx, en)}

    def references(self, task: Any, records: Sequence[dict]) -> list[int]:
        return list(range(len(records)))


@hookimpl
def stilts_task_types() -> list[Entry]:
    return [Entry("retrieval", Retrieval, "parallel sentences -> nearest-neighbour search (Tatoeba)")]
