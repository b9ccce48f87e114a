"""tox plugin: one tox environment per cell of the stilts experiment files named in ``tox.ini``.

``[tox] stilts_experiments`` lists experiment files (relative to the tox root); every cell, one per
(intermediate, target, seed), becomes an environment ``<experiment>-<intermediate>-<target>-s<seed>``
(characters other than letters, digits, ``_`` and ``-`` become ``_``) that runs::

    stilts run EXPERIMENT --intermediate I --target T --seed N <stilts_run_args> {posargs}

Each generated environment inherits ``[testenv]`` (packaging, extras, ``set_env``), is labelled with its
experiment's name (``tox -m xstilts-local`` selects its cells) and is listed by ``tox l``. The core
constant ``stilts_envs`` holds every generated name, so an environment can wait for all of them with
``depends = {[tox]stilts_envs}``. All cells share ``--runs-dir``, whose file-locked, content-addressed stage
cache makes ``tox -p`` train each shared stage once.

Why a ``toxfile.py`` reading JSON with the standard library, and not a ``tox`` entry point of the stilts
distribution that calls ``harness.experiment.load_experiment``: tox usually runs from its own interpreter
(pipx, a system package), where stilts and its dependencies are not installed, while ``toxfile.py`` is loaded
by any tox >= 4.29 next to ``tox.ini``. Listing cells needs only the names in three lists (``intermediate``,
``targets``, ``seeds``); the full schema and catalog checks still run in ``stilts run`` inside each
environment. A malformed file stops tox with a one-line error naming the file and the entry.

Hook order: ``tox_extend_envs`` is called before any configuration is read, but tox consumes the iterable it
returns only when it first lists environments, after ``tox_add_core_config`` (called during provisioning)
has read ``stilts_experiments``, parsed the files and seeded one ``MemoryLoader`` per environment. The hook
therefore returns a generator over names filled in later.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from tox.config.loader.memory import MemoryLoader
from tox.config.sets import ConfigSet
from tox.config.types import Command
from tox.plugin import impl
from tox.report import HandledError
from tox.session.state import State

#: the environment names generated in this tox run, in order (filled by ``tox_add_core_config``)
_ENV_NAMES: list[str] = []


class Cell(NamedTuple):
    """One cell of an experiment: ``stilts run --intermediate intermediate --target target --seed seed``."""

    experiment: str
    intermediate: str
    target: str
    seed: int

    @property
    def env_name(self) -> str:
        """The tox environment name: ``<experiment>-<intermediate>-<target>-s<seed>``, tox-safe characters."""
        return "-".join(_safe(part) for part in (self.experiment, self.intermediate, self.target, f"s{self.seed}"))


def _safe(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", part)


def _names(path: Path, data: dict[str, Any], key: str, field: str, default: list[str] | None) -> list[str]:
    """The names in ``data[key]`` (``default`` when absent, required when ``None``): strings, or objects whose
    ``field`` is a string."""
    if key not in data and default is None:
        raise HandledError(f"{path}: {key!r} is missing")
    items = data.get(key, default)
    if not isinstance(items, list) or not items:
        raise HandledError(f"{path}: {key!r} must be a non-empty list, got {items!r}")
    names = []
    for i, item in enumerate(items):
        name = item.get(field) if isinstance(item, dict) else item
        if not isinstance(name, str) or not name:
            raise HandledError(f"{path}: {key}[{i}] must be a name or an object with a {field!r} name, got {item!r}")
        names.append(name)
    return names


def read_cells(path: Path) -> list[Cell]:
    """The cells of an experiment file, in ``stilts run`` order (seed, intermediate, target).

    :param path: the experiment JSON file
    :raises HandledError: with a one-line message when the file is missing, not JSON or lacks a valid
        ``name``, ``intermediate``, ``targets`` or ``seeds``
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise HandledError(f"stilts_experiments: cannot read {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HandledError(f"{path}: not a JSON experiment file ({exc})") from None
    if not isinstance(data, dict):
        raise HandledError(f"{path}: an experiment file holds a JSON object, got {type(data).__name__}")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise HandledError(f"{path}: 'name' must be a non-empty string, got {name!r}")
    intermediates = _names(path, data, "intermediate", "name", ["none"])
    targets = _names(path, data, "targets", "task", None)
    seeds = data.get("seeds", [1])
    if not isinstance(seeds, list) or not seeds or not all(type(s) is int and s >= 0 for s in seeds):
        raise HandledError(f"{path}: 'seeds' must be a non-empty list of integers >= 0, got {seeds!r}")
    return [Cell(name, i, t, seed) for seed in seeds for i in intermediates for t in targets]


def _cell_loader(cell: Cell, experiment: Path, run_args: list[str], pos_args: tuple[str, ...]) -> MemoryLoader:
    """The in-memory configuration of one cell; every other key comes from ``[testenv]``."""
    argv = ["stilts", "run", str(experiment), "--intermediate", cell.intermediate, "--target", cell.target]
    return MemoryLoader(
        description=f"stilts cell of {cell.experiment}: {cell.intermediate} -> {cell.target}, seed {cell.seed}",
        commands=[Command([*argv, "--seed", str(cell.seed), *run_args, *pos_args])],
        labels=[cell.experiment],
    )


@impl
def tox_extend_envs() -> Iterator[str]:
    """Declare the generated environments: a generator, read by tox after ``tox_add_core_config`` ran.

    :returns: the names of the cell environments
    """
    yield from _ENV_NAMES


@impl
def tox_add_core_config(core_conf: ConfigSet, state: State) -> None:
    """Read ``stilts_experiments`` and ``stilts_run_args``, seed a ``MemoryLoader`` per cell and publish
    the names (``tox_extend_envs`` and the core constant ``stilts_envs``).

    :param core_conf: the core configuration (``[tox]``), where the keys and the constant are added
    :param state: the tox state, whose ``conf.memory_seed_loaders`` receive the cells' configuration
    """
    root: Path = core_conf["tox_root"]
    core_conf.add_config(
        keys=["stilts_experiments"],
        of_type=list[str],
        default=[],
        desc="stilts experiment files (relative to tox_root): one tox environment per cell",
    )
    core_conf.add_config(
        keys=["stilts_run_args"],
        of_type=str,
        default=shlex.join(["--runs-dir", f"{root}/stilts-out/runs", "--results-dir", f"{root}/stilts-out/results"]),
        desc="arguments after `stilts run EXPERIMENT --intermediate I --target T --seed N` in every cell",
    )
    run_args = shlex.split(core_conf["stilts_run_args"])
    pos_args = state.conf.pos_args(root) or ()
    _ENV_NAMES.clear()
    origin: dict[str, Path] = {}
    for entry in core_conf["stilts_experiments"]:
        experiment = (root / entry).resolve()
        for cell in read_cells(experiment):
            if cell.env_name in origin:
                raise HandledError(
                    f"{experiment}: cell {cell.intermediate} -> {cell.target}, seed {cell.seed} would be tox "
                    f"environment {cell.env_name}, already a cell of {origin[cell.env_name]}: rename one of them"
                )
            origin[cell.env_name] = experiment
            _ENV_NAMES.append(cell.env_name)
            state.conf.memory_seed_loaders[cell.env_name].append(_cell_loader(cell, experiment, run_args, pos_args))
    core_conf.add_constant(
        keys=["stilts_envs"], desc="the environments generated from stilts_experiments", value=[*_ENV_NAMES]
    )
