"""``stilts rerun RESULT.json``: run a result's cell again from its stored configuration and
compare the new scores with the stored ones.

By default every stage is recomputed in a fresh stage cache (nothing reused), so the rerun
checks reproducibility rather than reading the cache back.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import StiltsError
from harness.experiment import load_experiment
from harness.registry import Catalog
from harness.specs import load_validated


@dataclass
class Difference:
    language: str
    metric: str
    stored: float | None
    rerun: float | None


def compare(stored: dict[str, dict[str, float]], new: dict[str, dict[str, float]], tolerance: float) -> list[Difference]:
    """Every (language, score) whose value differs by more than ``tolerance`` or is missing."""
    out = []
    for lang in sorted(set(stored) | set(new)):
        old_scores, new_scores = stored.get(lang, {}), new.get(lang, {})
        for metric in sorted(set(old_scores) | set(new_scores)):
            a, b = old_scores.get(metric), new_scores.get(metric)
            if a is None or b is None or not math.isclose(a, b, rel_tol=0.0, abs_tol=tolerance):
                out.append(Difference(lang, metric, a, b))
    return out


def rerun_result(catalog: Catalog, result_path: Path, *, runs_dir: Path | None, results_dir: Path,
                 data_dir: Path | None = None, device: str | None = None, tolerance: float = 0.0,
                 say: Callable[[str], None] = print) -> tuple[Path, list[Difference]]:
    """Run the cell of ``result_path`` again; returns the new result and the differences."""
    from harness.pipeline import Pipeline

    result = load_validated(Path(result_path), "result")
    stored = result.get("rerun")
    if not stored:
        raise StiltsError(f"{result_path}: this result has no 'rerun' section (written by an older stilts); "
                          "run its experiment file again instead")
    experiment = load_experiment(Path(stored["experiment_file"]), catalog, stored["experiment"])
    with tempfile.TemporaryDirectory(prefix="stilts-rerun-") as fresh:
        pipeline = Pipeline(catalog, experiment, runs_dir=Path(runs_dir) if runs_dir else Path(fresh),
                            results_dir=results_dir, data_dir=data_dir or Path(stored["data_dir"]), device=device, say=say)
        [path] = pipeline.run()
    new = load_validated(path, "result")
    return path, compare(result["languages"], new["languages"], tolerance)


def describe(differences: list[Difference]) -> list[str]:
    return [f"{d.language} {d.metric}: stored {d.stored!r}, rerun {d.rerun!r}" for d in differences]
