"""SQuAD-style JSON (SQuAD v1.1/v2.0, XQuAD, MLQA, TyDiQA-GoldP): one record per question."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from harness import hookimpl
from harness.errors import DataError
from harness.interfaces import DataFormat, Entry
from plugins.formats.textio import NO_OPTIONS, read_text, single_file


def json_kind(value: Any) -> str:
    """How an error message names a JSON value's type ("an object", "a list", "null" ...)."""
    return {dict: "an object", list: "a list", str: "a string", int: "an integer"}.get(
        type(value), f"a {type(value).__name__}" if value is not None else "null"
    )


def expect(path: Path, ok: bool, where: str, what: str, value: Any) -> None:
    """Raise a DataError naming ``path`` and the place ``where`` unless ``ok``."""
    if not ok:
        raise DataError(f"{path}: {where} is {json_kind(value)}; expected {what} (SQuAD-style JSON)")


def answer_start(path: Path, value: Any, where: str, *, negative_strings: bool) -> int:
    """An answer's ``answer_start`` as an int: an integer, or digits in a string (some copies of
    the data write it quoted); ``negative_strings`` also takes a quoted minus sign. Anything else
    is a DataError naming ``path`` and ``where``."""
    if isinstance(value, str):
        digits = value.strip().lstrip("-") if negative_strings else value.strip()
        if digits.isdigit() and len(value) < 20:
            value = int(value)
    expect(path, isinstance(value, int) and not isinstance(value, bool), where, "an integer", value)
    return int(value)


def load_squad_articles(path: Path) -> list[Any]:
    """The ``data`` list of a SQuAD-style JSON file; anything else is a DataError naming the file."""
    try:
        document = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON at line {exc.lineno} column {exc.colno} ({exc.msg})") from None
    except RecursionError:
        raise DataError(f"{path}: JSON nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise DataError(f"{path}: not usable JSON ({str(exc)[:120]})") from None
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, list):
        raise DataError(
            f"{path}: the top level 'data' is {json_kind(data)}; expected a list of articles (SQuAD-style JSON)"
        )
    return data


def squad_paragraphs(path: Path) -> Iterator[tuple[dict[str, Any], str, dict[str, Any]]]:
    """Every ``(article, place, paragraph)`` of a SQuAD-style file, articles and paragraphs
    checked to be objects (``place`` is ``data[a].paragraphs[p]``)."""
    need = partial(expect, path)
    for a, article in enumerate(load_squad_articles(path)):
        need(isinstance(article, dict), f"data[{a}]", "an object", article)
        paragraphs = article.get("paragraphs", [])
        need(isinstance(paragraphs, list), f"data[{a}].paragraphs", "a list", paragraphs)
        for p, paragraph in enumerate(paragraphs):
            where_p = f"data[{a}].paragraphs[{p}]"
            need(isinstance(paragraph, dict), where_p, "an object", paragraph)
            yield article, where_p, paragraph


def squad_questions(path: Path, where_p: str, paragraph: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every ``(place, qa)`` of a paragraph, each an object with ``id``, ``question`` and ``answers``."""
    qas = paragraph.get("qas", [])
    expect(path, isinstance(qas, list), f"{where_p}.qas", "a list", qas)
    for q, qa in enumerate(qas):
        where = f"{where_p}.qas[{q}]"
        expect(path, isinstance(qa, dict), where, "an object", qa)
        missing = [key for key in ("id", "question", "answers") if key not in qa]
        if missing:
            raise DataError(f"{path}: {where} lacks {missing}")
        yield where, qa


def check_question(path: Path, where: str, qa: dict[str, Any]) -> None:
    """A question is a string and its answers a list."""
    expect(path, isinstance(qa["question"], str), f"{where}.question", "a string", qa["question"])
    expect(path, isinstance(qa["answers"], list), f"{where}.answers", "a list", qa["answers"])


class SquadJson(DataFormat):
    """``{"data": [{"title", "paragraphs": [{"context", "qas": [...]}]}]}`` -> records
    ``{"id", "title", "context", "question", "answers": {"text": [...], "answer_start": [...]}}``
    (the Hugging Face layout). Unanswerable v2.0 questions have empty answer lists. Anything else
    in the file's layout is a :class:`DataError` naming the file and the place
    (``data[0].paragraphs[3].qas[1]``)."""

    options_schema = NO_OPTIONS

    def record_keys(self, roles: Sequence[str], options: Mapping[str, Any]) -> frozenset[str] | None:
        return frozenset({"id", "title", "context", "question", "answers"})

    def read(self, files: dict[str, Path], options: dict[str, Any]) -> Iterator[dict[str, Any]]:
        path = single_file(files, "squad_json")
        need = partial(expect, path)
        for article, where_p, paragraph in squad_paragraphs(path):
            for where, qa in squad_questions(path, where_p, paragraph):
                if "context" not in paragraph:
                    raise DataError(f"{path}: {where} lacks ['context']")
                need(isinstance(paragraph["context"], str), f"{where_p}.context", "a string", paragraph["context"])
                check_question(path, where, qa)
                texts, starts = [], []
                for n, answer in enumerate(qa["answers"]):
                    where_a = f"{where}.answers[{n}]"
                    need(isinstance(answer, dict), where_a, "an object with text and answer_start", answer)
                    need(isinstance(answer.get("text"), str), f"{where_a}.text", "a string", answer.get("text"))
                    start = answer_start(
                        path, answer.get("answer_start"), f"{where_a}.answer_start", negative_strings=True
                    )
                    texts.append(answer["text"])
                    starts.append(start)
                title = article.get("title", "")
                yield {
                    "id": str(qa["id"]),
                    "title": title if isinstance(title, str) else str(title),
                    "context": paragraph["context"],
                    "question": qa["question"],
                    "answers": {"text": texts, "answer_start": starts},
                }


@hookimpl
def stilts_data_formats() -> list[Entry]:
    return [Entry("squad_json", SquadJson, "SQuAD v1.1/v2.0-style JSON (XQuAD, MLQA, TyDiQA-GoldP)")]
