"""Extractive-QA metrics with the official scorers' normalisation, in percent.

* ``squad_f1``: the SQuAD v1.1 evaluation script (XQuAD, TyDiQA-GoldP and SQuAD v1.1 in XTREME):
  lower case, drop ASCII punctuation, drop English articles, split on whitespace; EM and token
  F1 take the best gold answer; an unanswered question scores 0.
* ``squad_v2_f1``: the SQuAD v2.0 script: the same normalisation, unanswerable questions have
  the gold answer ``""``, an empty prediction or gold compares by equality; HasAns/NoAns split.
* ``mlqa_f1``: the MLQA script: Unicode punctuation, per-language articles (en, es, de, vi, ar;
  none for hi, zh), whitespace tokens, and for Chinese each CJK character is a token. It needs the
  evaluation language and refuses languages the MLQA script does not define.

Predictions are ``{question id: answer text}``; references are ``[{"id", "answers": [texts]}]``.
"""

from __future__ import annotations

import re
import string
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from functools import cache

from harness import hookimpl
from harness.interfaces import Entry, Metric
from harness.units import Units, units

SQUAD_PUNCT = frozenset(string.punctuation)
MLQA_ARTICLES = {
    "en": r"\b(a|an|the)\b",
    "es": r"\b(un|una|unos|unas|el|la|los|las)\b",
    "vi": r"\b(của|là|cái|chiếc|những)\b",
    "de": r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b",
    "ar": r"\sال^|ال",
    "hi": None,
    "zh": None,
}
CJK = re.compile(r"[\u4e00-\u9fa5]")


@cache
def unicode_punctuation() -> frozenset[str]:
    """Every Unicode character of a punctuation category, plus ASCII punctuation (MLQA)."""
    return (
        frozenset(chr(i) for i in range(sys.maxunicode) if unicodedata.category(chr(i)).startswith("P")) | SQUAD_PUNCT
    )


def squad_normalize(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in SQUAD_PUNCT)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def mlqa_tokens(text: str, lang: str) -> list[str]:
    if lang not in MLQA_ARTICLES:
        raise ValueError(
            f"the MLQA scorer defines no normalisation for language {lang!r} (it knows {sorted(MLQA_ARTICLES)})"
        )
    punct = unicode_punctuation()
    text = "".join(ch for ch in text.lower() if ch not in punct)
    if MLQA_ARTICLES[lang]:
        text = re.sub(MLQA_ARTICLES[lang], " ", text)
    if lang != "zh":
        return text.split()
    tokens, pending = [], ""
    for ch in text:  # a CJK character (or punctuation) is a token of its own
        if CJK.search(ch) or ch in punct:
            tokens += pending.split()
            pending = ""
            tokens.append(ch)
        else:
            pending += ch
    return [t for t in tokens + pending.split() if t.strip()]


