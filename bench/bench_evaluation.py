"""The mini study's evaluation phase, measured before and after evaluations of one trained model
share a worker, in one run.

Setup (not timed): ``examples/xstilts-mini.json`` with its real data (``../shared/data``), for the
intermediate tasks and seed asked for (default: ``none``, seed 1). Its training stages are built
first, with a small training cap (``--train-cap``, default 32 examples: the evaluation phase's cost
does not depend on how well the models were trained, and the evaluation caps stay the study's;
``--train-cap 0`` keeps the study's training, so ``--work`` can be the folder of a mini study run
whose trained stages are then reused). They are kept in ``--work`` between runs of the bench.

Timed, each from an empty evaluation store (the training stages stay built), every mode in the
same run:

* ``local, one process per stage`` (``--evals-per-worker 1``; what the local and Slurm executors
  did before): each evaluation in a fresh worker process that imports torch, loads the model and
  embeds LAReQA's 13,014-candidate pool again for each of its 11 languages;
* ``local, one process per model`` (the default now): the evaluations of one trained model in one
  worker process, sharing the loaded model and the remembered embeddings;
* ``inline`` (for reference): every evaluation in this process, cell after cell.

Prints seconds, evaluation stages per second, and each mode's ratio against the first.

Usage: python bench/bench_evaluation.py [--intermediate none] [--seed 1] [--targets xnli,lareqa]
       [--threads 2] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")  # library progress bars stay out of the output


def shared_data() -> Path:
    found = Path(os.environ.get("STILTS_SHARED_DATA", REPO.parent / "shared" / "data"))
    if not (found / "README.md").is_file():
        sys.exit(f"this bench reads the mini study's real data: {found} is missing (set STILTS_SHARED_DATA)")
    return found


def bench_experiment(work: Path, intermediate: list[str], seed: int, targets: list[str] | None, cap: int) -> Path:
    """The mini study restricted to ``intermediate`` x ``targets`` x ``seed``, trained on ``cap``
    examples per training stage (anchored at ``examples/`` so its relative paths still resolve)."""
    data = json.loads((REPO / "examples" / "xstilts-mini.json").read_text(encoding="utf-8"))
    kept = [i for i in data["intermediate"] if (i if isinstance(i, str) else i["name"]) in intermediate]
    data.update(name="bench-evaluation", intermediate=kept, seeds=[seed])
    if targets:
        data["targets"] = [t for t in data["targets"] if t["task"] in targets]
    if cap:  # else the study's own training (its stages then match a run of the mini study)
        data["training"] = {**data.get("training", {}), "max_train_examples": cap, "epochs": 1}
        data["intermediate_training"] = {
            **data.get("intermediate_training", {}),
            "max_train_examples": cap,
            "epochs": 1,
        }
        for target in data["targets"]:
            target.get("training", {}).pop("max_train_examples", None)
            target.get("training", {}).pop("epochs", None)
    path = REPO / "examples" / f".bench-evaluation-{os.getpid()}.json"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def stilts(args: list[str], threads: int) -> float:
    """Seconds a ``stilts`` command takes in a fresh process (it must succeed)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "harness.cli", *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"stilts {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--intermediate", default="none", help="comma-separated intermediate tasks")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--targets", default="", help="comma-separated target tasks (default: all nine)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train-cap", type=int, default=32)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "stilts-bench-evaluation")
    args = parser.parse_args()
    data_dir = shared_data()
    targets = [t for t in args.targets.split(",") if t] or None
    experiment = bench_experiment(args.work, args.intermediate.split(","), args.seed, targets, args.train_cap)
    runs, results = args.work / "runs", args.work / "results"
    common = [str(experiment), "--data-dir", str(data_dir), "--runs-dir", str(runs), "--results-dir", str(results)]
    try:
        setup = stilts(["run", *common, "--plain", "--quiet"], args.threads)  # trains (kept) and evaluates once
        evaluations = len(list((runs / "eval").glob("*/stage.json")))
        print(f"setup (training stages built or reused, one evaluation pass): {setup:.0f} s")
        print(f"{evaluations} evaluation stages; {args.threads} CPU threads, one stage at a time\n")
        modes = [
            ("local, one process per stage (before)", ["--executor", "local", "--evals-per-worker", "1"]),
            ("local, one process per model (now)", ["--executor", "local"]),
            ("inline (this process, cell after cell)", []),
        ]
        rows = []
        for label, extra in modes:
            shutil.rmtree(runs / "eval", ignore_errors=True)
            shutil.rmtree(results, ignore_errors=True)
            seconds = stilts(
                ["run", *common, "--plain", "--quiet", "--threads", str(args.threads), *extra], args.threads
            )
            built = len(list((runs / "eval").glob("*/stage.json")))
            if built != evaluations:
                sys.exit(f"{label}: {built} evaluation stages built, expected {evaluations}")
            stage_seconds = sum(
                json.loads(p.read_text(encoding="utf-8"))["wall_time_s"] for p in (runs / "eval").glob("*/stage.json")
            )
            rows.append((label, seconds, stage_seconds))
        base = rows[0][1]
        print(f"| mode | wall s | stages' own s | stages/s | × {rows[0][0].split(' (')[0]} |")
        print("|---|---|---|---|---|")
        for label, seconds, stage_seconds in rows:
            print(
                f"| {label} | {seconds:.1f} | {stage_seconds:.1f} | {evaluations / seconds:.2f} | {base / seconds:.2f} |"
            )
    finally:
        experiment.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
