"""Bundled metadata for the leaderboard: language facts and published reference rows.

Two JSON files ship inside the ``leaderboard`` package (``leaderboard/data/``):

* ``languages.json``: for each language code the task specs use, its English name, language
  family (and optional genus), script, and resource class (Joshi et al., 2020; null when unknown);
* ``published.json``: reference scores transcribed from publications (never computed by stilts).

This module only reads them (standard library only, no torch) and groups language codes by
family, script or resource class so the leaderboard can show per-group averages.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from importlib import resources
from typing import Any

#: The dimensions :func:`language_groups` groups by.
GROUP_DIMENSIONS = ("family", "script", "resource")
#: The group a code lands in when it has no metadata (or no value for the dimension).
UNKNOWN = "unknown"


def _read_json(name: str) -> Any:
    """Parse ``leaderboard/data/<name>`` from the installed ``leaderboard`` package."""
    text = resources.files("leaderboard").joinpath(f"data/{name}").read_text(encoding="utf-8")
    return json.loads(text)


def load_languages() -> dict[str, dict[str, Any]]:
    """Return ``{code: {"name", "family", "genus"?, "script", "resource"}}`` for every known language."""
    languages: dict[str, dict[str, Any]] = _read_json("languages.json")["languages"]
    return languages


def load_languages_source() -> str:
    """Where the language metadata comes from (a citation string)."""
    return str(_read_json("languages.json")["source"])


def load_published() -> dict[str, Any]:
    """Return the published reference rows: ``citation``, ``source``, ``note``, ``rows``, ``findings``."""
    published: dict[str, Any] = _read_json("published.json")
    return published


def _group_of(meta: dict[str, Any] | None, dimension: str) -> str:
    """The group name of one language along one dimension (``"class 3"`` style for resource)."""
    value = None if meta is None else meta.get(dimension)
    if value is None or value == "":
        return UNKNOWN
    return f"class {value}" if dimension == "resource" else str(value)


def language_groups(codes: Iterable[str]) -> dict[str, dict[str, list[str]]]:
    """Group ``codes`` by family, script and resource class.

    Returns ``{dimension: {group: sorted codes}}`` for each of :data:`GROUP_DIMENSIONS`. A code
    without metadata goes to the group ``"unknown"`` in every dimension; resource groups are named
    ``"class 0"`` .. ``"class 5"`` (or ``"unknown"`` where the class is null).
    """
    languages = load_languages()
    unique = sorted(set(codes))
    groups: dict[str, dict[str, list[str]]] = {}
    for dimension in GROUP_DIMENSIONS:
        by_group: dict[str, list[str]] = {}
        for code in unique:
            by_group.setdefault(_group_of(languages.get(code), dimension), []).append(code)
        groups[dimension] = dict(sorted(by_group.items()))
    return groups
