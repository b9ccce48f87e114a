"""Opening data files as UTF-8 text with errors that name the file and the line.

Every format reads through these helpers, so that a byte that is not UTF-8, an unreadable file or
the wrong file roles is a :class:`~harness.errors.DataError`, never a raw exception. A UTF-8 byte
order mark at the start of a file is dropped (``utf-8-sig``), so it never ends up in the first
field.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from harness.errors import DataError

#: Schema of a format that takes no options: any option is an error with a hint.
NO_OPTIONS = {"type": "object", "additionalProperties": False, "properties": {}}


def _cannot_read(path: Path, exc: OSError) -> DataError:
    return DataError(f"{path}: cannot read the file ({exc.strerror or exc})")


def not_utf8(path: Path) -> DataError:
    """The error for a file that is not UTF-8: line, byte offset and the byte found."""
    try:
        with open(path, "rb") as handle:
            offset = 0
            for line_no, raw in enumerate(handle, start=1):
                skip = len(codecs.BOM_UTF8) if line_no == 1 and raw.startswith(codecs.BOM_UTF8) else 0
                try:
                    raw[skip:].decode("utf-8")
                except UnicodeDecodeError as exc:
                    at = skip + exc.start
                    return DataError(
                        f"{path}: line {line_no} (byte offset {offset + at}): byte 0x{raw[at]:02x} is not "
                        "UTF-8; data files must be UTF-8 encoded"
                    )
                offset += len(raw)
    except OSError as exc:
        return _cannot_read(path, exc)
    return DataError(f"{path}: the file is not UTF-8 text")  # pragma: no cover - the decoder said it was not


@contextmanager
def open_text(path: Path, newline: str | None = None) -> Iterator[IO[str]]:
    """``open(path, encoding="utf-8-sig", newline=newline)``; a byte that is not UTF-8, met
    anywhere while the block reads the file, raises :class:`DataError` naming line and offset."""
    try:
        with open(path, encoding="utf-8-sig", newline=newline) as handle:
            yield handle
    except UnicodeDecodeError:
        raise not_utf8(path) from None
    except OSError as exc:
        raise _cannot_read(path, exc) from None


def read_text(path: Path) -> str:
    """The whole file as text (a leading byte order mark dropped)."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise _cannot_read(path, exc) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise not_utf8(path) from None


def single_file(files: dict[str, Path], format_name: str) -> Path:
    """The one file of a single-file format (role ``path``)."""
    if set(files) != {"path"}:
        shown = ", ".join(f"{role}={path}" for role, path in files.items())
        raise DataError(
            f"format {format_name!r} reads one file per split (a path, or a list of paths); got roles: {shown}"
        )
    return files["path"]
