"""Result files: one JSON per (experiment cell, target task), validated and written atomically.

The leaderboard is a pure function of a results folder; it refuses (naming the file) any result
that does not validate against ``result.schema.json``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from harness.specs import load_validated, validate_data

SCHEMA_VERSION = 1


def write_json_atomic(path: Path, data: Any) -> None:
    """Write to a temp file in the same folder, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, ensure_ascii=False, sort_keys=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_result(path: Path, result: dict[str, Any]) -> Path:
    """Validate, then write atomically. An invalid result is a bug: it raises, nothing is written."""
    validate_data(result, "result", str(path))
    write_json_atomic(path, result)
    return path


def aggregate(languages: dict[str, dict[str, float]], metric: str, aggregation: dict[str, str],
              train_language: str | None) -> dict[str, Any]:
    """The task's average as its spec defines it (XTREME: macro mean over all eval languages)."""
    langs = sorted(languages)
    if aggregation["languages"] == "non_train":
        langs = [lang for lang in langs if lang != train_language] or langs
    if aggregation["mean"] == "size_weighted":
        total = sum(languages[lang]["n"] for lang in langs)
        mean = sum(languages[lang][metric] * languages[lang]["n"] for lang in langs) / total
    else:
        mean = sum(languages[lang][metric] for lang in langs) / len(langs)
    others = [languages[lang][metric] for lang in sorted(languages) if lang != "en"]
    return {
        "metric": metric,
        "mean": mean,
        "languages": langs,
        "english": languages["en"][metric] if "en" in languages else None,
        "mean_without_english": sum(others) / len(others) if others else None,
    }


def load_results(folder: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Every ``*.json`` result under ``folder`` (recursively); raises SpecError on an invalid one."""
    out = []
    for path in sorted(Path(folder).rglob("*.json")):
        if path.name.startswith("."):
            continue
        out.append((path, load_validated(path, "result")))
    return out
