"""Local file formats: tsv, csv, jsonl, text_lines and aligned_lines (parallel sentence files).

Every problem with a file (bytes that are not UTF-8, a wrong number of columns, a line that is
not JSON) is a :class:`DataError` naming the file and the line.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness import hookimpl
from harness.errors import DataError
from harness.interfaces import DataFormat, Entry, FileRoles
from plugins.formats.textio import NO_OPTIONS, open_text, single_file

csv.field_size_limit(sys.maxsize)

_COLUMN = {"type": "string", "minLength": 1, "maxLength": 256}

TSV_OPTIONS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "columns": {
            "type": "array",
            "items": _COLUMN,
            "minItems": 1,
            "maxItems": 1000,
            "uniqueItems": True,
            "description": "column names, in order",
        },
        "header": {"type": "boolean", "description": "take the column names from the first line"},
        "skip_malformed": {"type": "boolean", "description": "skip lines with the wrong number of columns"},
    },
    "anyOf": [{"required": ["columns"]}, {"required": ["header"], "properties": {"header": {"const": True}}}],
    "description": "options.columns (a list of names) or options.header: true",
}

CSV_OPTIONS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"delimiter": {"type": "string", "minLength": 1, "maxLength": 1, "description": "one character"}},
}


class Tsv(DataFormat):
    """Tab-separated values, no quoting (the XTREME files contain bare quotes).

    Options: ``columns`` (names, in order) or ``header: true`` (names from the first line);
    ``skip_malformed`` (default false: a line with the wrong number of columns is an error; true:
    such lines are skipped).
    """

    options_schema = TSV_OPTIONS

    def record_keys(self, roles: Sequence[str], options: Mapping[str, Any]) -> frozenset[str] | None:
        columns = options.get("columns")
        return frozenset(columns) if isinstance(columns, list) else None

    def read(self, files: dict[str, Path], options: dict[str, Any]) -> Iterator[dict[str, Any]]:
        path = single_file(files, "tsv")
        columns = options.get("columns")
        skip = bool(options.get("skip_malformed", False))
        with open_text(path, newline="") as handle:
            reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            try:
                if options.get("header"):
                    columns = next(reader, None)
                if not columns:
                    raise DataError(f"{path}: tsv needs options.columns or options.header: true (and a header line)")
                for row in reader:
                    if not row:
                        continue
                    if len(row) != len(columns):
                        if skip:
                            continue
                        raise DataError(
                            f"{path}: line {reader.line_num} has {len(row)} column(s), expected "
                            f"{len(columns)} ({', '.join(columns)})"
                        )
                    yield dict(zip(columns, row))
            except csv.Error as exc:
                raise DataError(f"{path}: line {reader.line_num}: {exc}") from None


class Csv(DataFormat):
    """Comma-separated values with a header line and standard quoting (e.g. CosmosQA).
    Option ``delimiter`` (one character, default ``,``)."""

    options_schema = CSV_OPTIONS

    def read(self, files: dict[str, Path], options: dict[str, Any]) -> Iterator[dict[str, Any]]:
        path = single_file(files, "csv")
        with open_text(path, newline="") as handle:
            reader = csv.DictReader(handle, delimiter=options.get("delimiter", ","))
            try:
                for row in reader:
                    if None in row or any(value is None for value in row.values()):
                        raise DataError(
                            f"{path}: the record ending on line {reader.line_num} does not have the "
                            f"header's {len(reader.fieldnames or [])} columns"
                        )
                    yield row
            except csv.Error as exc:
                raise DataError(f"{path}: line {reader.line_num}: {exc}") from None


class DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads``' object hook that refuses an object naming a key twice (plain ``json``
    keeps the last one silently)."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise DuplicateKey(key)
        found[key] = value
    return found


class JsonLines(DataFormat):
    """One JSON object per line (blank lines ignored)."""

    options_schema = NO_OPTIONS

    def read(self, files: dict[str, Path], options: dict[str, Any]) -> Iterator[dict[str, Any]]:
        path = single_file(files, "jsonl")
        with open_text(path) as handle:
            for line_no, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line, object_pairs_hook=unique_keys)
                except DuplicateKey as exc:
                    raise DataError(
                        f"{path}: line {line_no} has the key {exc.key!r} twice (which one counts?)"
                    ) from None
                except json.JSONDecodeError as exc:
                    raise DataError(
                        f"{path}: line {line_no} is not valid JSON ({exc.msg} at column {exc.colno})"
                    ) from None
                except RecursionError:
                    raise DataError(f"{path}: line {line_no} is JSON nested too deeply") from None
                except ValueError as exc:  # e.g. an integer of more than 4300 digits
                    raise DataError(f"{path}: line {line_no} is not usable JSON ({str(exc)[:120]})") from None
                if not isinstance(record, dict):
                    raise DataError(f"{path}: line {line_no} is a JSON {type(record).__name__}, expected an object")
                yield record


class TextLines(DataFormat):
    """Plain text, one example per non-empty line -> ``{"text": line}`` (MLM corpora)."""

    options_schema = NO_OPTIONS

    def record_keys(self, roles: Sequence[str], options: Mapping[str, Any]) -> frozenset[str] | None:
        return frozenset({"text"})

    def read(self, files: dict[str, Path], options: dict[str, Any]) -> Iterator[dict[str, Any]]:
        with open_text(single_file(files, "text_lines")) as handle:
            for line in handle:
                if line.strip():
                    yield {"text": line.rstrip("\n")}


class AlignedLines(DataFormat):
    """Line-aligned parallel files, one sentence per line: ``files`` maps a field to a path
    (e.g. ``{"source": "tatoeba.deu-eng.deu", "target": "tatoeba.deu-eng.eng"}``)."""

    options_schema = NO_OPTIONS
    file_roles = FileRoles(other_roles="a record key (the field its lines become)", minimum=2)

    def record_keys(self, roles: Sequence[str], options: Mapping[str, Any]) -> frozenset[str] | None:
        return frozenset(roles)

    def read(self, files: dict[str, Path], options: dict[str, Any]) -> Iterator[dict[str, Any]]:
        columns = {}
        for role, path in files.items():
            with open_text(path) as handle:
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
