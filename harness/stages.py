"""Content-addressed stage outputs: ``runs/<kind>/<hash>/``, built atomically, reused while intact.

A stage's hash covers exactly what determines its output (model, data fingerprints, spec,
hyperparameters, seed, upstream stage). A stage is built in a work folder (``.<hash>.partial``) and renamed
into place only when complete, so an interrupted stage leaves no half-written output. The next
run keeps the work folder's ``checkpoints/`` (training resumes from the last one, optimizer,
scheduler and RNG state included) and deletes everything else. A file lock stops two processes (parallel tox
environments) from building the same stage at once; the second one waits and reuses it. The
marker records every output file's size and digest, and a stage whose outputs no longer match is
moved aside and built again (:mod:`harness.stage_files`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from harness.errors import StiltsError
from harness.shared_store import SharedStore
from harness.stage_files import MARKER, PRUNED, marker_digest, output_manifest, output_problem, read_marker
from harness.tasks import canonical_json, content_hash

log = logging.getLogger("stilts.stages")

#: Bump when the layout of stage outputs changes: old stages are then rebuilt, not misread.
STAGE_FORMAT = 2
#: Where stages whose outputs failed their check are kept for inspection: ``runs/<kind>/.corrupt/``.
CORRUPT = ".corrupt"
#: Sub-folder of a work folder that survives an interruption: training resumes from it.
CHECKPOINTS = "checkpoints"
#: Loggers of the libraries a stage runs (``py.warnings``: Python warnings, when they are routed to
#: logging as ``stilts run`` does): their records go to the stage's ``log.txt``.
LIBRARY_LOGGERS = ("transformers", "huggingface_hub", "datasets", "accelerate", "peft", "py.warnings")


@dataclass(frozen=True)
class StageKey:
    kind: str
    inputs: dict[str, Any]

    @property
    def hash(self) -> str:
        return content_hash({"kind": self.kind, "format": STAGE_FORMAT, **self.inputs}, length=20)


@dataclass
class StageRecord:
    kind: str
    hash: str
    path: str
    wall_time_s: float
    reused: bool


#: Model files that hold weights; configuration and tokenizer files stay.
WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.pth")


class StageCorruptError(StiltsError):
    """A finished stage's output is not what its marker recorded (it was moved aside)."""


