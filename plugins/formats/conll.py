"""Token-level formats: XTREME's ``token<TAB>tag`` files and CoNLL-U."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness import hookimpl
from harness.errors import DataError
from harness.interfaces import DataFormat, Entry


class ConllTags(DataFormat):
    """One token per line (``token<TAB>tag``), a blank line between sentences -> records
    ``{"tokens": [...], "tags": [...]}``. Options: ``token_column`` (0), ``tag_column`` (1)."""

    def read(self, files: dict[str, Path], options: dict[str, Any]) -> Iterator[dict[str, Any]]:
        path = files["path"]
        token_col, tag_col = int(options.get("token_column", 0)), int(options.get("tag_column", 1))
        tokens: list[str] = []
        tags: list[str] = []
        with open(path, encoding="utf-8") as handle:
            for line_no, line in enumerate(handle, start=1):
                line = line.rstrip("\n")
                if not line.strip():
                    if tokens:
                        yield {"tokens": tokens, "tags": tags}
                    tokens, tags = [], []
                    continue
                cells = line.split("\t")
                if len(cells) <= max(token_col, tag_col):
                    raise DataError(f"{path}: line {line_no} has {len(cells)} column(s); expected a token and a tag separated by a tab")
                tokens.append(cells[token_col])
                tags.append(cells[tag_col])
        if tokens:
            yield {"tokens": tokens, "tags": tags}


class Conllu(DataFormat):
    """CoNLL-U (10 tab-separated columns). Multi-word token ranges (``1-2``) and empty nodes
    (``1.1``) are skipped, as UD's own scorers do for UPOS. Option ``tag_field``: ``upos`` (default)
    or ``xpos``. A line with another number of columns is an error naming file and line."""

    FIELDS = ("id", "form", "lemma", "upos", "xpos", "feats", "head", "deprel", "deps", "misc")

    def read(self, files: dict[str, Path], options: dict[str, Any]) -> Iterator[dict[str, Any]]:
        path = files["path"]
        tag_index = self.FIELDS.index(options.get("tag_field", "upos"))
        tokens: list[str] = []
        tags: list[str] = []
        with open(path, encoding="utf-8") as handle:
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
