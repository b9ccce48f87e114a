"""A lab's own copy of Hugging Face hub repositories: a folder of git clones.

Hub repositories are git repositories, so a mirror is what ``git clone`` of each one gives::

    MIRROR/datasets/google/xtreme/        git clone https://huggingface.co/datasets/google/xtreme
    MIRROR/models/FacebookAI/xlm-roberta-large/   git clone https://huggingface.co/FacebookAI/xlm-roberta-large

(``git lfs pull`` in each, or clone with git-lfs installed, so that weights and parquet files are
real files, not LFS pointers.) A revision (branch, tag or commit) resolves to the commit git names
for it, exactly as on the hub, and a commit is exported once with ``git archive`` into
``$STILTS_CACHE_DIR/hub-mirror/<kind>/<owner>--<name>/<commit>/``, a folder in the hub's own layout
that ``datasets.load_dataset`` and ``from_pretrained`` read like a downloaded snapshot. The export is
built in a temporary sibling and renamed into place under a file lock, so parallel workers export
it once and an interrupted export leaves nothing that looks finished.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

from filelock import FileLock

from harness.errors import StiltsError
from harness.fingerprint import cache_dir

MIRROR_ENV = "STILTS_HUB_MIRROR"
KIND_FOLDERS = {"dataset": "datasets", "model": "models"}
COMMIT = re.compile(r"[0-9a-f]{40}")
LFS_POINTER = b"version https://git-lfs.github.com/spec/v1"


class MirrorError(StiltsError):
    """A mirror repository that is missing, has no such revision, or holds LFS pointers only."""


def mirror_from_env() -> Path | None:
    """The mirror root named by ``$STILTS_HUB_MIRROR`` (None when unset or empty)."""
    value = os.environ.get(MIRROR_ENV, "").strip()
    return Path(value).expanduser().resolve() if value else None


class HubMirror:
    """The git clones under ``root`` (see the module docstring for the layout)."""

    def __init__(self, root: Path):
        self.root = Path(root).expanduser().resolve()

    def repo_dir(self, kind: str, repo: str) -> Path:
        """Where the clone of ``repo`` (``owner/name``) of ``kind`` (dataset, model) lies."""
        return self.root / KIND_FOLDERS[kind] / repo

    def has(self, kind: str, repo: str) -> bool:
        folder = self.repo_dir(kind, repo)
        return (folder / ".git").exists() or (folder / "HEAD").is_file()

    def _git(self, kind: str, repo: str, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            ["git", "-C", str(self.repo_dir(kind, repo)), *args], capture_output=True, check=False, timeout=600
        )

    def resolve(self, kind: str, repo: str, revision: str | None) -> str:
        """The commit ``revision`` (default: ``main``, else the clone's HEAD) names in the clone."""
        if not self.has(kind, repo):
            raise MirrorError(
                f"hub {kind} {repo!r} is not in the mirror {self.root} (expected a git clone at "
                f"{self.repo_dir(kind, repo)})"
            )
        tries = [revision, f"origin/{revision}"] if revision else ["main", "origin/main", "HEAD"]
        for one in tries:
            done = self._git(kind, repo, "rev-parse", "--verify", "--quiet", f"{one}^{{commit}}")
            sha = done.stdout.decode().strip()
            if done.returncode == 0 and COMMIT.fullmatch(sha):
                return sha
        raise MirrorError(f"hub {kind} {repo!r} in the mirror {self.root} has no revision {revision or 'main'!r}")

    def read_file(self, kind: str, repo: str, commit: str, path: str) -> bytes | None:
        """The bytes of ``path`` at ``commit`` (None when that commit has no such file)."""
        done = self._git(kind, repo, "show", f"{commit}:{path}")
        return done.stdout if done.returncode == 0 else None

    def files(self, kind: str, repo: str, commit: str) -> list[str]:
        """Every file path at ``commit``."""
        done = self._git(kind, repo, "ls-tree", "-r", "--name-only", "-z", commit)
        if done.returncode != 0:
            raise MirrorError(f"hub {kind} {repo!r}: git cannot list commit {commit}: {done.stderr.decode().strip()}")
        return [name for name in done.stdout.decode().split("\0") if name]

    def snapshot(self, kind: str, repo: str, commit: str) -> Path:
        """The folder holding ``repo`` at ``commit`` (exported now if this is the first time)."""
        final = cache_dir() / "hub-mirror" / KIND_FOLDERS[kind] / repo.replace("/", "--") / commit
        if (final / ".complete").is_file():
            return final
        final.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(final) + ".lock"):
            if (final / ".complete").is_file():
                return final
            work = final.parent / f".{commit}.{os.getpid()}.exporting"
            shutil.rmtree(work, ignore_errors=True)
            try:
                self._export(kind, repo, commit, work)
                (work / ".complete").write_text(commit + "\n", encoding="utf-8")
                if final.exists():
                    shutil.rmtree(final)
                os.replace(work, final)
            finally:
                shutil.rmtree(work, ignore_errors=True)
        return final

    def _export(self, kind: str, repo: str, commit: str, into: Path) -> None:
        """``git archive`` streamed into ``into`` (never the whole archive in memory)."""
        into.mkdir(parents=True)
        command = ["git", "-C", str(self.repo_dir(kind, repo)), "archive", "--format=tar", commit]
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
            assert proc.stdout is not None and proc.stderr is not None
            try:
                with tarfile.open(fileobj=proc.stdout, mode="r|") as archive:
                    archive.extractall(into, filter="data")
            except tarfile.TarError:
                pass  # git's own error (read below) says why the stream broke off
            error = proc.stderr.read().decode(errors="replace").strip()
        if proc.returncode != 0:
            raise MirrorError(f"hub {kind} {repo!r}: git archive {commit} failed: {error}")
        pointers = [
            str(path.relative_to(into))
            for path in into.rglob("*")
            if path.is_file() and path.stat().st_size < 1024 and path.read_bytes().startswith(LFS_POINTER)
        ]
        if pointers:
            raise MirrorError(
                f"hub {kind} {repo!r} in the mirror holds git-lfs pointers instead of files "
                f"({', '.join(sorted(pointers)[:3])}{' ...' if len(pointers) > 3 else ''}): "
                f"run `git lfs pull` in {self.repo_dir(kind, repo)}"
            )
