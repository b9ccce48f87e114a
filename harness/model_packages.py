"""``"model": {"package": NAME}``: a model folder shipped inside an installed Python package.

An experiment file is untrusted input, so naming a package must never run that package's code
(importing a module runs it). The folder is found from the installed distribution's file list
(its RECORD) instead: the one folder under the package that holds a ``config.json`` next to
weights (``*.safetensors`` or ``pytorch_model.bin``). A package with several model folders
declares which one with ``"model": {"package": NAME, "folder": "sub/folder"}``. Nothing is
imported.
"""

from __future__ import annotations

from functools import cache
from importlib import metadata
from pathlib import Path, PurePosixPath

from harness.errors import StiltsError

WEIGHT_SUFFIXES = (".safetensors", ".bin")


class ModelPackageError(StiltsError):
    """A ``model.package`` that is not installed or ships no (single) model folder."""


@cache
def _top_level_names() -> dict[str, list[str]]:
    """Top-level import name -> distributions providing it (scans every installed dist once)."""
    return dict(metadata.packages_distributions())


def _distributions(package: str) -> list[metadata.Distribution]:
    top = package.split(".")[0]
    if top not in _top_level_names():  # installed since the last scan?
        _top_level_names.cache_clear()
    names = _top_level_names().get(top, [])
    found = []
    for name in dict.fromkeys(names):
        try:
            found.append(metadata.distribution(name))
        except metadata.PackageNotFoundError:
            continue
    return found


def model_folders(package: str) -> list[Path]:
    """Every folder of ``package``'s installed files that holds a config.json and weights."""
    prefix = tuple(package.split("."))
    folders: dict[PurePosixPath, set[str]] = {}
    located: dict[PurePosixPath, Path] = {}
    for dist in _distributions(package):
        for file in dist.files or []:
            rel = PurePosixPath(str(file))
            if rel.parts[: len(prefix)] != prefix:
                continue
            folders.setdefault(rel.parent, set()).add(rel.name)
            located[rel.parent] = Path(str(dist.locate_file(file))).parent
    return sorted(
        located[folder]
        for folder, names in folders.items()
        if "config.json" in names and any(n.endswith(WEIGHT_SUFFIXES) for n in names)
    )


def package_model_folder(package: str, folder: str | None = None) -> Path:
    """The model folder shipped by installed package ``package`` (see the module docstring)."""
    if not _distributions(package):
        raise ModelPackageError(
            f"model package {package!r} is not installed (no installed distribution provides a top-level "
            f"package of that name); install it, or give the model as a folder or hub id in 'id'"
        )
    found = model_folders(package)
    if folder is not None:
        wanted = [f for f in found if f.as_posix().endswith("/" + folder.strip("/"))]
        if len(wanted) == 1:
            return wanted[0]
        raise ModelPackageError(
            f"model package {package!r} has no model folder {folder!r}; "
            f"its model folders: {', '.join(str(f) for f in found) or 'none'}"
        )
    if len(found) == 1:
        return found[0]
    if not found:
        raise ModelPackageError(
            f"model package {package!r} ships no model folder (no folder with config.json and weights among its "
            "installed files); stilts does not import packages to look for models"
        )
    raise ModelPackageError(
        f"model package {package!r} ships {len(found)} model folders; choose one with "
        f"model.folder: {', '.join(str(f) for f in found)}"
    )
