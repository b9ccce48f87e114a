"""A stage store shared between machines: finished stages on any fsspec URL (``s3://bucket/stilts``,
``gs://…``, a mounted NFS path), content-addressed by their key, so that a stage trained once by
anyone in a lab is pulled, not trained again (``stilts run --store URL``).

Layout under the URL, per stage (``<kind>/<hash>`` as in ``runs/``)::

    <kind>/<hash>/published.json       the commit point: {"upload": ID, "marker": the stage's marker}
    <kind>/<hash>/uploads/<ID>/...     the stage's files, as in runs/<kind>/<hash>/
    <kind>/<hash>/lease.json           a writer's claim while it uploads: {"owner", "upload", "expires"}

**Publishing** (:meth:`SharedStore.push`): a writer takes the lease (created exclusively; a lease
past its expiry is stale, from a writer that died, and is taken over, its upload deleted), uploads
every file under its own upload ID, reads each back and compares its size and xxh3 digest with the
marker's, and only then creates ``published.json`` exclusively. A reader trusts nothing but
``published.json``, so a push killed at any point leaves nothing a reader accepts; of two writers
of one key, the one whose ``published.json`` was created wins and the other deletes its upload.

Exclusive creation: on a local or NFS path a file written under a temporary name, fsync'ed and
hard-linked to its final name (``link`` fails when the name exists and is atomic on NFS, where
``flock`` often does not hold), then the folder fsync'ed; on object stores a conditional put
(``If-None-Match: *``, what s3fs's ``mode="create"`` sends; S3 and moto honour it).

**Pulling** (:meth:`SharedStore.pull`): the files named by ``published.json`` are downloaded into a
work folder and checked exactly as a local stage is before reuse (the marker's own digest, the key,
every file's size and digest: :mod:`harness.stage_files`); a copy that fails is dropped with one
line saying which file was wrong, and the stage is built instead.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Protocol

from harness.atomic import write_atomic
from harness.errors import StiltsError
from harness.stage_files import LOG, MARKER, file_digest, output_problem, read_marker
from harness.tasks import canonical_json

log = logging.getLogger("stilts.store")

PUBLISHED = "published.json"
LEASE = "lease.json"
UPLOADS = "uploads"
#: How long a writer's lease holds (seconds); past it, the lease is stale and another writer takes over.
DEFAULT_LEASE_S = 6 * 3600
LEASE_ENV = "STILTS_STORE_LEASE_S"
STORE_ENV = "STILTS_STORE"


class StoreError(StiltsError):
    """The shared store cannot be reached or read (the URL, the cause)."""


class Backend(Protocol):
    """The few operations the protocol needs, on paths relative to the store's root."""

    url: str

    def read(self, path: str) -> bytes | None:
        """The object's bytes, or None when it does not exist."""

    def create(self, path: str, data: bytes) -> bool:
        """Create the object only if it does not exist (atomically); False when it existed."""

    def delete(self, path: str) -> None:
        """Delete one object (nothing when it does not exist)."""

    def delete_tree(self, path: str) -> None:
        """Delete everything under a prefix."""

    def put(self, local: Path, path: str) -> None:
        """Upload a local file, durably (on a file system: fsync'ed)."""

    def get(self, path: str, local: Path) -> None:
        """Download one object to a local file."""

    def size_and_digest(self, path: str) -> tuple[int, str]:
        """The stored object's size and xxh3-128 digest, read back from the store."""


