"""SQuAD-style JSON (SQuAD v1.1/v2.0, XQuAD, MLQA, TyDiQA-GoldP): one record per question."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness import hookimpl
from harness.errors import DataError
from harness.interfaces import DataFormat, Entry


class SquadJson(DataFormat):
    """``{"data": [{"title", "paragraphs": [{"context", "qas": [...]}]}]}`` -> records
    ``{"id", "title", "context", "question", "answers": {"text": [...], "answer_start": [...]}}``
    (the Hugging Face layout). Unanswerable v2.0 questions have empty answer lists."""

    def read(self, files: dict[str, Path], options: dict[str, Any]) -> Iterator[dict[str, Any]]:
        path = files["path"]
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DataError(f"{path}: not SQuAD-style JSON with a top-level 'data' list ({exc})") from None
        for a, article in enumerate(data):
            for p, paragraph in enumerate(article.get("paragraphs", [])):
                for q, qa in enumerate(paragraph.get("qas", [])):
                    missing = [key for key in ("id", "question", "answers") if key not in qa]
                    if missing or "context" not in paragraph:
                        where = f"data[{a}].paragraphs[{p}].qas[{q}]"
                        raise DataError(f"{path}: {where} lacks {missing or ['context']}")
                    yield {
                        "id": str(qa["id"]),
                        "title": article.get("title", ""),
                        "context": paragraph["context"],
                        "question": qa["question"],
                        "answers": {"text": [x["text"] for x in qa["answers"]],
                                    "answer_start": [int(x["answer_start"]) for x in qa["answers"]]},
                    }


@hookimpl
def stilts_data_formats() -> list[Entry]:
    return [Entry("squad_json", SquadJson, "SQuAD v1.1/v2.0-style JSON (XQuAD, MLQA, TyDiQA-GoldP)")]
