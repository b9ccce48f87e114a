"""Token-level formats: XTREME's ``token<TAB>tag`` files and CoNLL-U."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness import hookimpl
from harness.errors import DataError
from harness.interfaces import DataFormat, Entry
from plugins.formats.textio import open_text, single_file

TOKEN_RECORD_KEYS = frozenset({"tokens", "tags"})

CONLL_TAGS_OPTIONS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "token_column": {
            "type": "integer",
            "minimum": 0,
            "maximum": 1000,
            "description": "0-based column of the token",
        },
        "tag_column": {"type": "integer", "minimum": 0, "maximum": 1000, "description": "0-based column of the tag"},
    },
}

CONLLU_OPTIONS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"tag_field": {"enum": ["upos", "xpos"], "description": "which tag column to read"}},
}


class ConllTags(DataFormat):
    """One token per line (``token<TAB>tag``), a blank line between sentences -> records
    ``{"tokens": [...], "tags": [...]}``. Options: ``token_column`` (0), ``tag_column`` (1)."""

    options_schema = CONLL_TAGS_OPTIONS

    def record_keys(self, roles: Sequence[str], options: Mapping[str, Any]) -> frozenset[str] | None:
        return TOKEN_RECORD_KEYS

    def read(self, files: dict[str, Path], options: dict[str, Any]) -> Iterator[dict[str, Any]]:
        path = single_file(files, "conll_tags")
        token_col, tag_col = options.get("token_column", 0), options.get("tag_column", 1)
        if not all(isinstance(col, int) and not isinstance(col, bool) and col >= 0 for col in (token_col, tag_col)):
            raise DataError(f"{path}: conll_tags options token_column/tag_column must be column numbers >= 0")
        tokens: list[str] = []
        tags: list[str] = []
        with open_text(path) as handle:
            for line_no, line in enumerate(handle, start=1):
                line = line.rstrip("\n")
                if not line.strip():
                    if tokens:
                        yield {"tokens": tokens, "tags": tags}
                    tokens, tags = [], []
                    continue
                cells = line.split("\t")
                if len(cells) <= max(token_col, tag_col):
                    raise DataError(
                        f"{path}: line {line_no} has {len(cells)} column(s); expected a token and a tag separated by a tab"
                    )
                tokens.append(cells[token_col])
                tags.append(cells[tag_col])
        if tokens:
            yield {"tokens": tokens, "tags": tags}


class Conllu(DataFormat):
    """CoNLL-U (10 tab-separated columns). Multi-word token ranges (``1-2``) and empty nodes
    (``1.1``) are skipped, as UD's own scorers do for UPOS. Option ``tag_field``: ``upos`` (default)
    or ``xpos``. A line with another number of columns is an error naming file and line."""

    FIELDS = ("id", "form", "lemma", "upos", "xpos", "feats", "head", "deprel", "deps", "misc")

    options_schema = CONLLU_OPTIONS

    def record_keys(self, roles: Sequence[str], options: Mapping[str, Any]) -> frozenset[str] | None:
        return TOKEN_RECORD_KEYS

    def read(self, files: dict[str, Path], options: dict[str, Any]) -> Iterator[dict[str, Any]]:
        path = single_file(files, "conllu")
        tag_field = options.get("tag_field", "upos")
        if tag_field not in ("upos", "xpos"):
            raise DataError(f"{path}: conllu option tag_field must be 'upos' or 'xpos', got {tag_field!r}")
        tag_index = self.FIELDS.index(tag_field)
        tokens: list[str] = []
        tags: list[str] = []
        with open_text(path) as handle:
            for line_no, line in enumerate(handle, start=1):
                line = line.rstrip("\n")
                if not line:
                    if tokens:
                        yield {"tokens": tokens, "tags": tags}
                    tokens, tags = [], []
                    continue
                if line.startswith("#"):
                    continue
                cells = line.split("\t")
                if len(cells) != 10:
                    raise DataError(f"{path}: line {line_no} has {len(cells)} column(s); CoNLL-U has 10")
                if "-" in cells[0] or "." in cells[0]:
                    continue
                tokens.append(cells[1])
                tags.append(cells[tag_index])
        if tokens:
            yield {"tokens": tokens, "tags": tags}


@hookimpl
def stilts_data_formats() -> list[Entry]:
    return [
        Entry("conll_tags", ConllTags, "token<TAB>tag per line, blank line between sentences (XTREME)"),
        Entry("conllu", Conllu, "CoNLL-U; tokens and UPOS (or XPOS) tags"),
    ]
