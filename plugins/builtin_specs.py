"""Contributes the task specs shipped in the ``task_specs`` folder."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from harness import hookimpl


@hookimpl
def stilts_task_spec_paths() -> list[Path]:
    return [Path(str(resources.files("task_specs")))]
