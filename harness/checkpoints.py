"""Resumable training checkpoints that are either complete or ignored.

transformers' Trainer writes ``checkpoint-<step>/`` file by file (weights, optimizer, scheduler,
RNG state, ``trainer_state.json``). A process killed in the middle leaves a folder that looks like
a checkpoint but cannot be resumed (a 0-byte ``trainer_state.json``). stilts therefore writes a
marker, ``stilts-complete.json``, into a checkpoint once Trainer has finished it (from the
``on_save`` callback), listing every file with its size. Only a checkpoint whose marker exists and
whose files still have those sizes is resumed from; older checkpoints are deleted only after a
newer one is marked, so at every moment of a run at least one complete checkpoint (or none yet)
exists.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

from harness.atomic import write_json_atomic

log = logging.getLogger("stilts.checkpoints")

COMPLETE_MARKER = "stilts-complete.json"
_CHECKPOINT = re.compile(r"checkpoint-(\d+)")


def checkpoint_step(folder: Path) -> int | None:
    """The step of a ``checkpoint-<step>`` folder (None for any other name)."""
    match = _CHECKPOINT.fullmatch(folder.name)
    return int(match.group(1)) if match else None


def _files(folder: Path) -> dict[str, int]:
    return {
        p.relative_to(folder).as_posix(): p.stat().st_size
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != COMPLETE_MARKER
    }


def mark_complete(folder: Path) -> None:
    """Record that Trainer finished writing ``folder`` (every file and its size)."""
    write_json_atomic(folder / COMPLETE_MARKER, {"step": checkpoint_step(folder), "files": _files(folder)})


def is_complete(folder: Path) -> bool:
    """True when ``folder`` has a marker and every file it lists still has its recorded size."""
    try:
        marker = json.loads((folder / COMPLETE_MARKER).read_text(encoding="utf-8"))
        return bool(marker["files"]) and marker["files"] == _files(folder)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def checkpoints(root: Path) -> list[Path]:
    """Every ``checkpoint-<step>`` folder under ``root``, oldest step first."""
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and checkpoint_step(p) is not None]
    return sorted(found, key=lambda p: checkpoint_step(p) or 0)


def last_complete_checkpoint(root: Path) -> Path | None:
    """The newest complete checkpoint under ``root``; incomplete folders newer than it (a write
    that was interrupted) are deleted so that Trainer never sees them."""
    found = checkpoints(root)
    for folder in reversed(found):
        if is_complete(folder):
            return folder
        log.warning("discarding incomplete checkpoint %s (interrupted while it was written)", folder)
        shutil.rmtree(folder, ignore_errors=True)
    return None


def keep_only(root: Path, keep: Path) -> None:
    """Delete every checkpoint under ``root`` except ``keep`` (which must be complete)."""
    for folder in checkpoints(root):
        if folder != keep:
            shutil.rmtree(folder, ignore_errors=True)
