"""Where hub datasets and models come from, pinned: the lock, a mirror, or the hub itself.

Every hub repository a run reads is pinned to a commit before anything is built, and that commit
is what stage keys record and what is loaded:

1. a ``revision`` that is already a 40-hex commit is used as it is;
2. with a lock file (:mod:`harness.lockfile`), the commit it records (a repository the lock lacks
   is an error: lock again);
3. with a mirror (:mod:`harness.hub_mirror`, ``--hub-mirror`` / ``$STILTS_HUB_MIRROR``), the commit
   the clone names for the revision;
4. online, the commit the hub names for it (``HfApi.dataset_info`` / ``model_info``);
5. offline with none of these: the repository cannot be pinned, so nothing that reads it is
   planned (it is listed as missing, with the command that fixes it).

Errors keep their cause: a repository the hub does not know, a revision it does not have, a gated
repository and an unreachable hub are four different messages.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import MissingResourcesError, StiltsError
from harness.hub_cards import CardFacts, facts_from_card, shipped_facts
from harness.hub_mirror import COMMIT, HubMirror, MirrorError, mirror_from_env
from harness.lockfile import LockFile, chosen_lock_path

log = logging.getLogger("stilts.hub")
HUB_URL = "https://huggingface.co"


class HubError(StiltsError):
    """The hub (or the mirror) answered, and the answer is that the request cannot be served."""


class UnpinnedError(MissingResourcesError):
    """A hub repository that cannot be pinned to a commit now (offline, no lock, no mirror)."""


def is_commit(revision: str | None) -> bool:
    return bool(revision) and COMMIT.fullmatch(str(revision)) is not None


def hub_offline() -> bool:
    return any(
        os.environ.get(var, "").lower() in ("1", "true", "yes") for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    )


@dataclass(frozen=True)
class Pin:
    """A repository at a commit, and where its files are read: ``snapshot`` is a local folder in
    the hub's layout (a mirror export), None: the hub (or its local cache) by id and commit."""

    kind: str
    repo: str
    commit: str
    snapshot: Path | None = None


class HubAccess:
    """Pins and locates hub repositories for one run (see the module docstring for the order)."""

    def __init__(self, mirror: Path | None = None, lock: LockFile | None = None, offline: bool | None = None):
        self.mirror = HubMirror(mirror) if mirror else None
        self.lock = lock
        self._offline = offline
        self._pins: dict[tuple[str, str, str | None], Pin] = {}
        self._cards: dict[tuple[str, str], CardFacts | None] = {}

    @classmethod
    def for_experiment(cls, experiment_path: Path | None, offline: bool | None = None) -> HubAccess:
        """The mirror of ``$STILTS_HUB_MIRROR`` and the experiment's lock file (``$STILTS_LOCK_FILE``,
        else ``<experiment>.lock.json`` when it exists)."""
        lock_path = chosen_lock_path(experiment_path)
        lock = LockFile.load(lock_path) if lock_path is not None else None
        return cls(mirror_from_env(), lock, offline)

    @property
    def offline(self) -> bool:
        return hub_offline() if self._offline is None else self._offline

    def describe(self) -> str:
        """Where commits are resolved: ``mirror /path`` or the hub's URL."""
        return f"mirror {self.mirror.root}" if self.mirror else HUB_URL

    # -- pinning -----------------------------------------------------------------------------------
    def pin(self, kind: str, repo: str, revision: str | None = None, *, use_lock: bool = True) -> Pin:
        """``repo`` (a dataset or model id) at the commit ``revision`` names; raises
        :class:`UnpinnedError` when it cannot be pinned now, :class:`HubError` when the hub or the
        mirror says it does not exist. ``use_lock=False``: resolve afresh (``stilts lock``)."""
        key = (kind, repo, revision)
        if use_lock and key in self._pins:
            return self._pins[key]
        commit = self._commit(kind, repo, revision, use_lock)
        snapshot = None
        if self.mirror is not None and self.mirror.has(kind, repo):
            try:
                snapshot = self.mirror.snapshot(kind, repo, commit)
            except MirrorError as exc:
                raise HubError(str(exc)) from None
        found = Pin(kind, repo, commit, snapshot)
        if use_lock:
            self._pins[key] = found
        return found

    def _commit(self, kind: str, repo: str, revision: str | None, use_lock: bool) -> str:
        if is_commit(revision):
            return str(revision)
        if use_lock and self.lock is not None:
            entry = self.lock.get(kind, repo, revision)
            if entry is None:
                raise UnpinnedError(
                    [
                        f"hub {kind} {repo!r}{_at(revision)} is not in the lock file {self.lock.path}: "
                        f"run `stilts lock` on the experiment again"
                    ]
                )
            return entry.commit
        if self.mirror is not None and self.mirror.has(kind, repo):
            try:
                return self.mirror.resolve(kind, repo, revision)
            except MirrorError as exc:
                raise HubError(str(exc)) from None
        if self.offline:
            where = f" and it is not in the mirror {self.mirror.root}" if self.mirror else ""
            raise UnpinnedError(
                [
                    f"hub {kind} {repo!r}{_at(revision)} cannot be pinned to a commit offline: no lock file{where} "
                    f"(run `stilts lock EXPERIMENT` once with network access or --hub-mirror)"
                ]
            )
        return hub_commit_online(kind, repo, revision)

    # -- card facts --------------------------------------------------------------------------------
    def card(self, dataset: str, commit: str) -> CardFacts | None:
        """The card facts of ``dataset`` at ``commit``: the lock's, else the card itself (mirror or
        hub), else the facts shipped with stilts; None when none is available."""
        key = (dataset, commit)
        if key not in self._cards:
            self._cards[key] = self._read_card(dataset, commit)
        return self._cards[key]

    def _read_card(self, dataset: str, commit: str) -> CardFacts | None:
        if self.lock is not None:
            for entry in self.lock.entries.values():
                if entry.kind == "dataset" and entry.repo == dataset and entry.commit == commit and entry.card:
                    return entry.card
        return self.card_at(dataset, commit) or shipped_facts(dataset)

    def card_at(self, dataset: str, commit: str) -> CardFacts | None:
        """The facts read from the card at ``commit`` in the mirror or on the hub (None: offline
        and not in the mirror, or the repository has no card)."""
        if self.mirror is not None and self.mirror.has("dataset", dataset):
            raw = self.mirror.read_file("dataset", dataset, commit, "README.md")
            if raw is None:
                return None
            files = self.mirror.files("dataset", dataset, commit)
            origin = f"its card at {commit[:12]} in the mirror"
            return facts_from_card(dataset, raw.decode("utf-8", errors="replace"), files, origin)
        if self.offline:
            return None
        return hub_card_online(dataset, commit)


