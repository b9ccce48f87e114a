"""User-facing errors. The CLI prints these as plain messages (no traceback) and exits 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


class StiltsError(Exception):
    """Base class for every error that is the user's input, not a bug in stilts."""


def near_names(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Names from ``candidates`` that look like ``name`` (best first)."""
    candidates = list(candidates)
    close = difflib.get_close_matches(name, candidates, n=n, cutoff=0.6)
    if not close:
        lowered = name.lower()
        close = [c for c in candidates if lowered in c.lower() or c.lower() in lowered][:n]
    return close


class UnknownNameError(StiltsError, KeyError):
    """A task, task type, adapter, metric or format name that no plugin registered."""

    def __init__(self, kind: str, name: str, known: Iterable[str]):
        self.kind, self.name = kind, name
        self.known = sorted(known)
        self.suggestions = near_names(name, self.known)
        super().__init__(str(self))

    @property
    def hint(self) -> str:
        """``"; did you mean 'x'?"`` for the closest known name, or ``""``."""
        return f"; did you mean {self.suggestions[0]!r}?" if self.suggestions else ""

    def __str__(self) -> str:
        msg = f"unknown {self.kind} {self.name!r}"
        if self.suggestions:
            msg += "; did you mean " + " or ".join(repr(s) for s in self.suggestions) + "?"
        elif self.known:
            shown = ", ".join(self.known[:12]) + (" ..." if len(self.known) > 12 else "")
            msg += f" (known: {shown})"
        return msg


@dataclass(frozen=True)
class SpecIssue:
    """One problem in one JSON file: where it is, what was there and what was expected."""

    file: str
    pointer: str
    value: str
    expected: str

    def __str__(self) -> str:
        return f"{self.file}: at {self.pointer or '/'}: got {self.value}; expected {self.expected}"


class SpecError(StiltsError):
    """A task spec, experiment or result file that does not validate."""

    def __init__(self, issues: list[SpecIssue]):
        self.issues = issues
        super().__init__(str(self))

    def __str__(self) -> str:
        head = f"{len(self.issues)} problem(s) found:" if len(self.issues) > 1 else "invalid file:"
        return head + "\n" + "\n".join(f"  {issue}" for issue in self.issues)


class PluginError(StiltsError):
    """A plugin that failed to import, to register, or raised inside a hook."""

    def __init__(self, plugin: str, entry_point: str, phase: str, cause: BaseException):
        self.plugin, self.entry_point, self.phase, self.cause = plugin, entry_point, phase, cause
        super().__init__(str(self))

    def __str__(self) -> str:
        return (
            f"plugin {self.plugin!r} (entry point {self.entry_point}) failed while {self.phase}: "
            f"{type(self.cause).__name__}: {self.cause}"
        )


class ConflictError(StiltsError):
    """Two plugins registered the same name for the same kind of thing."""


class MissingResourcesError(StiltsError):
    """Models or data that an experiment needs and that are not available (offline check).
    ``advice``: what to do about them (subclasses say something else)."""

    advice = (
        "Run `stilts lock EXPERIMENT` and `stilts prefetch EXPERIMENT` with network access (or --hub-mirror), "
        "or point the task at local files (see docs/getting-started.md: 'Local data')."
    )

    def __init__(self, missing: list[str]):
        self.missing = missing
        super().__init__(str(self))

    def __str__(self) -> str:
        lines = "\n".join(f"  - {m}" for m in self.missing)
        return f"{len(self.missing)} resource(s) needed by this experiment are not available:\n{lines}\n{self.advice}"


class MalformedDataError(MissingResourcesError):
    """Local data that exists but cannot be used as the specs say (a malformed file or record,
    evaluated rows that a stage trains on), found before any training; ``malformed`` are those,
    ``missing`` everything the preflight found."""

    def __init__(self, missing: list[str], malformed: list[str]):
        self.malformed = malformed
        super().__init__(missing)

    def __str__(self) -> str:
        bad = "\n".join(f"  - {m}" for m in self.malformed)
        text = f"{len(self.malformed)} problem(s) in the data this experiment reads (nothing was trained):\n{bad}"
        others = [m for m in self.missing if m not in self.malformed]
        if others:
            text += f"\n{MissingResourcesError(others)}"
        return text + ("" if others else "\nFix the files named above and run again.")


class DataError(StiltsError):
    """A data record or file that cannot be read as its task spec says."""
