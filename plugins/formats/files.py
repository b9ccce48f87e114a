"""Local file formats: tsv, jsonl and aligned_lines (parallel sentence files)."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness import hookimpl
from harness.errors import DataError
from harness.interfaces import DataFormat, Entry

csv.field_size_limit(sys.maxsize)


class Tsv(DataFormat):
    """Tab-separated values, no quoting (the XTREME files contain bare quotes).

    Options: ``columns`` (names, in order) or ``header: true`` (names from the first line);
    ``skip_malformed: false`` (a line with the wrong number of columns is an error).
    """

    def read(self, files: dict[str, Path], options: dict[str, Any]) -> Iterator[dict[str, Any]]:
        path = files["path"]
        columns = options.get("columns")
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            if options.get("header"):
                columns = next(reader, None)
            if not columns:
                raise DataError(f"{path}: tsv needs options.columns or options.header: true")
            for line_no, row in enumerate(reader, start=2 if options.get("header") else 1):
                if not row:
                    continue
                if len(row) != len(columns):
                    raise DataError(
                        f"{path}: line {line_no} has {len(row)} column(s), expected {len(columns)} ({', '.join(columns)})"
                    )
                yield dict(zip(columns, row))


class Csv(DataFormat):
    """Comma-separated values with a header line and standard quoting (e.g. CosmosQA)."""

    def read(self, files: dict[str, Path], options: dict[str, Any]) -> Iterator[dict[str, Any]]:
        path = files["path"]
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle, delimiter=options.get("delimiter", ","))
            for line_no, row in enumerate(reader, start=2):
                if None in row or any(value is None for value in row.values()):
                    raise DataError(f"{path}: record on line {line_no} does not have the header's {len(reader.fieldnames or [])} columns")
                yield row


class JsonLines(DataFormat):
    """One JSON object per line (blank lines ignored)."""

    def read(self, files: dict[str, Path], options: dict[str, Any]) -> Iterator[dict[str, Any]]:
        path = files["path"]
        with open(path, encoding="utf-8") as handle:
            for line_no, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}: line {line_no} is not valid JSON ({exc.msg})") from None
                if not isinstance(record, dict):
                    raise DataError(f"{path}: line {line_no} is a {type(record).__name__}, expected an object")
                yield record


class TextLines(DataFormat):
    """Plain text, one example per non-empty line -> ``{"text": line}`` (MLM corpora)."""

    def read(self, files: dict[str, Path], options: dict[str, Any]) -> Iterator[dict[str, Any]]:
        with open(files["path"], encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield {"text": line.rstrip("\n")}


class AlignedLines(DataFormat):
    """Line-aligned parallel files, one sentence per line: ``files`` maps a field to a path
    (e.g. ``{"source": "tatoeba.deu-eng.deu", "target": "tatoeba.deu-eng.eng"}``)."""

    def read(self, files: dict[str, Path], options: dict[str, Any]) -> Iterator[dict[str, Any]]:
        columns = {}
        for role, path in files.items():
            with open(path, encoding="utf-8") as handle:
                columns[role] = [line.rstrip("\n").strip() for line in handle]
        lengths = {role: len(lines) for role, lines in columns.items()}
        if len(set(lengths.values())) > 1:
            detail = ", ".join(f"{files[r]}: {n} lines" for r, n in lengths.items())
            raise DataError(f"aligned files differ in length ({detail})")
        roles = list(columns)
        for i in range(next(iter(lengths.values()), 0)):
            yield {role: columns[role][i] for role in roles}


@hookimpl
def stilts_data_formats() -> list[Entry]:
    return [
        Entry("tsv", Tsv, "tab-separated values; options.columns or options.header"),
        Entry("csv", Csv, "comma-separated values with a header line"),
        Entry("jsonl", JsonLines, "one JSON object per line"),
        Entry("aligned_lines", AlignedLines, "line-aligned parallel text files, one per field"),
        Entry("text_lines", TextLines, "plain text, one example per line"),
    ]
