"""``stilts rerun RESULT.json``: run a result's cell again from its stored configuration and
compare the new scores with the stored ones.

By default every stage is recomputed in a fresh stage cache (nothing reused), so the rerun
checks reproducibility rather than reading the cache back. A result file is untrusted input:
see :func:`trusted_experiment` for what is checked before anything runs.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import StiltsError
from harness.experiment import Experiment, load_experiment
from harness.progress import RunReporter
from harness.registry import Catalog
from harness.specs import load_validated
from harness.tasks import content_hash


@dataclass
class Difference:
    language: str
    metric: str
    stored: float | None
    rerun: float | None


def compare(
    stored: dict[str, dict[str, float]], new: dict[str, dict[str, float]], tolerance: float
) -> list[Difference]:
    """Every (language, score) whose value differs by more than ``tolerance`` or is missing."""
    out = []
    for lang in sorted(set(stored) | set(new)):
        old_scores, new_scores = stored.get(lang, {}), new.get(lang, {})
        for metric in sorted(set(old_scores) | set(new_scores)):
            a, b = old_scores.get(metric), new_scores.get(metric)
            if a is None or b is None or not math.isclose(a, b, rel_tol=0.0, abs_tol=tolerance):
                out.append(Difference(lang, metric, a, b))
    return out


def config_mismatches(planned: Any, stored: Any, pointer: str = "") -> list[str]:
    """JSON pointers where ``stored`` differs from ``planned`` (keys only in ``stored`` are what
    the run found, such as dev scores and fingerprints, and are not compared)."""
    if isinstance(planned, dict) and isinstance(stored, dict):
        out = []
        for key, value in planned.items():
            where = f"{pointer}/{key}"
            out += config_mismatches(value, stored[key], where) if key in stored else [where]
        return out
    return [] if planned == stored else [pointer or "/"]


def trusted_experiment(
    catalog: Catalog, result_path: Path, result: dict[str, Any], trust_remote_code: bool
) -> Experiment:
    """The experiment a result's ``rerun`` section would run, once it is shown to be the one that
    produced the result. A result file is untrusted input (someone else's download): its
    ``config`` must match its ``config_hash``, the ``rerun`` experiment must resolve to exactly
    the stored ``config`` (same model, seed, tasks and hyperparameters), and a model needing
    remote code runs only with ``--trust-remote-code`` given on this command line."""
    stored = result.get("rerun")
    if not stored:
        raise StiltsError(
            f"{result_path}: this result has no 'rerun' section (written by an older stilts); "
            "run its experiment file again instead"
        )
    if content_hash(result["config"], length=20) != result["config_hash"]:
        raise StiltsError(
            f"{result_path}: its 'config' does not match its 'config_hash' (the file was edited); refusing to rerun it"
        )
    experiment = load_experiment(Path(stored["experiment_file"]), catalog, stored["experiment"])
    cells = experiment.cells()
    if len(cells) != 1:
        raise StiltsError(f"{result_path}: its 'rerun' experiment expands to {len(cells)} cells, expected exactly one")
    mismatches = config_mismatches(experiment.cell_config(catalog, cells[0]), result["config"])
    if mismatches:
        raise StiltsError(
            f"{result_path}: its 'rerun' section does not describe the run in its 'config' "
            f"(differs at /config{', /config'.join(mismatches)}); refusing to rerun it"
        )
    if experiment.model.get("trust_remote_code") and not trust_remote_code:
        raise StiltsError(
            f"{result_path}: its model {experiment.model.get('id')!r} needs trust_remote_code, which runs "
            "code from the model's folder or hub repository; pass --trust-remote-code if you trust it"
        )
    return experiment


def rerun_result(
    catalog: Catalog,
    result_path: Path,
    *,
    runs_dir: Path | None,
    results_dir: Path,
    data_dir: Path | None = None,
    device: str | None = None,
    tolerance: float = 0.0,
    trust_remote_code: bool = False,
    reporter: RunReporter | None = None,
) -> tuple[Path, list[Difference]]:
    """Run the cell of ``result_path`` again; returns the new result and the differences.
    ``reporter`` receives the run's progress events (silent by default)."""
    from harness.pipeline import Pipeline

    result = load_validated(Path(result_path), "result")
    experiment = trusted_experiment(catalog, Path(result_path), result, trust_remote_code)
    with tempfile.TemporaryDirectory(prefix="stilts-rerun-") as fresh:
        pipeline = Pipeline(
            catalog,
            experiment,
            runs_dir=Path(runs_dir) if runs_dir else Path(fresh),
            results_dir=results_dir,
            data_dir=data_dir or Path(result["rerun"]["data_dir"]),
            device=device,
            reporter=reporter,
        )
        [path] = pipeline.run()
    new = load_validated(path, "result")
    return path, compare(result["languages"], new["languages"], tolerance)


def describe(differences: list[Difference]) -> list[str]:
    return [f"{d.language} {d.metric}: stored {d.stored!r}, rerun {d.rerun!r}" for d in differences]
