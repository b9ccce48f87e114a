"""Leaderboard build time for a study-sized results folder (default 2,000 result files).

Writes synthetic but schema-valid results (every language with per-example statistics, so every
Δ gets a paired bootstrap interval) into a temporary folder, then times, in one process:

* plain: ``json.load`` of every file (the floor: reading the folder at all);
* first build: ``build_site`` with an empty cache folder (``$STILTS_CACHE_DIR`` points at a fresh
  temporary one): every file validated, every Δ's 1,000-replicate bootstrap interval and every
  SVG chart computed, every page written;
* rebuild: ``build_site`` again on the same files: the memos of validated files, intervals and
  charts in the cache folder answer;
* rebuild after one new result (a sixth seed of one row on one target), as ``stilts run --site``
  does after each cell: only that file is validated, only that row's intervals on that target
  and the charts whose numbers changed are computed again.

Prints seconds per part (load = reading and validating, board = Δ and bootstrap intervals,
render = pages, charts and downloads, write) and the ratio to plain reading. Usage:
python bench/bench_leaderboard.py [--results 2000] [--examples 500] [--languages 10]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.experiment import Cell, Target  # noqa: E402
from harness.fingerprint import CACHE_ENV  # noqa: E402
from harness.leaderboard import build_site  # noqa: E402
from harness.results import aggregate  # noqa: E402

LANGUAGES = ["ar", "de", "en", "es", "fr", "hi", "ja", "ru", "sw", "zh", "th", "tr", "vi", "ko", "el"]


def synthetic_result(
    target: str, intermediate: str, model: str, seed: int, langs: list[str], examples: int, rng: random.Random
) -> dict:
    languages, units = {}, {}
    for lang in langs:
        right = rng.randint(examples // 4, 3 * examples // 4)
        rows = [[1.0]] * right + [[0.0]] * (examples - right)
        rng.shuffle(rows)
        languages[lang] = {"accuracy": 100.0 * right / examples, "n": examples}
        units[lang] = {"combine": "mean", "values": rows}
    aggregation = {"languages": "all", "mean": "macro"}
    return {
        "schema_version": 1,
        "experiment": "bench",
        "cell": {
            "id": Cell(intermediate, Target(target), seed).id(model, "full"),
            "model": model,
            "method": "full",
            "intermediate": intermediate,
            "target": target,
            "seed": seed,
            "selection": "english_dev",
            "zero_shot": True,
        },
        "task": {
            "name": target,
            "version": "1",
            "task_type": "pair_classification",
            "main_metric": "accuracy",
            "train_language": "en",
            "aggregation": aggregation,
        },
        "languages": languages,
        "aggregate": aggregate(languages, "accuracy", aggregation, "en"),
        "units": units,
        "config": {},
        "config_hash": "0" * 20,
        "stages": [],
        "data": [],
        "runtime": {"device": "cpu", "precision": "fp32", "versions": {}},
        "wall_time_s": 1.0,
        "created_at": "2026-01-01T00:00:00+0000",
    }


def timed_build(folder: Path, site: Path) -> tuple[float, dict[str, float]]:
    """Seconds of one ``build_site`` and of its parts."""
    parts: dict[str, float] = {}
    started = time.perf_counter()
    build_site(folder, site, timings=parts)
    return time.perf_counter() - started, parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=2000)
    parser.add_argument("--examples", type=int, default=500, help="evaluation examples per language")
    parser.add_argument("--languages", type=int, default=10)
    args = parser.parse_args()
    rng = random.Random(0)
    models, seeds, targets = ["model-a", "model-b"], [1, 2, 3, 4, 5], [f"task{i}" for i in range(10)]
    intermediates = ["none"] + [f"inter{i}" for i in range(max(1, args.results // (len(models) * 5 * 10)) - 1)]
    langs = LANGUAGES[: args.languages]
    with tempfile.TemporaryDirectory() as tmp:
        os.environ[CACHE_ENV] = str(Path(tmp) / "cache")  # a first build finds no memo
        folder = Path(tmp) / "results"
        folder.mkdir()
        count = 0
        for model in models:
            for intermediate in intermediates:
                for target in targets:
                    for seed in seeds:
                        result = synthetic_result(target, intermediate, model, seed, langs, args.examples, rng)
                        (folder / f"{result['cell']['id']}.json").write_text(json.dumps(result), encoding="utf-8")
                        count += 1
        started = time.perf_counter()
        for path in sorted(folder.glob("*.json")):
            json.loads(path.read_text(encoding="utf-8"))
        plain = time.perf_counter() - started
        first, first_parts = timed_build(folder, Path(tmp) / "site")
        again, again_parts = timed_build(folder, Path(tmp) / "site")
        # a new result arrives (a sixth seed of one row on one target), as during a running study
        extra = synthetic_result(targets[0], intermediates[-1], models[0], 6, langs, args.examples, rng)
        (folder / f"{extra['cell']['id']}.json").write_text(json.dumps(extra), encoding="utf-8")
        grown, grown_parts = timed_build(folder, Path(tmp) / "site")
    rows = len(models) * len(intermediates)
    print(
        f"{count} results: {rows} rows x {len(targets)} targets x {len(seeds)} seeds, {len(langs)} languages x "
        f"{args.examples} examples"
    )
    print(f"plain json.load of every file: {plain:.2f} s")
    builds = (
        ("first build", first, first_parts),
        ("rebuild, nothing changed", again, again_parts),
        ("rebuild after one new result", grown, grown_parts),
    )
    for name, total, parts in builds:
        shown = "; ".join(f"{part} {seconds:.2f} s" for part, seconds in parts.items())
        print(f"stilts build_site, {name}: {total:.2f} s ({total / plain:.1f}x plain reading): {shown}")


if __name__ == "__main__":
    main()