def _at(revision: str | None) -> str:
    return f" (revision {revision})" if revision else ""


# -- the hub itself (network) ------------------------------------------------------------------------
def hub_commit_online(kind: str, repo: str, revision: str | None) -> str:
    """The commit the hub names for ``revision`` of ``repo``; errors say why it failed."""
    from huggingface_hub import HfApi

    api = HfApi()
    try:
        info: Any = (
            api.dataset_info(repo, revision=revision) if kind == "dataset" else api.model_info(repo, revision=revision)
        )
    except Exception as exc:
        raise hub_error(kind, repo, revision, exc) from None
    if not info.sha:
        raise HubError(f"the hub gave no commit for {kind} {repo!r}{_at(revision)}")
    return str(info.sha)


def hub_card_online(dataset: str, commit: str) -> CardFacts | None:
    """The facts of the card of ``dataset`` at ``commit`` as the hub serves it."""
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        readme = hf_hub_download(dataset, "README.md", repo_type="dataset", revision=commit)
        files = HfApi().list_repo_files(dataset, repo_type="dataset", revision=commit)
    except EntryNotFoundError:
        return None
    except Exception as exc:
        raise hub_error("dataset", dataset, commit, exc) from None
    text = Path(readme).read_text(encoding="utf-8", errors="replace")
    return facts_from_card(dataset, text, files, f"its card at {commit[:12]} on the hub")


def hub_error(kind: str, repo: str, revision: str | None, exc: BaseException) -> StiltsError:
    """The user-facing error for a failed hub call, by its cause."""
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    what = f"hub {kind} {repo!r}{_at(revision)}"
    if isinstance(exc, GatedRepoError):
        return HubError(f"{what} is gated: log in (`hf auth login`) with an account that was granted access")
    if isinstance(exc, RevisionNotFoundError):
        return HubError(f"{what}: the hub has no such revision")
    if isinstance(exc, RepositoryNotFoundError):
        return HubError(f"{what} does not exist on the hub (or is private: log in with `hf auth login`)")
    if isinstance(exc, OfflineModeIsEnabled):
        return UnpinnedError([f"{what}: offline mode is on (HF_HUB_OFFLINE) and there is no lock or mirror for it"])
    if isinstance(exc, HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", "?")
        return HubError(f"{what}: the hub answered HTTP {status}: {exc}")
    return UnpinnedError([f"{what}: the hub is unreachable ({type(exc).__name__}: {exc})"])
