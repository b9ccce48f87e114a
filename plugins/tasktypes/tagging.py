"""Token tagging (UD-POS, PAN-X NER, CCG supertags): one label per word.

As XTREME does: the label sits on a word's first sub-word and the other sub-words are ignored
(-100); a word the tokenizer turns into nothing is replaced by the unknown token so that every
word gets a prediction; words cut off by ``max_length`` get no prediction (``None``) and are
left out of scoring on both sides, as XTREME's scorer only sees encoded words.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness import hookimpl
from harness.errors import DataError
from harness.interfaces import Entry, Head, RunSettings, TaskType


def encode_words(
    tokenizer: Any, sentences: Sequence[Sequence[str]], max_length: int
) -> tuple[list[dict], list[list[int | None]]]:
    """Tokenise pre-split sentences; returns features and each feature's word ids."""
    sentences = [list(words) for words in sentences]
    encoded = tokenizer(sentences, is_split_into_words=True, truncation=True, max_length=max_length)
    keys = list(encoded.keys())
    features, word_ids = [], []
    for i, words in enumerate(sentences):
        ids = encoded.word_ids(i)
        seen = {w for w in ids if w is not None}
        last = max(seen) if seen else -1
        empty = [w for w in range(min(last + 1, len(words))) if w not in seen]
        if empty:  # words with no sub-words: XTREME feeds the unknown token instead
            fixed = [tokenizer.unk_token if w in empty else word for w, word in enumerate(words)]
            single = tokenizer(fixed, is_split_into_words=True, truncation=True, max_length=max_length)
            features.append({k: single[k] for k in keys})
            word_ids.append(single.word_ids())
            continue
        features.append({k: encoded[k][i] for k in keys})
        word_ids.append(ids)
    return features, word_ids


def first_subword_positions(word_ids: Sequence[int | None]) -> dict[int, int]:
    """word index -> position of its first sub-word."""
    positions: dict[int, int] = {}
    for position, word in enumerate(word_ids):
        if word is not None and word not in positions:
            positions[word] = position
    return positions


class Tagging(TaskType):
    """``tokens`` (list of words) and ``tags`` (one label name or index per word)."""

    fields = ("tokens", "tags")
    field_kinds = {"tokens": "texts", "tags": "tags"}
    uses_label_list = True  # the spec must list the tags; records are checked in tag_ids()

    def head(self, task: Any) -> Head:
        return Head("token_classification", num_labels=len(task.labels), labels=tuple(task.labels))

    def collator(self, task: Any, tokenizer: Any) -> Any:
        from transformers import DataCollatorForTokenClassification

        return DataCollatorForTokenClassification(tokenizer)

    def derive_labels(self, records: Sequence[dict]) -> list[str]:
        """Every tag of the training records, sorted (for ``"labels": "from_train"``)."""
        return sorted({str(tag) for record in records for tag in record["tags"]})

    def tag_ids(self, task: Any, record: dict, index: int) -> list[int]:
        labels, tags = task.labels, record["tags"]
        if len(tags) != len(record["tokens"]):
            raise DataError(f"task {task.name!r}, record {index}: {len(record['tokens'])} tokens but {len(tags)} tags")
        out = []
        for tag in tags:
            if isinstance(tag, int) and 0 <= tag < len(labels):
                out.append(tag)
            elif tag in labels:
                out.append(labels.index(tag))
            else:
                raise DataError(f"task {task.name!r}, record {index}: tag {tag!r} is not in the label list {labels}")
        return out

    def encode(self, task: Any, records: Sequence[dict], tokenizer: Any, max_length: int) -> list[dict]:
        features, word_ids = encode_words(tokenizer, [r["tokens"] for r in records], max_length)
        for index, (feature, ids, record) in enumerate(zip(features, word_ids, records)):
            tags = self.tag_ids(task, record, index)
            labels = [-100] * len(ids)
            for word, position in first_subword_positions(ids).items():
                labels[position] = tags[word]
            feature["labels"] = labels
        return features

    def predict(self, task: Any, model: Any, records: Sequence[dict], settings: RunSettings) -> list[list[str | None]]:
        from harness.inference import batched_forward

        features, word_ids = encode_words(model.tokenizer, [r["tokens"] for r in records], settings.max_length)
        predictions: list[list[str | None]] = [[None] * len(r["tokens"]) for r in records]
        for indices, outputs, _batch in batched_forward(model.model, model.tokenizer, features, settings):
            best = outputs.logits.argmax(dim=-1).tolist()
            for row, index in enumerate(indices):
                for word, position in first_subword_positions(word_ids[index]).items():
                    predictions[index][word] = task.labels[best[row][position]]
        return predictions

    def references(self, task: Any, records: Sequence[dict]) -> list[list[str]]:
        if task.data.get("labels_derived"):  # open tag set: a tag unseen in training is simply never predicted
            return [[str(tag) for tag in r["tags"]] for r in records]
        return [[task.labels[i] for i in self.tag_ids(task, r, n)] for n, r in enumerate(records)]


@hookimpl
def stilts_task_types() -> list[Entry]:
    return [Entry("tagging", Tagging, "one label per word (POS, NER, supertags)")]
