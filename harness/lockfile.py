"""The lock file: every hub dataset and model an experiment reads, pinned to a commit.

``stilts lock EXPERIMENT`` writes ``<experiment>.lock.json`` next to the experiment file (commit it
with the experiment, like a package lock). Runs and plans of that experiment then read exactly
the pinned commits, and with ``--offline`` they need nothing but the lock and the local caches (or
the mirror). The lock also keeps each dataset's card facts at its commit (configs, splits,
features), so an offline plan checks every requested config, split and column against the card
it will read. A lock file is data only (validated by ``lock.schema.json``), never code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.atomic import write_json_atomic
from harness.hub_cards import CardFacts

LOCK_ENV = "STILTS_LOCK_FILE"
LOCK_VERSION = 1


def lock_path_for(experiment_path: Path) -> Path:
    """``examples/xstilts-mini.json`` -> ``examples/xstilts-mini.lock.json``."""
    path = Path(experiment_path)
    return path.with_name(path.stem + ".lock.json")


def chosen_lock_path(experiment_path: Path | None) -> Path | None:
    """``$STILTS_LOCK_FILE`` (``--lock``) if set, else the lock beside the experiment if it exists."""
    named = os.environ.get(LOCK_ENV, "").strip()
    if named:
        return Path(named).expanduser()
    if experiment_path is None:
        return None
    beside = lock_path_for(experiment_path)
    return beside if beside.is_file() else None


@dataclass(frozen=True)
class LockedRepo:
    """One pinned repository: ``revision`` as requested (None: the default branch)."""

    kind: str  # "dataset" | "model"
    repo: str
    revision: str | None
    commit: str
    card: CardFacts | None = None

    def to_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {"repo": self.repo, "revision": self.revision, "commit": self.commit}
        if self.card is not None:
            found["card"] = {k: v for k, v in self.card.to_json().items() if k != "dataset"}
        return found


@dataclass
class LockFile:
    """The pinned repositories of one experiment, read from or written to ``path``."""

    path: Path
    experiment: str = ""
    resolved_from: str = ""
    entries: dict[tuple[str, str, str | None], LockedRepo] = field(default_factory=dict)

    def get(self, kind: str, repo: str, revision: str | None) -> LockedRepo | None:
        return self.entries.get((kind, repo, revision))

    def add(self, entry: LockedRepo) -> None:
        self.entries[(entry.kind, entry.repo, entry.revision)] = entry

    def to_json(self) -> dict[str, Any]:
        ordered = sorted(self.entries.values(), key=lambda e: (e.kind, e.repo, e.revision or ""))
        return {
            "stilts_lock": LOCK_VERSION,
            "experiment": self.experiment,
            "resolved_from": self.resolved_from,
            "datasets": [e.to_json() for e in ordered if e.kind == "dataset"],
            "models": [e.to_json() for e in ordered if e.kind == "model"],
        }

    def save(self) -> None:
        write_json_atomic(self.path, self.to_json())

    @classmethod
    def load(cls, path: Path) -> LockFile:
        """Read and validate ``path`` (a :class:`~harness.errors.SpecError` names what is wrong)."""
        from harness.specs import load_validated

        data = load_validated(Path(path), "lock")
        lock = cls(Path(path), data.get("experiment", ""), data.get("resolved_from", ""))
        origin = f"the lock file {path}"
        for kind, key in (("dataset", "datasets"), ("model", "models")):
            for one in data.get(key, []):
                card = None
                if "card" in one:
                    card = CardFacts.from_json({"dataset": one["repo"], **one["card"]}, origin)
                lock.add(LockedRepo(kind, one["repo"], one.get("revision"), one["commit"], card))
        return lock
