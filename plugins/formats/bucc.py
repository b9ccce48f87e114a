"""BUCC 2018 corpora: ``id<TAB>sentence`` files per side and an optional gold pair file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness import hookimpl
from harness.errors import DataError
from harness.interfaces import DataFormat, Entry, FileRoles
from plugins.formats.textio import open_text


def read_pairs(path: Path, what: str) -> list[list[str]]:
    rows = []
    with open_text(path) as handle:
        for line_no, line in enumerate(handle, start=1):
            line = line.rstrip("\n")
            if not line:
                continue
            cells = line.split("\t")
            if len(cells) != 2:
                raise DataError(f"{path}: line {line_no} has {len(cells)} column(s); expected {what}")
            rows.append([cells[0].strip(), cells[1].strip()])
    return rows


class BuccCorpus(DataFormat):
    """One record per corpus: ``{"source": [[id, sentence]...], "target": [...], "gold": [[source_id,
    target_id]...]}``; mining needs the whole corpus at once. Files: ``source``, ``target``, ``gold``."""

    file_roles = FileRoles(required=("source", "target"), optional=("gold",))
    options_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "max_distractors": {
                "type": "integer",
                "minimum": 0,
                "maximum": 1000000000,
                "description": "Keep every sentence of a gold pair and only the first N other sentences of each "
                "side (a smaller, easier corpus for quick runs; needs the gold file).",
            }
        },
    }

    def read(self, files: dict[str, Path], options: dict[str, Any]) -> Iterator[dict[str, Any]]:
        missing = [role for role in ("source", "target") if role not in files]
        extra = sorted(set(files) - {"source", "target", "gold"})
        if missing or extra:
            shown = ", ".join(f"{role}={path}" for role, path in files.items())
            raise DataError(f"format 'bucc_corpus' reads the files source, target and (optionally) gold; got {shown}")
        source = read_pairs(files["source"], "id<TAB>sentence")
        target = read_pairs(files["target"], "id<TAB>sentence")
        gold = read_pairs(files["gold"], "source_id<TAB>target_id") if "gold" in files else []
        limit = options.get("max_distractors")
        if limit is not None:
            if "gold" not in files:
                raise DataError(f"format 'bucc_corpus': max_distractors needs a gold file ({files['source']})")
            source = keep_gold_and_first(source, {pair[0] for pair in gold}, limit)
            target = keep_gold_and_first(target, {pair[1] for pair in gold}, limit)
        yield {"source": source, "target": target, "gold": gold}


def keep_gold_and_first(sentences: list[list[str]], gold_ids: set[str], limit: int) -> list[list[str]]:
    """The sentences whose id is in ``gold_ids`` and the first ``limit`` others, in file order."""
    kept, others = [], 0
    for sentence_id, text in sentences:
        if sentence_id in gold_ids:
            kept.append([sentence_id, text])
        elif others < limit:
            kept.append([sentence_id, text])
            others += 1
    return kept


@hookimpl
def stilts_data_formats() -> list[Entry]:
    return [Entry("bucc_corpus", BuccCorpus, "BUCC 2018 id<TAB>sentence files and gold pairs")]
