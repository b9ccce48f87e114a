"""A memo of result files that passed validation, so rebuilding a leaderboard re-checks only
what changed.

A result's verdict depends only on its bytes and on the validator (the result schema, the task
spec schema it refers to, and the code of the checks), so the memo is keyed by the sha256 of the
file's bytes and a digest of those validator files. Only "valid" verdicts are stored; an invalid
file is checked (and reported) every time. The memo lives beside the file-digest memo in
``$STILTS_CACHE_DIR`` (SQLite, safe for parallel processes); deleting it only costs time, and a
folder that cannot be written leaves the memo in memory.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from functools import cache
from pathlib import Path

from harness.fingerprint import open_cache_db

log = logging.getLogger("stilts.validated")

#: The files whose content decides a result's verdict.
VALIDATOR_FILES = (
    "specs/result.schema.json",
    "specs/task_spec.schema.json",
    "specs/__init__.py",
    "results.py",
    "units.py",
)


@cache
def validator_digest() -> str:
    """sha256 over the validator's files (a change to any of them invalidates every verdict)."""
    digest = hashlib.sha256()
    root = Path(__file__).parent
    for name in VALIDATOR_FILES:
        digest.update(name.encode() + b"\0" + (root / name).read_bytes() + b"\0")
    return digest.hexdigest()


class ValidMemo:
    """Digests of result files known to be valid under the current validator."""

    def __init__(self) -> None:
        self.memory: set[str] = set()
        self.db = open_cache_db(
            "valid-results.sqlite3",
            "CREATE TABLE IF NOT EXISTS valid (sha256 TEXT, validator TEXT, PRIMARY KEY (sha256, validator))",
        )

    def known(self, digest: str) -> bool:
        if digest in self.memory:
            return True
        if self.db is None:
            return False
        try:
            row = self.db.execute(
                "SELECT 1 FROM valid WHERE sha256 = ? AND validator = ?", (digest, validator_digest())
            ).fetchone()
        except sqlite3.Error:
            return False
        if row:
            self.memory.add(digest)
        return bool(row)

    def remember(self, digest: str) -> None:
        self.memory.add(digest)
        if self.db is not None:
            try:
                self.db.execute("INSERT OR IGNORE INTO valid VALUES (?, ?)", (digest, validator_digest()))
            except sqlite3.Error as exc:
                log.warning("cannot record a validated result (%s)", exc)
