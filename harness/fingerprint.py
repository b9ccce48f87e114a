"""Content fingerprints for stage keys: file bytes, model folders and hub commits.

A stage key must change whenever the bytes a stage reads change, so files are identified by
the sha256 of their content, never by name, size or date. Hashing a 2 GB checkpoint on every run
would be slow, so each file's digest is memoised on disk, keyed by its absolute path, size,
modification time, inode-change time (ns) and inode: any rewrite of the file changes the
change time (which, unlike the modification time, no user tool can set back), so the file is
hashed again. The memo is a small SQLite database (stdlib, safe for the parallel processes of a
tox matrix) in ``$STILTS_CACHE_DIR`` (default ``~/.cache/stilts``); deleting it only costs time.

Hub models are identified by the commit their revision resolves to (``hub:ID@<sha>``), from the
hub when it is reachable, else from the local hub cache; a model that can be resolved neither
way cannot be fingerprinted, so it cannot be trained on silently.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sqlite3
from functools import cache
from pathlib import Path

from harness.errors import MissingResourcesError

log = logging.getLogger("stilts.fingerprint")

CACHE_ENV = "STILTS_CACHE_DIR"
_COMMIT = re.compile(r"[0-9a-f]{40}")


def cache_dir() -> Path:
    """Where stilts keeps caches that are safe to delete (``$STILTS_CACHE_DIR``)."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "stilts")


def open_cache_db(name: str, create: str) -> sqlite3.Connection | None:
    """The SQLite memo ``name`` in :func:`cache_dir` with its table made by ``create``, or None
    (logged) when it cannot be opened: a memo only saves time, so callers fall back to memory."""
    try:
        folder = cache_dir()
        folder.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(folder / name, timeout=30, isolation_level=None)
        db.execute(create)
    except (OSError, sqlite3.Error) as exc:
        log.warning("memo %s unavailable (%s); working in memory only", name, exc)
        return None
    return db


class _DigestMemo:
    """sha256 digests by (path, size, mtime_ns, ctime_ns, inode), in SQLite; falls back to
    memory only when the cache folder cannot be written (a read-only home)."""

    def __init__(self) -> None:
        self.memory: dict[tuple[str, int, int, int, int], str] = {}
        self.db = open_cache_db(
            "file-digests.sqlite3",
            "CREATE TABLE IF NOT EXISTS file_digest (path TEXT, size INTEGER, mtime_ns INTEGER, "
            "ctime_ns INTEGER, inode INTEGER, sha256 TEXT, PRIMARY KEY (path, size, mtime_ns, ctime_ns, inode))",
        )

    def get(self, key: tuple[str, int, int, int, int]) -> str | None:
        if key in self.memory:
            return self.memory[key]
        if self.db is not None:
            try:
                row = self.db.execute(
                    "SELECT sha256 FROM file_digest WHERE path=? AND size=? AND mtime_ns=? AND ctime_ns=? AND inode=?",
                    key,
                ).fetchone()
            except sqlite3.Error:
                row = None
            if row:
                self.memory[key] = row[0]
                return str(row[0])
        return None

    def put(self, key: tuple[str, int, int, int, int], digest: str) -> None:
        self.memory[key] = digest
        if self.db is not None:
            try:
                self.db.execute("INSERT OR REPLACE INTO file_digest VALUES (?, ?, ?, ?, ?, ?)", (*key, digest))
            except sqlite3.Error as exc:  # a locked or read-only memo only costs time
                log.debug("could not memoise digest of %s: %s", key[0], exc)


@cache
def _memo() -> _DigestMemo:
    return _DigestMemo()


def file_sha256(path: Path) -> str:
    """sha256 of the file's bytes (memoised by path, size, mtime, ctime and inode)."""
    path = Path(path).resolve()
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)
    found = _memo().get(key)
    if found is not None:
        return found
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    _memo().put(key, digest.hexdigest())
    return digest.hexdigest()


def folder_fingerprint(root: Path) -> str:
    """sha256 over every file's relative path and content digest (hidden entries such as
    ``.cache/`` or ``.git/`` are skipped: they are not part of the model)."""
    root = Path(root).expanduser()
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        digest.update(f"{rel.as_posix()}\0{file_sha256(path)}\n".encode())
    return digest.hexdigest()


@cache
def hub_commit(repo_id: str, revision: str | None, offline: bool) -> str:
    """The commit sha that ``revision`` (default: the main branch) of hub model ``repo_id``
    resolves to: asked of the hub unless ``offline``, else read from the local hub cache."""
    if revision and _COMMIT.fullmatch(revision):
        return revision
    if not offline:
        try:
            from huggingface_hub import HfApi

            sha = HfApi().model_info(repo_id, revision=revision).sha
            if sha:
                return str(sha)
        except Exception as exc:
            log.info("hub unreachable for %s (%s); resolving the revision from the local cache", repo_id, exc)
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    if isinstance(cached, str):
        snapshot = Path(cached).parent
        if _COMMIT.fullmatch(snapshot.name):
            return snapshot.name
    raise MissingResourcesError(
        [
            f"model {repo_id!r} (revision {revision or 'main'}): cannot resolve it to a commit "
            "(the hub is unreachable and it is not in the local hub cache)"
        ]
    )
