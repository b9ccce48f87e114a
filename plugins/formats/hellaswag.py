"""HellaSwag's plain-text layout: six lines per example (context, gold index, four endings)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness import hookimpl
from harness.errors import DataError
from harness.interfaces import DataFormat, Entry
from plugins.formats.textio import NO_OPTIONS, read_text, single_file


class HellaswagText(DataFormat):
    """``activity_label: ctx`` / gold ending index / ending 1..4 -> ``{"ctx", "label", "endings"}``."""

    options_schema = NO_OPTIONS

    def record_keys(self, roles: Sequence[str], options: Mapping[str, Any]) -> frozenset[str] | None:
        return frozenset({"ctx", "label", "endings"})

    def read(self, files: dict[str, Path], options: dict[str, Any]) -> Iterator[dict[str, Any]]:
        path = single_file(files, "hellaswag_text")
        lines = read_text(path).splitlines()
        if len(lines) % 6:
            raise DataError(
                f"{path}: {len(lines)} lines is not a multiple of 6 (context, label, 4 endings per example)"
            )
        for start in range(0, len(lines), 6):
            label = lines[start + 1].strip()
            if label not in {"0", "1", "2", "3"}:
                raise DataError(f"{path}: line {start + 2}: expected the gold ending index 0-3, got {label!r}")
            yield {"ctx": lines[start], "label": label, "endings": lines[start + 2 : start + 6]}


@hookimpl
def stilts_data_formats() -> list[Entry]:
    return [Entry("hellaswag_text", HellaswagText, "HellaSwag text layout, 6 lines per example")]
