"""Small helpers shared by tests (fixtures live in conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path


def write_json(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path