class LocalBackend:
    """A local or mounted (NFS) folder: exclusive creation by ``link``, every write fsync'ed."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.url = str(self.root)

    def _path(self, path: str) -> Path:
        return self.root / path

    def read(self, path: str) -> bytes | None:
        try:
            return self._path(path).read_bytes()
        except FileNotFoundError:
            return None

    def create(self, path: str, data: bytes) -> bool:
        final = self._path(path)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._durable_temp(final.parent, data)
        try:
            os.link(tmp, final)
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)
        fsync_folder(final.parent)
        return True

    def delete(self, path: str) -> None:
        self._path(path).unlink(missing_ok=True)

    def delete_tree(self, path: str) -> None:
        shutil.rmtree(self._path(path), ignore_errors=True)

    def put(self, local: Path, path: str) -> None:
        final = self._path(path)
        with open(local, "rb") as source:
            write_atomic(final, lambda out: shutil.copyfileobj(source, out, 8 * 1024 * 1024))
        fsync_folder(final.parent)

    def get(self, path: str, local: Path) -> None:
        shutil.copyfile(self._path(path), local)

    def size_and_digest(self, path: str) -> tuple[int, str]:
        found = self._path(path)
        return found.stat().st_size, file_digest(found)

    @staticmethod
    def _durable_temp(folder: Path, data: bytes) -> Path:
        fd, name = tempfile.mkstemp(prefix=".create.", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        return Path(name)


def fsync_folder(folder: Path) -> None:
    """Make a folder's entries (a rename, a link) durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FsspecBackend:
    """Any other fsspec URL; exclusive creation through ``pipe_file(mode="create")``."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None):
        import fsspec

        self.url = url
        self.fs, self.root = fsspec.core.url_to_fs(url, **(storage_options or {}))

    def _path(self, path: str) -> str:
        return f"{self.root.rstrip('/')}/{path}"

    def read(self, path: str) -> bytes | None:
        try:
            data: bytes = self.fs.cat_file(self._path(path))
            return data
        except FileNotFoundError:
            return None

    def create(self, path: str, data: bytes) -> bool:
        try:
            self.fs.pipe_file(self._path(path), data, mode="create")
        except FileExistsError:
            return False
        except Exception as exc:  # a conditional put refused: 412 Precondition Failed
            if "PreconditionFailed" in repr(exc) or "412" in str(exc):
                return False
            raise
        return True

    def delete(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self._path(path))

    def delete_tree(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self._path(path), recursive=True)

    def put(self, local: Path, path: str) -> None:
        self.fs.put_file(str(local), self._path(path))

    def get(self, path: str, local: Path) -> None:
        self.fs.get_file(self._path(path), str(local))

    def size_and_digest(self, path: str) -> tuple[int, str]:
        import xxhash

        digest, size = xxhash.xxh3_128(), 0
        with self.fs.open(self._path(path), "rb") as handle:
            while chunk := handle.read(8 * 1024 * 1024):
                digest.update(chunk)
                size += len(chunk)
        return size, digest.hexdigest()


def open_backend(url: str) -> Backend:
    """The backend for ``url``: a plain path or ``file://`` URL is a :class:`LocalBackend`."""
    if url.startswith("file://"):
        return LocalBackend(Path(url.removeprefix("file://")))
    if "://" not in url:
        return LocalBackend(Path(url).expanduser())
    return FsspecBackend(url)


