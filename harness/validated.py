"""A memo of result files that passed validation, so rebuilding a leaderboard re-checks (and
re-parses) only what changed.

A result's verdict depends only on its bytes and on the validator (the result schema, the task
spec schema it refers to, and the code of the checks), so the memo is keyed by the sha256 of the
file's bytes and a digest of those validator files. Only "valid" verdicts are stored; an invalid
file is checked (and reported) every time. Beside each verdict the memo keeps what the file holds,
as :func:`harness.results.load_results` returns it, in a form that reads back without parsing
JSON (:func:`encode_result`): the per-example statistics as raw numbers. The memo lives beside
the file-digest memo in ``$STILTS_CACHE_DIR`` (SQLite, safe for parallel processes); deleting it
only costs time, and a folder that cannot be written leaves the memo in memory (verdicts only).
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from harness.blob_memo import BlobMemo
from harness.fingerprint import open_cache_db

log = logging.getLogger("stilts.validated")

#: The files whose content decides a result's verdict.
VALIDATOR_FILES = (
    "specs/result.schema.json",
    "specs/task_spec.schema.json",
    "specs/__init__.py",
    "results.py",
    "units.py",
    "experiment.py",  # the cell id a result must carry (Cell.id)
)
#: Most bytes of kept contents; beyond it the least recently used ones are dropped.
MAX_CONTENT_BYTES = 512 * 2**20
#: Types a statistics array (by its dtype's kind) is stored as when that holds exactly the same
#: numbers, narrowest first, with the range of an integer type.
_NARROW: dict[str, list[tuple[type[np.generic], tuple[int, int] | None]]] = {
    "i": [(np.int8, (-(2**7), 2**7 - 1)), (np.int16, (-(2**15), 2**15 - 1)), (np.int32, (-(2**31), 2**31 - 1))],
    "f": [(np.int8, (-(2**7), 2**7 - 1)), (np.int16, (-(2**15), 2**15 - 1)), (np.float32, None)],
}


@cache
def validator_digest() -> str:
    """sha256 over the validator's files (a change to any of them invalidates every verdict)."""
    digest = hashlib.sha256()
    root = Path(__file__).parent
    for name in VALIDATOR_FILES:
        digest.update(name.encode() + b"\0" + (root / name).read_bytes() + b"\0")
    return digest.hexdigest()


@cache
def _encoding_digest() -> str:
    """sha256 of this module's code (:func:`encode_result` and :func:`decode_result`)."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def _narrowest(values: np.ndarray) -> np.ndarray:
    """``values`` in the smallest of :data:`_NARROW`'s types that holds every one of its numbers
    bit for bit (``-0.0`` and fractions included), else as they are."""
    if values.size == 0 or values.dtype.kind not in _NARROW:
        return values
    low, high = values.min(), values.max()
    for kind, bounds in _NARROW[values.dtype.kind]:
        if bounds is not None and not (bounds[0] <= low and high <= bounds[1]):
            continue  # (a cast out of range is undefined)
        with np.errstate(over="ignore", invalid="ignore"):  # a float beyond float32: inf, not equal
            narrow = values.astype(kind)
        if narrow.astype(values.dtype).tobytes() == values.tobytes():
            return narrow
    return values


def encode_result(data: dict[str, Any]) -> bytes:
    """A loaded result (per-example statistics as numpy arrays) as bytes: a JSON head (the result,
    with each statistics array's dtype and shape instead of its values), a NUL byte, and the
    arrays' raw numbers, each in the narrowest type that holds them exactly."""
    units = data.get("units", {})
    head = {**data, "units": {lang: {**stats, "values": None} for lang, stats in units.items()}} if units else data
    arrays, payload = [], []
    for lang, stats in units.items():
        values = np.ascontiguousarray(stats["values"])
        narrow = _narrowest(values)
        arrays.append([lang, values.dtype.str, narrow.dtype.str, *values.shape])
        payload.append(narrow.tobytes())
    text = json.dumps({"result": head, "arrays": arrays}, allow_nan=False)  # ASCII: no NUL inside
    return text.encode("ascii") + b"\0" + b"".join(payload)


def decode_result(body: bytes) -> dict[str, Any]:
    """The result :func:`encode_result` encoded (the arrays writeable, in their own dtypes)."""
    text, _, payload = body.partition(b"\0")
    head = json.loads(text)
    result: dict[str, Any] = head["result"]
    offset = 0
    for lang, dtype, stored, rows, columns in head["arrays"]:
        count = rows * columns
        narrow = np.frombuffer(payload, dtype=np.dtype(stored), count=count, offset=offset)
        offset += narrow.nbytes
        result["units"][lang]["values"] = narrow.astype(np.dtype(dtype)).reshape(rows, columns)
    if offset != len(payload):
        raise ValueError(f"{len(payload) - offset} byte(s) left after the arrays")
    return result


class ValidMemo:
    """Digests of result files known to be valid under the current validator, and their contents
    (:func:`encode_result`, in a :class:`~harness.blob_memo.BlobMemo`, the most recently used
    :data:`MAX_CONTENT_BYTES` kept).

    New verdicts are kept in memory at once and written to the database by :meth:`close`, in one
    transaction (one commit per verdict would cost a disk sync each).
    """

    def __init__(self) -> None:
        self.memory: set[str] = set()
        self.pending: list[str] = []
        self.db = open_cache_db(
            "valid-results.sqlite3",
            "CREATE TABLE IF NOT EXISTS valid (sha256 TEXT, validator TEXT, PRIMARY KEY (sha256, validator))",
        )
        self.contents = BlobMemo("result-contents.sqlite3", max_bytes=MAX_CONTENT_BYTES)

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
        """Record a valid verdict (in the database at :meth:`close`)."""
        if digest not in self.memory:
            self.memory.add(digest)
            self.pending.append(digest)

    @staticmethod
    def _content_key(digest: str) -> str:
        """The file's sha256, the validator's and this module's (the encoding's) code."""
        return f"{digest}:{validator_digest()}:{_encoding_digest()}"

    def recall(self, digest: str) -> dict[str, Any] | None:
        """The content kept for the valid file with sha256 ``digest`` (as :func:`decode_result`
        gives it), or None."""
        body = self.contents.get(self._content_key(digest))
        if body is None:
            return None
        try:
            return decode_result(body)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            log.warning("a kept result content does not read back (%s); reading the file", exc)
            return None

    def keep(self, digest: str, data: dict[str, Any]) -> None:
        """Keep the content of the valid file with sha256 ``digest`` (written at :meth:`close`)."""
        if self.contents.db is not None:
            self.contents.put(self._content_key(digest), encode_result(data))

    def close(self) -> None:
        """Write the verdicts and contents recorded, each memo in one transaction, and close."""
        self.contents.close()
        if self.db is None:
            return
        try:
            if self.pending:
                with self.db:  # BEGIN ... COMMIT (or ROLLBACK)
                    self.db.execute("BEGIN")
                    self.db.executemany(
                        "INSERT OR IGNORE INTO valid VALUES (?, ?)", [(d, validator_digest()) for d in self.pending]
                    )
        except sqlite3.Error as exc:
            log.warning("cannot record %d validated result(s) (%s)", len(self.pending), exc)
        finally:
            self.db.close()
        self.db, self.pending = None, []
