"""What a finished stage holds, recorded in its marker and checked before it is reused.

When a stage is built, its marker (``stage.json``) records every output file's size and xxh3-128
digest (xxhash: the hash ``datasets`` already depends on; ``bench/bench_stage_digests.py``
measures it against reading the file). A stage counts as done only while its outputs are what the
marker says:

* sizes are compared every time a stage is looked at (a ``stat`` per file);
* small files (scores, reports, configuration: up to :data:`DIGEST_AT_ONCE` bytes) are digested
  every time too, so an edited score or a truncated report is never reused;
* large files (weights) are digested when the stage is first used as an input in a process
  (:meth:`harness.stages.StageStore.verify`), so planning a study never reads gigabytes.

A stage that fails a check is moved aside to ``runs/<kind>/.corrupt/`` (kept for inspection, never
deleted) with a note saying which file was wrong, and is built again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import xxhash

#: Files of a stage folder that are not its outputs: the marker itself, the stage's log, and the
#: record of weights deleted on purpose (``--prune-target-weights``).
MARKER = "stage.json"
LOG = "log.txt"
PRUNED = "weights-pruned.json"
NOT_OUTPUTS = frozenset({MARKER, LOG, PRUNED})
#: Files up to this size are digested every time their stage is looked at.
DIGEST_AT_ONCE = 4 * 1024 * 1024
CHUNK = 8 * 1024 * 1024


def file_digest(path: Path) -> str:
    """The xxh3-128 hex digest of a file's bytes, read in 8 MiB chunks."""
    digest = xxhash.xxh3_128()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def output_manifest(folder: Path) -> dict[str, dict[str, Any]]:
    """``{relative path: {"size", "xxh3"}}`` for every output file under ``folder``."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            relative = path.relative_to(folder).as_posix()
            if relative not in NOT_OUTPUTS:
                found[relative] = {"size": path.stat().st_size, "xxh3": file_digest(path)}
    return found


def read_marker(folder: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The stage's marker, or (None, what is wrong with it)."""
    path = folder / MARKER
    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, f"{path} is missing"
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return None, f"{path} cannot be read ({type(exc).__name__}: {exc})"
    if not isinstance(marker, dict) or not isinstance(marker.get("files"), dict):
        return None, f"{path} records no output files (a stage marker from before stilts checked outputs)"
    if marker.get("digest") != marker_digest(marker):
        return None, f"{path} was changed after the stage was built (its own digest does not match)"
    return marker, None


def marker_digest(marker: dict[str, Any]) -> str:
    """The digest a marker records of itself (everything but its ``digest``), so that an edited
    marker is never trusted."""
    body = {key: value for key, value in marker.items() if key != "digest"}
    return xxhash.xxh3_128_hexdigest(json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8"))


def pruned_files(folder: Path) -> set[str]:
    """The weight files deleted on purpose (``model/<name>``), which the check does not expect."""
    path = folder / PRUNED
    if not path.is_file():
        return set()
    try:
        removed = json.loads(path.read_text(encoding="utf-8")).get("removed", {})
    except (OSError, ValueError, AttributeError):
        return set()
    return {f"model/{name}" for name in removed}


def output_problem(folder: Path, files: dict[str, dict[str, Any]], digest_large: bool) -> str | None:
    """The first way the outputs under ``folder`` differ from ``files`` (None: they do not).
    ``digest_large``: digest every file, not only the small ones."""
    expected_missing = pruned_files(folder)
    for relative, recorded in sorted(files.items()):
        path = folder / relative
        if relative in expected_missing:
            continue
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return f"{path} is missing (the stage recorded {recorded['size']} bytes)"
        if not path.is_file():
            return f"{path} is not a regular file"
        if size != recorded["size"]:
            return f"{path} has {size} bytes; the stage recorded {recorded['size']}"
        if (size <= DIGEST_AT_ONCE or digest_large) and file_digest(path) != recorded["xxh3"]:
            return f"{path} changed since the stage was built (its xxh3 digest differs from the one recorded)"
    return None