def token_f1(pred: list[str], gold: list[str]) -> float:
    same = sum((Counter(pred) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def f1_per_question(predictions: dict[str, str], references: Sequence[dict], f1: Callable[[str, str], float]) -> Units:
    """Per question (in reference order) its best F1 over the gold answers; 0 when unanswered:
    the rows whose mean is the official scripts' F1."""
    return units(
        "mean",
        [
            [max(f1(predictions[ref["id"]], gold) for gold in ref["answers"]) if ref["id"] in predictions else 0.0]
            for ref in references
        ],
    )


def best_over_golds(
    predictions: dict[str, str],
    references: Sequence[dict],
    em: Callable[[str, str], float],
    f1: Callable[[str, str], float],
) -> tuple[float, float]:
    if not references:
        raise ValueError("no references to score")
    total_em = total_f1 = 0.0
    for ref in references:
        if ref["id"] not in predictions:
            continue  # unanswered: scores 0, as the official scripts count it
        pred = predictions[ref["id"]]
        total_em += max(em(pred, gold) for gold in ref["answers"])
        total_f1 += max(f1(pred, gold) for gold in ref["answers"])
    return 100.0 * total_em / len(references), 100.0 * total_f1 / len(references)


class SquadV1(Metric):
    higher_is_better = {"squad_f1": True, "squad_em": True}
    value_ranges = {key: (0, 100) for key in higher_is_better}

    def compute(self, predictions, references, language: str | None = None) -> dict[str, float]:
        em, f1 = best_over_golds(
            predictions,
            references,
            lambda p, g: float(squad_normalize(p) == squad_normalize(g)),
            lambda p, g: token_f1(squad_normalize(p).split(), squad_normalize(g).split()),
        )
        return {"squad_f1": f1, "squad_em": em}

    def unit_statistics(self, predictions, references, language: str | None = None) -> Units | None:
        return f1_per_question(
            predictions, references, lambda p, g: token_f1(squad_normalize(p).split(), squad_normalize(g).split())
        )


def v2_f1(pred: str, gold: str) -> float:
    p, g = squad_normalize(pred).split() if pred else [], squad_normalize(gold).split() if gold else []
    if not p or not g:
        return float(p == g)
    return token_f1(p, g)


class SquadV2(Metric):
    higher_is_better = {
        "squad_v2_f1": True,
        "squad_v2_em": True,
        "has_ans_f1": True,
        "has_ans_em": True,
        "has_ans_n": None,
        "no_ans_f1": True,
        "no_ans_em": True,
        "no_ans_n": None,
    }
    value_ranges = {key: (0, None) if key.endswith("_n") else (0, 100) for key in higher_is_better}

    @staticmethod
    def with_empty_gold(references: Sequence[dict]) -> list[dict]:
        """References whose answers are all empty get the one gold answer "" (unanswerable)."""
        return [{"id": r["id"], "answers": [a for a in r["answers"] if squad_normalize(a)] or [""]} for r in references]

    def compute(self, predictions, references, language: str | None = None) -> dict[str, float]:
        refs = self.with_empty_gold(references)
        em_fn = lambda p, g: float(squad_normalize(p) == squad_normalize(g))  # noqa: E731
        em, f1 = best_over_golds(predictions, refs, em_fn, v2_f1)
        scores = {"squad_v2_f1": f1, "squad_v2_em": em}
        for name, subset in (
            ("has_ans", [r for r in refs if r["answers"] != [""]]),
            ("no_ans", [r for r in refs if r["answers"] == [""]]),
        ):
            if subset:
                sub_em, sub_f1 = best_over_golds(predictions, subset, em_fn, v2_f1)
                scores |= {f"{name}_f1": sub_f1, f"{name}_em": sub_em, f"{name}_n": float(len(subset))}
        return scores

    def unit_statistics(self, predictions, references, language: str | None = None) -> Units | None:
        return f1_per_question(predictions, self.with_empty_gold(references), v2_f1)


class Mlqa(Metric):
    higher_is_better = {"mlqa_f1": True, "mlqa_em": True}
    value_ranges = {key: (0, 100) for key in higher_is_better}

    def compute(self, predictions, references, language: str | None = None) -> dict[str, float]:
        if language is None:
            raise ValueError("the MLQA scorer needs the answer language")
        em, f1 = best_over_golds(
            predictions,
            references,
            lambda p, g: float(mlqa_tokens(p, language) == mlqa_tokens(g, language)),
            lambda p, g: token_f1(mlqa_tokens(p, language), mlqa_tokens(g, language)),
        )
        return {"mlqa_f1": f1, "mlqa_em": em}

    def unit_statistics(self, predictions, references, language: str | None = None) -> Units | None:
        if language is None:
            raise ValueError("the MLQA scorer needs the answer language")
        return f1_per_question(
            predictions, references, lambda p, g: token_f1(mlqa_tokens(p, language), mlqa_tokens(g, language))
        )


@hookimpl
def stilts_metrics() -> list[Entry]:
    return [
        Entry("squad_f1", SquadV1, "SQuAD v1.1 script: F1 and EM (XQuAD, TyDiQA-GoldP, SQuAD)"),
        Entry("squad_v2_f1", SquadV2, "SQuAD v2.0 script: F1/EM with unanswerable questions, HasAns/NoAns"),
        Entry("mlqa_f1", Mlqa, "MLQA script: language-aware normalisation, F1 and EM"),
    ]
