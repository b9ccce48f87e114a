"""Bitext mining (BUCC 2018) as XTREME scores it, following LASER's margin-based mining.

Per corpus: identical sentences are embedded once; each side searches its ``neighborhood`` (4)
nearest neighbours on the other side by cosine; a candidate pair scores
``cos(x, y) / ((mean_knn(x) + mean_knn(y)) / 2)`` (ratio margin); every sentence proposes its best
candidate, and proposals are taken best first while neither sentence is used yet. Pairs whose
text occurs under several ids are ambiguous and dropped. The score threshold is the one that
maximises F1 on the ``tune`` split's gold pairs (XTREME: tuned on dev, applied to test); with
``threshold_from: "eval"`` it is tuned on the reported split itself (jiant's way: optimistic,
and flagged in the scores as ``threshold_tuned_on_eval``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness import hookimpl
from harness.errors import DataError
from harness.interfaces import Entry, Head, RunSettings, TaskType
from plugins.tasktypes.retrieval import OPTIONS_SCHEMA as RETRIEVAL_OPTIONS

OPTIONS_SCHEMA = {
    **RETRIEVAL_OPTIONS,
    "properties": {
        **RETRIEVAL_OPTIONS["properties"],
        "neighborhood": {"type": "integer", "minimum": 1, "description": "k of the k-NN margin (4)"},
        "threshold_from": {
            "enum": ["tune", "eval"],
            "description": "tune: the tune split's gold (XTREME); eval: the reported split (jiant, optimistic)",
        },
    },
}


def knn(queries: Any, keys: Any, k: int, chunk: int = 2048) -> tuple[Any, Any]:
    """Top-k cosine similarities and indices of ``keys`` for every row of ``queries`` (normalised)."""
    import torch

    sims, idx = [], []
    for start in range(0, queries.shape[0], chunk):
        top = torch.topk(queries[start : start + chunk] @ keys.T, k=min(k, keys.shape[0]), dim=1)
        sims.append(top.values)
        idx.append(top.indices)
    return torch.cat(sims), torch.cat(idx)


def mine(x: Any, y: Any, k: int) -> list[tuple[int, int, float]]:
    """Margin-scored one-to-one candidate pairs (x index, y index, score), best first."""
    fwd_sim, fwd_idx = knn(x, y, k)
    bwd_sim, bwd_idx = knn(y, x, k)
    fwd_mean, bwd_mean = fwd_sim.mean(dim=1), bwd_sim.mean(dim=1)
    fwd_scores = fwd_sim / ((fwd_mean[:, None] + bwd_mean[fwd_idx]) / 2)
    bwd_scores = bwd_sim / ((bwd_mean[:, None] + fwd_mean[bwd_idx]) / 2)
    fwd_best = fwd_idx.gather(1, fwd_scores.argmax(dim=1, keepdim=True)).squeeze(1)
    bwd_best = bwd_idx.gather(1, bwd_scores.argmax(dim=1, keepdim=True)).squeeze(1)
    proposals = [
        (float(s), i, int(j)) for i, (s, j) in enumerate(zip(fwd_scores.max(dim=1).values.tolist(), fwd_best.tolist()))
    ]
    proposals += [
        (float(s), int(i), j) for j, (s, i) in enumerate(zip(bwd_scores.max(dim=1).values.tolist(), bwd_best.tolist()))
    ]
    order = sorted(range(len(proposals)), key=lambda n: -proposals[n][0])  # stable, like a stable argsort
    seen_x, seen_y, pairs = set(), set(), []
    for n in order:
        score, i, j = proposals[n]
        if i not in seen_x and j not in seen_y:
            seen_x.add(i)
            seen_y.add(j)
            if score > 0:
                pairs.append((i, j, score))
    return pairs


def unique_ids(rows: Sequence[Sequence[str]]) -> tuple[list[str], dict[str, str]]:
    """Distinct sentences (first-seen order) and sentence -> id for sentences with a single id."""
    sentences, counts, first_id = [], {}, {}
    for sentence_id, sentence in rows:
        if sentence not in counts:
            sentences.append(sentence)
            first_id[sentence] = sentence_id
        counts[sentence] = counts.get(sentence, 0) + 1
    return sentences, {s: i for s, i in first_id.items() if counts[s] == 1}


def best_threshold(candidates: dict[tuple[str, str], float], gold: set[tuple[str, str]]) -> float:
    """The score threshold with the best F1 on ``gold``: the midpoint below the best prefix."""
    items = sorted(candidates.items(), key=lambda item: -item[1])
    correct = 0
    best_f1, threshold = 0.0, 0.0
    for n, (pair, score) in enumerate(items):
        extracted = n + 1
        correct += pair in gold
        if correct:
            precision, recall = correct / extracted, correct / len(gold)
            f1 = 2 * precision * recall / (precision + recall)
            if f1 > best_f1:
                best_f1 = f1
                threshold = (score + items[n + 1][1]) / 2 if n + 1 < len(items) else score
    return threshold


class BitextMining(TaskType):
    fields = ("source", "target", "gold")
    trainable = False
    tune_split = True
    options_schema = OPTIONS_SCHEMA

    def head(self, task: Any) -> Head:
        return Head("encoder")

    def candidates(self, task: Any, model: Any, record: dict, settings: RunSettings) -> dict[tuple[str, str], float]:
        x_sents, x_ids = unique_ids(record["source"])
        y_sents, y_ids = unique_ids(record["target"])
        if not x_sents or not y_sents:
            raise DataError(f"task {task.name!r}: a BUCC corpus side is empty")
        pairs = mine(
            model.embed(x_sents, settings),
            model.embed(y_sents, settings),
            int(task.task_options.get("neighborhood", 4)),
        )
        out: dict[tuple[str, str], float] = {}
        for i, j, score in pairs:
            if x_sents[i] in x_ids and y_sents[j] in y_ids:
                key = (x_ids[x_sents[i]], y_ids[y_sents[j]])
                out[key] = max(score, out.get(key, score))
        return out

    def predict(
        self, task: Any, model: Any, records: Sequence[dict], settings: RunSettings, tune: Sequence[dict] | None = None
    ) -> dict[str, Any]:
        if len(records) != 1:
            raise DataError(f"task {task.name!r}: expected one corpus per language, got {len(records)} records")
        found = self.candidates(task, model, records[0], settings)
        from_eval = task.task_options.get("threshold_from", "tune") == "eval" or not tune
        if from_eval:
            threshold = best_threshold(found, {tuple(p) for p in records[0]["gold"]})
        else:
            tune_found = found if list(tune) == list(records) else self.candidates(task, model, tune[0], settings)
            threshold = best_threshold(tune_found, {tuple(p) for p in tune[0]["gold"]})
        tuned_on_eval = from_eval or list(tune or []) == list(records)
        return {
            "pairs": sorted([list(pair) for pair, score in found.items() if score >= threshold]),
            "threshold": threshold,
            "threshold_tuned_on_eval": tuned_on_eval,
        }

    def references(self, task: Any, records: Sequence[dict]) -> list[list[str]]:
        return [list(pair) for pair in records[0]["gold"]]

    def cost_units(self, record: dict) -> int:
        """A corpus costs its sentences: both sides are embedded (the k-NN search is cheap beside it)."""
        return len(record["source"]) + len(record["target"])


@hookimpl
def stilts_task_types() -> list[Entry]:
    return [Entry("bitext_mining", BitextMining, "mine parallel sentences from two corpora (BUCC)")]