class StageStore:
    """The stage folders under ``root`` (``runs/``). ``shared``: a store shared between machines
    (:mod:`harness.shared_store`): a stage missing here is pulled from it (and checked) instead of
    built, and a finished stage it lacks is pushed to it."""

    def __init__(self, root: Path, shared: SharedStore | None = None):
        self.root = Path(root)
        self.shared = shared
        #: stage folder -> "small" (sizes and small files checked) or "full" (every digest checked)
        self._checked: dict[Path, str] = {}
        #: one line per stage moved aside by this store (for the run summary)
        self.moved_aside: list[str] = []
        #: stage folders pulled from the shared store by this process
        self.pulled: set[Path] = set()
        #: one line per shared-store problem met (a copy that failed its check, a failed push)
        self.store_notes: list[str] = []

    def path(self, key: StageKey) -> Path:
        return self.root / key.kind / key.hash

    def is_done(self, key: StageKey) -> bool:
        """True when the stage is finished and its outputs are intact: every file the marker
        records has its size, and every small one its digest. A finished stage that fails this is
        moved aside (and so is not done)."""
        return self._intact(self.path(key), digest_large=False, lock_held=False)

    def _intact(self, folder: Path, digest_large: bool, lock_held: bool) -> bool:
        if not (folder / MARKER).is_file():
            self._checked.pop(folder, None)
            return False
        if self._checked.get(folder) == "full" or (folder in self._checked and not digest_large):
            return True
        return self._check(folder, digest_large, lock_held) is None

    def verify(self, key: StageKey) -> None:
        """Check every output digest of a finished stage (once per store) before its outputs are
        used; a mismatch moves it aside and raises :class:`StageCorruptError` naming the file."""
        folder = self.path(key)
        if self._checked.get(folder) == "full":
            return
        problem = self._check(folder, digest_large=True, lock_held=False)
        if problem is not None:
            raise StageCorruptError(f"{problem}; run again to rebuild the stage")

    def check_folder(self, folder: Path) -> str | None:
        """Check every output digest of the finished stage in ``folder`` (``stilts verify``):
        None when intact, else the line saying what was wrong and where it was moved."""
        return self._check(folder, digest_large=True, lock_held=False)

    def _check(self, folder: Path, digest_large: bool, lock_held: bool) -> str | None:
        problem = self._problem(folder, digest_large)
        if problem is None:
            return None
        if lock_held:
            return self._move_aside(folder, problem)
        with FileLock(str(folder) + ".lock"):
            problem = self._problem(folder, digest_large)  # again: another process may have rebuilt it
            return None if problem is None else self._move_aside(folder, problem)

    def _problem(self, folder: Path, digest_large: bool) -> str | None:
        marker, problem = read_marker(folder)
        if marker is not None:
            problem = output_problem(folder, marker["files"], digest_large)
        if problem is None:
            self._checked[folder] = "full" if digest_large else self._checked.get(folder, "small")
        return problem

    def _move_aside(self, folder: Path, problem: str) -> str:
        """Move a stage whose outputs failed their check to ``runs/<kind>/.corrupt/`` with a note
        saying why (the caller holds the stage's lock); returns the line that says so."""
        self._checked.pop(folder, None)
        where = f"stage {folder.parent.name}/{folder.name}"
        if not folder.is_dir():
            return f"{where}: {problem}"
        aside = folder.parent / CORRUPT / f"{folder.name}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        aside.parent.mkdir(parents=True, exist_ok=True)
        os.replace(folder, aside)
        (aside / "moved-aside.txt").write_text(problem + "\n", encoding="utf-8")
        line = f"{where}: {problem}; moved aside to {aside} (it is built again)"
        log.warning(line)
        self.moved_aside.append(line)
        return line

    def info(self, key: StageKey) -> dict[str, Any]:
        return json.loads((self.path(key) / MARKER).read_text(encoding="utf-8"))

    def weights_pruned(self, record: StageRecord) -> bool:
        """True when the stage's ``model/`` weights were deleted by :meth:`prune_weights`."""
        return self.weights_pruned_at(Path(record.path))

    @staticmethod
    def weights_pruned_at(folder: Path) -> bool:
        """True when the weights of the stage in ``folder`` were deleted by :meth:`prune_weights`."""
        return (folder / PRUNED).is_file()

    def prune_weights(self, record: StageRecord) -> None:
        """Delete a finished stage's model weights, keeping its marker, report and scores. The
        stage stays done; whoever needs the weights again must :meth:`discard` it and rebuild it."""
        folder = Path(record.path)
        if (folder / PRUNED).is_file():
            return  # already pruned: keep the record of what was removed
        with FileLock(str(folder) + ".lock"):
            removed = sorted(
                (path for pattern in WEIGHT_PATTERNS for path in (folder / "model").glob(pattern)),
                key=lambda path: path.name,
            )
            sizes = {path.name: path.stat().st_size for path in removed}
            (folder / PRUNED).write_text(
                canonical_json({"removed": sizes, "pruned_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}),
                encoding="utf-8",
            )
            for path in removed:
                path.unlink()

    def discard(self, record: StageRecord) -> None:
        """Delete a stage so that the next :meth:`build` of its key starts afresh."""
        folder = Path(record.path)
        self._checked.pop(folder, None)
        with FileLock(str(folder) + ".lock"):
            if folder.is_dir():
                shutil.rmtree(folder)

    @contextmanager
    def build(self, key: StageKey) -> Iterator[Path | None]:
        """Yield a fresh work folder, or None when the stage is already complete.

        On normal exit the folder becomes ``path(key)``; on error it stays, and the next build
        of the same key gets it back with only its ``checkpoints/`` sub-folder kept.
        """
        final = self.path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(final) + ".lock"):
            if self._intact(final, digest_large=False, lock_held=True):
                self._offer(key, final)
                yield None
                return
            if final.exists():  # finished folders are renamed into place whole: this one lost its marker
                self._move_aside(final, f"{final / MARKER} is missing")
            if self._pull(key, final):
                yield None
                return
            work = final.parent / f".{key.hash}.partial"
            if work.is_dir():  # an interrupted build: keep its checkpoints, drop everything else
                for leftover in work.iterdir():
                    if leftover.name != CHECKPOINTS:
                        shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
            work.mkdir(exist_ok=True)
            started = time.time()
            yield work
            marker = {
                "kind": key.kind,
                "hash": key.hash,
                "inputs": key.inputs,
                "wall_time_s": round(time.time() - started, 3),
                "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            shutil.rmtree(work / CHECKPOINTS, ignore_errors=True)  # only needed while unfinished
            marker["files"] = output_manifest(work)
            marker["digest"] = marker_digest(marker)
            (work / MARKER).write_text(canonical_json(marker), encoding="utf-8")
            os.replace(work, final)
            self._checked[final] = "full"
            self._offer(key, final)

    def _pull(self, key: StageKey, final: Path) -> bool:
        """Pull the stage from the shared store into ``final`` (the caller holds its lock); True
        when it is there now, checked like a local stage. A copy that fails its check is dropped
        with a line in :attr:`store_notes`, and the stage is built."""
        if self.shared is None:
            return False
        work = final.parent / f".{key.hash}.pull-{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        try:
            problem = self.shared.pull(key.kind, key.hash, work)
        except StiltsError as exc:
            problem = str(exc)
        if problem is None:
            marker, _ = read_marker(work)
            if marker is None or marker.get("inputs") != key.inputs:
                problem = (
                    f"{self.shared.url}/{key.kind}/{key.hash}: its marker records other inputs than the stage's key"
                )
        if problem is not None:
            shutil.rmtree(work, ignore_errors=True)
            if problem != "not in the store":
                line = f"stage {key.kind}/{key.hash} not taken from the shared store: {problem} (it is built here)"
                log.warning(line)
                self.store_notes.append(line)
            return False
        os.replace(work, final)
        self._checked[final] = "full"
        self.pulled.add(final)
        log.info("stage %s/%s pulled from %s", key.kind, key.hash, self.shared.url)
        return True

    def _offer(self, key: StageKey, final: Path) -> None:
        """Push a finished stage to the shared store when it lacks it (never a pruned stage, never
        one just pulled). A failed push is a line in :attr:`store_notes`, not a failed run."""
        if self.shared is None or final in self.pulled or self.weights_pruned_at(final):
            return
        try:
            outcome = self.shared.push(key.kind, key.hash, final)
        except StiltsError as exc:
            line = f"stage {key.kind}/{key.hash} was not pushed to the shared store: {exc}"
            log.warning(line)
            self.store_notes.append(line)
            return
        log.info("stage %s/%s: %s (%s)", key.kind, key.hash, outcome, self.shared.url)


def verify_store(root: Path) -> tuple[int, list[str]]:
    """Check every finished stage under ``root`` (``runs/<kind>/<hash>/``) down to each output's
    digest; stages that fail are moved aside. Returns how many stages were checked and one line
    per stage moved aside."""
    store = StageStore(root)
    checked, bad = 0, []
    for marker in sorted(Path(root).glob(f"*/*/{MARKER}")):
        folder = marker.parent
        if folder.name.startswith(".") or folder.parent.name.startswith("."):
            continue  # work folders and stages already moved aside
        checked += 1
        problem = store.check_folder(folder)
        if problem is not None:
            bad.append(problem)
    return checked, bad


class QuietFileHandler(logging.FileHandler):
    """A stage's log file that, when it cannot be written (a full disk), drops the record instead
    of printing logging's own "--- Logging error ---" traceback: the error that stopped the stage
    is reported once, by the command."""

    def handleError(self, record: logging.LogRecord) -> None:
        pass


@contextmanager
def stage_log(folder: Path) -> Iterator[None]:
    """Send stilts' and the libraries' (:data:`LIBRARY_LOGGERS`) log records to
    ``folder/log.txt`` while a stage runs."""
    handler = QuietFileHandler(folder / "log.txt", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    stilts_log = logging.getLogger("stilts")
    loggers = [stilts_log, *(logging.getLogger(name) for name in LIBRARY_LOGGERS)]
    old_level = stilts_log.level
    stilts_log.setLevel(logging.INFO)  # stilts' own INFO goes to the file only (no console handler)
    for lg in loggers:  # the libraries keep their levels: their warnings reach the file too
        lg.addHandler(handler)
    try:
        yield
    except Exception:  # the traceback goes to the stage's log only (the console names the error and the log)
        handler.handle(
            stilts_log.makeRecord("stilts.stage", logging.ERROR, __file__, 0, "stage failed", (), sys.exc_info())
        )
        raise
    finally:
        for lg in loggers:
            lg.removeHandler(handler)
        stilts_log.setLevel(old_level)
        handler.close()
