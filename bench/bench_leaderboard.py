"""Leaderboard build time for a study-sized results folder (default 2,000 result files).

Writes synthetic but schema-valid results (every language with per-example statistics, so every
Δ gets a paired bootstrap interval) into a temporary folder, then times, in one process:

* plain: ``json.load`` of every file (the floor: reading the folder at all);
* stilts: ``build_site`` (validation, Δ and 1,000-replicate bootstrap intervals, every page, the
  SVG charts, the downloads), and its parts.

Prints seconds and the ratio stilts / plain. Usage:
python bench/bench_leaderboard.py [--results 2000] [--examples 500] [--languages 10]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.comparison import build_board  # noqa: E402
from harness.experiment import Cell, Target  # noqa: E402
from harness.leaderboard import build_site, render_site  # noqa: E402
from harness.results import aggregate, load_results  # noqa: E402

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

        started = time.perf_counter()
        results = load_results(folder)
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        board = build_board(results)
        compared = time.perf_counter() - started
        started = time.perf_counter()
        render_site(board, "bench")
        rendered = time.perf_counter() - started
        started = time.perf_counter()
        build_site(folder, Path(tmp) / "site")
        total = time.perf_counter() - started
    rows = len(models) * len(intermediates)
    print(
        f"{count} results: {rows} rows x {len(targets)} targets x {len(seeds)} seeds, {len(langs)} languages x "
        f"{args.examples} examples"
    )
    print(f"plain json.load of every file: {plain:.2f} s")
    print(f"stilts load + validate: {loaded:.2f} s; Δ + bootstrap: {compared:.2f} s; render: {rendered:.2f} s")
    print(f"stilts build_site total: {total:.2f} s ({total / plain:.1f}x plain reading)")


if __name__ == "__main__":
    main()
