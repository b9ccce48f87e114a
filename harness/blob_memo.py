"""A memo of byte strings by key in one SQLite file of the cache folder, least recently used out.

The leaderboard keeps three of them (validated result contents, bootstrap intervals, drawn
charts), each keyed by a digest of everything its value depends on, so a value found is the value
that would be computed. A memo only saves time: a value that does not match the sha256 stored
beside it is treated as absent, and a cache folder that cannot be written leaves nothing
remembered (:func:`harness.fingerprint.open_cache_db`).
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import time

from harness.fingerprint import open_cache_db

log = logging.getLogger("stilts.memo")


class BlobMemo:
    """Values by key in ``file_name`` (in ``$STILTS_CACHE_DIR``).

    Reads go to the database at once; new values and the use of old ones are recorded by
    :meth:`close`, in one transaction (a commit per value would cost a disk sync each), which then
    drops the least recently used values beyond ``max_entries`` values or ``max_bytes`` bytes.

    :param file_name: the SQLite file's name in the cache folder.
    :param max_entries: how many values to keep at most (None: no limit by count).
    :param max_bytes: how many bytes of values to keep at most (None: no limit by size).
    """

    def __init__(self, file_name: str, max_entries: int | None = None, max_bytes: int | None = None) -> None:
        self.file_name = file_name
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.db = open_cache_db(
            file_name, "CREATE TABLE IF NOT EXISTS memo (key TEXT PRIMARY KEY, body BLOB, sha256 TEXT, used REAL)"
        )
        self.used: list[str] = []
        self.new: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        """The value kept under ``key`` (one put before this memo was opened), or None."""
        if self.db is None:
            return None
        try:
            row = self.db.execute("SELECT body, sha256 FROM memo WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            log.warning("cannot read the memo %s (%s)", self.file_name, exc)
            return None
        if row is None:
            return None
        body = bytes(row[0])
        if hashlib.sha256(body).hexdigest() != row[1]:
            return None  # damaged: computed again, and replaced when put
        self.used.append(key)
        return body

    def put(self, key: str, body: bytes) -> None:
        """Keep ``body`` under ``key`` (written by :meth:`close`)."""
        if self.db is not None:
            self.new[key] = body

    def close(self) -> None:
        """Record the new values and the use of the old ones, trim to the limits, and close."""
        if self.db is None:
            return
        now = time.time()
        try:
            if self.used or self.new:
                with self.db:  # BEGIN ... COMMIT (or ROLLBACK)
                    self.db.execute("BEGIN")
                    self.db.executemany("UPDATE memo SET used = ? WHERE key = ?", [(now, key) for key in self.used])
                    self.db.executemany(
                        "INSERT OR REPLACE INTO memo VALUES (?, ?, ?, ?)",
                        [(key, body, hashlib.sha256(body).hexdigest(), now) for key, body in self.new.items()],
                    )
            if self.new:
                self._trim()
        except sqlite3.Error as exc:
            log.warning("cannot record %d value(s) in the memo %s (%s)", len(self.new), self.file_name, exc)
        finally:
            self.db.close()
        self.db, self.used, self.new = None, [], {}

    def _trim(self) -> None:
        assert self.db is not None
        if self.max_entries is not None:
            self.db.execute(
                "DELETE FROM memo WHERE key NOT IN (SELECT key FROM memo ORDER BY used DESC, key LIMIT ?)",
                (self.max_entries,),
            )
        if self.max_bytes is not None:
            self.db.execute(
                "DELETE FROM memo WHERE key IN (SELECT key FROM (SELECT key, SUM(LENGTH(body)) "
                "OVER (ORDER BY used DESC, key) AS total FROM memo) WHERE total > ?)",
                (self.max_bytes,),
            )
