"""Atomic file writes: a reader sees the old file or the complete new one, never a torn one.

Every file stilts promises to keep consistent (results, checkpoint markers, dev-selection
state, best weights, translation chunks) is written to a temp file in the same folder, flushed
to disk and renamed over its destination.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_atomic(path: Path, write: Callable[[Any], None], mode: str = "wb") -> None:
    """Write ``path`` through ``write(handle)`` (a file opened with ``mode``), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: Any) -> None:
    """``data`` as indented, standard JSON at ``path``, atomically. NaN and Infinity raise
    ``ValueError`` instead of writing a file no JSON parser accepts."""

    def dump(handle: Any) -> None:
        json.dump(data, handle, indent=2, ensure_ascii=False, allow_nan=False)
        handle.write("\n")

    write_atomic(path, dump, mode="w")
