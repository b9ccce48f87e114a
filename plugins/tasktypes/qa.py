"""Extractive question answering (SQuAD, XQuAD, MLQA, TyDiQA-GoldP).

Contexts longer than ``max_length`` are split into overlapping windows (``doc_stride`` tokens of
overlap); answer character spans are mapped to token positions through the tokenizer's offset
mapping (a window not containing the whole answer is trained to point at the first token, as in
SQuAD v2 training). Decoding takes the ``n_best`` start and end logits of every window, keeps
spans inside the context with ``end >= start`` and at most ``max_answer_length`` tokens, and
returns the best span's text. With ``allow_no_answer`` (SQuAD v2.0), the empty answer wins when
its score (first token, start + end) beats the best span by more than ``null_score_diff_threshold``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness import hookimpl
from harness.errors import DataError
from harness.interfaces import Entry, Head, RunSettings, TaskType

OPTIONS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "doc_stride": {"type": "integer", "minimum": 1, "description": "token overlap between windows (128)"},
        "max_query_length": {
            "type": "integer",
            "minimum": 1,
            "description": "question tokens kept (64, at most a quarter of the window)",
        },
        "max_answer_length": {"type": "integer", "minimum": 1, "description": "longest answer in tokens (30)"},
        "n_best": {"type": "integer", "minimum": 1, "description": "start/end candidates per window (20)"},
        "allow_no_answer": {"type": "boolean", "description": "SQuAD v2.0: the empty answer can win (false)"},
        "null_score_diff_threshold": {"type": "number"},
    },
}
DEFAULTS = {
    "doc_stride": 128,
    "max_query_length": 64,
    "max_answer_length": 30,
    "n_best": 20,
    "allow_no_answer": False,
    "null_score_diff_threshold": 0.0,
}


def cap_question(tokenizer: Any, question: str, max_tokens: int) -> str:
    """The question cut after its ``max_tokens``-th token (XTREME's max_query_length), at the
    token's character offset so that nothing is re-tokenised differently."""
    encoded = tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)
    if len(encoded["input_ids"]) <= max_tokens:
        return question
    return question[: encoded["offset_mapping"][max_tokens - 1][1]]


def windows(tokenizer: Any, records: Sequence[dict], max_length: int, stride: int, max_query: int = 64) -> Any:
    """Question + context windows with offsets; pads on the side the tokenizer wants.

    Questions keep at most ``min(max_query, max_length // 4)`` tokens and the stride is kept below
    the room left for the context, so a long question never leaves a window smaller than its stride.
    """
    question_first = tokenizer.padding_side == "right"
    query_tokens = max(1, min(max_query, max_length // 4))
    questions = [cap_question(tokenizer, r["question"].lstrip(), query_tokens) for r in records]
    contexts = [r["context"] for r in records]
    room = max_length - query_tokens - 4  # special tokens around two segments
    return tokenizer(
        questions if question_first else contexts,
        contexts if question_first else questions,
        truncation="only_second" if question_first else "only_first",
        max_length=max_length,
        stride=max(1, min(stride, room // 2)),  # 384/128 and 256/128 are unchanged
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    ), (1 if question_first else 0)


class ExtractiveQA(TaskType):
    fields = ("id", "question", "context", "answers")
    field_kinds = {"question": "text", "context": "text", "answers": "answers"}
    options_schema = OPTIONS_SCHEMA

    def head(self, task: Any) -> Head:
        return Head("question_answering")

    def options(self, task: Any) -> dict[str, Any]:
        return {**DEFAULTS, **task.task_options}

    def encode(self, task: Any, records: Sequence[dict], tokenizer: Any, max_length: int) -> list[dict]:
        opts = self.options(task)
        encoded, context_id = windows(tokenizer, records, max_length, opts["doc_stride"], opts["max_query_length"])
        model_keys = [k for k in encoded if k not in ("offset_mapping", "overflow_to_sample_mapping")]
        features = []
        for i, offsets in enumerate(encoded["offset_mapping"]):
            index = encoded["overflow_to_sample_mapping"][i]
            record = records[index]
            sequence_ids = encoded.sequence_ids(i)
            feature = {k: encoded[k][i] for k in model_keys}
            feature["start_positions"] = feature["end_positions"] = 0
            answers = record["answers"]
            if answers["text"]:
                start = answers["answer_start"][0]
                text = answers["text"][0]
                if record["context"][start : start + len(text)] != text:
                    raise DataError(
                        f"task {task.name!r}, record {index} (id {record['id']}): answer {text!r} does not occur "
                        f"in the context at character {start}"
                    )
                end = start + len(text)
                context_tokens = [t for t, s in enumerate(sequence_ids) if s == context_id]
                first, last = context_tokens[0], context_tokens[-1]
                if offsets[first][0] <= start and offsets[last][1] >= end:
                    token_start = next(t for t in context_tokens if offsets[t][1] > start)
                    token_end = next(t for t in reversed(context_tokens) if offsets[t][0] < end)
                    feature["start_positions"], feature["end_positions"] = token_start, token_end
            features.append(feature)
        return features

    def predict(self, task: Any, model: Any, records: Sequence[dict], settings: RunSettings) -> dict[str, str]:
        import numpy as np

        from harness.inference import batched_forward

        opts = self.options(task)
        encoded, context_id = windows(
            model.tokenizer, records, settings.max_length, opts["doc_stride"], opts["max_query_length"]
        )
        model_keys = [k for k in encoded if k not in ("offset_mapping", "overflow_to_sample_mapping")]
        features = [{k: encoded[k][i] for k in model_keys} for i in range(len(encoded["input_ids"]))]
        starts: list[Any] = [None] * len(features)
        ends: list[Any] = [None] * len(features)
        for indices, outputs, _batch in batched_forward(model.model, model.tokenizer, features, settings):
            start_logits = outputs.start_logits.float().cpu().numpy()
            end_logits = outputs.end_logits.float().cpu().numpy()
            for row, index in enumerate(indices):
                length = len(features[index]["input_ids"])
                starts[index], ends[index] = start_logits[row][:length], end_logits[row][:length]
        by_record: dict[int, list[int]] = {}
        for i, index in enumerate(encoded["overflow_to_sample_mapping"]):
            by_record.setdefault(index, []).append(i)
        answers = {}
        for index, record in enumerate(records):
            best_text, best_score, null_score = "", -np.inf, np.inf
            for i in by_record.get(index, []):
                offsets, sequence_ids = encoded["offset_mapping"][i], encoded.sequence_ids(i)
                s_logits, e_logits = starts[i], ends[i]
                null_score = min(null_score, s_logits[0] + e_logits[0])
                for s in np.argsort(s_logits)[::-1][: opts["n_best"]]:
                    for e in np.argsort(e_logits)[::-1][: opts["n_best"]]:
                        if sequence_ids[s] != context_id or sequence_ids[e] != context_id:
                            continue
                        if e < s or e - s + 1 > opts["max_answer_length"]:
                            continue
                        candidate = s_logits[s] + e_logits[e]
                        if candidate > best_score:
                            best_score = candidate
                            best_text = record["context"][offsets[s][0] : offsets[e][1]]
            if opts["allow_no_answer"] and null_score - best_score > opts["null_score_diff_threshold"]:
                best_text = ""
            answers[record["id"]] = best_text
        return answers

    def references(self, task: Any, records: Sequence[dict]) -> list[dict]:
        return [{"id": r["id"], "answers": list(r["answers"]["text"])} for r in records]


@hookimpl
def stilts_task_types() -> list[Entry]:
    return [Entry("extractive_qa", ExtractiveQA, "question + context -> answer span (SQuAD-style)")]