class SharedStore:
    """Finished stages on a shared URL (see the module docstring). ``lease_s``: how long a
    writer's claim holds (default ``$STILTS_STORE_LEASE_S`` or 6 hours)."""

    def __init__(self, backend: Backend, lease_s: float | None = None):
        self.backend = backend
        self.lease_s = float(lease_s if lease_s is not None else os.environ.get(LEASE_ENV, DEFAULT_LEASE_S))
        self.owner = f"{socket.gethostname()}:{os.getpid()}"

    @classmethod
    def open(cls, url: str) -> SharedStore:
        return cls(open_backend(url))

    @property
    def url(self) -> str:
        return self.backend.url

    def published(self, kind: str, key_hash: str) -> dict[str, Any] | None:
        """The stage's ``published.json`` (None when it is not in the store)."""
        raw = self._call("read", self.backend.read, f"{kind}/{key_hash}/{PUBLISHED}")
        if raw is None:
            return None
        try:
            found = json.loads(raw)
        except ValueError:
            return {"problem": f"{kind}/{key_hash}/{PUBLISHED} is not JSON"}
        return found if isinstance(found, dict) else {"problem": f"{kind}/{key_hash}/{PUBLISHED} is not an object"}

    # -- pulling ---------------------------------------------------------------------------
    def pull(self, kind: str, key_hash: str, work: Path) -> str | None:
        """Download the stage into the empty folder ``work`` and check it. Returns None when
        ``work`` now holds the intact stage, else why not (not in the store; a copy that failed its
        check, said in one line: the caller builds the stage instead)."""
        where = f"{self.url}/{kind}/{key_hash}"
        published = self.published(kind, key_hash)
        if published is None:
            return "not in the store"
        marker, upload = published.get("marker"), published.get("upload")
        if published.get("problem") or not isinstance(marker, dict) or not isinstance(upload, str):
            return f"{where}: {published.get('problem') or 'published.json names no marker and upload'}"
        files = marker.get("files")
        if not isinstance(files, dict):
            return f"{where}: its marker records no output files"
        for relative in [*files, LOG]:
            local = work / relative
            local.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._call("download", self.backend.get, f"{kind}/{key_hash}/{UPLOADS}/{upload}/{relative}", local)
            except StoreError:
                if relative == LOG:
                    continue  # the log is kept when there is one, never checked
                raise
            except FileNotFoundError:
                if relative == LOG:
                    continue
                return f"{where}: {relative} is missing from upload {upload}"
        (work / MARKER).write_text(canonical_json(marker), encoding="utf-8")  # as the build wrote it
        found, problem = read_marker(work)
        if found is None:
            return f"{where}: {problem}"
        if (found.get("kind"), found.get("hash")) != (kind, key_hash):
            return f"{where}: its marker names stage {found.get('kind')}/{found.get('hash')}"
        problem = output_problem(work, files, digest_large=True)
        return None if problem is None else f"{where}: {problem.replace(str(work), 'pulled copy')}"

    # -- pushing ---------------------------------------------------------------------------
    def push(self, kind: str, key_hash: str, folder: Path) -> str:
        """Publish the finished stage in ``folder``. Returns what happened, for the log: pushed,
        already in the store, another writer holds the lease, lost the race to another writer."""
        base = f"{kind}/{key_hash}"
        if self.published(kind, key_hash) is not None:
            return "already in the store"
        marker, problem = read_marker(folder)
        if marker is None:
            raise StoreError(f"stage {base} cannot be pushed: {problem}")
        upload = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:12]}"
        if not self._take_lease(base, upload):
            return "another writer is pushing it"
        try:
            for relative, recorded in sorted(marker["files"].items()):
                remote = f"{base}/{UPLOADS}/{upload}/{relative}"
                self._call("upload", self.backend.put, folder / relative, remote)
                size, digest = self._call("read back", self.backend.size_and_digest, remote)
                if (size, digest) != (recorded["size"], recorded["xxh3"]):
                    self._call("delete", self.backend.delete_tree, f"{base}/{UPLOADS}/{upload}")
                    raise StoreError(
                        f"{self.url}/{remote}: the uploaded copy has {size} bytes, xxh3 {digest}; the stage "
                        f"recorded {recorded['size']} bytes, xxh3 {recorded['xxh3']} (nothing was published)"
                    )
            if (folder / LOG).is_file():
                self._call("upload", self.backend.put, folder / LOG, f"{base}/{UPLOADS}/{upload}/{LOG}")
            body = json.dumps({"upload": upload, "marker": marker, "by": self.owner}, sort_keys=True).encode()
            if not self._call("publish", self.backend.create, f"{base}/{PUBLISHED}", body):
                self._call("delete", self.backend.delete_tree, f"{base}/{UPLOADS}/{upload}")
                return "another writer published it first"
            return "pushed"
        finally:
            self._release_lease(base, upload)

    def _take_lease(self, base: str, upload: str) -> bool:
        for _ in range(2):
            lease = {"owner": self.owner, "upload": upload, "expires": time.time() + self.lease_s}
            if self._call("lease", self.backend.create, f"{base}/{LEASE}", json.dumps(lease).encode()):
                return True
            raw = self._call("read", self.backend.read, f"{base}/{LEASE}")
            try:
                held = json.loads(raw) if raw is not None else None
            except ValueError:
                held = None
            if isinstance(held, dict) and float(held.get("expires", 0)) > time.time():
                return False
            # a stale lease (its writer died): drop its upload and the lease, then take it
            if isinstance(held, dict) and isinstance(held.get("upload"), str) and held["upload"]:
                self._call("delete", self.backend.delete_tree, f"{base}/{UPLOADS}/{held['upload']}")
            self._call("delete", self.backend.delete, f"{base}/{LEASE}")
            log.info("stage %s: took over a stale lease of %s", base, held)
        return False

    def _release_lease(self, base: str, upload: str) -> None:
        raw = self.backend.read(f"{base}/{LEASE}")
        try:
            held = json.loads(raw) if raw is not None else None
        except ValueError:
            held = None
        if isinstance(held, dict) and held.get("upload") == upload:
            self.backend.delete(f"{base}/{LEASE}")

    def _call(self, what: str, function: Any, *args: Any) -> Any:
        try:
            return function(*args)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise StoreError(f"shared store {self.url}: {what} {args[-1]} failed ({exc})") from None
        except StoreError:
            raise
        except Exception as exc:  # botocore and friends: one line, the cause named
            raise StoreError(
                f"shared store {self.url}: {what} {args[-1]} failed ({type(exc).__name__}: {exc})"
            ) from None
