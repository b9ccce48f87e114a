"""Task-agnostic helpers for running a model: device, precision, length-sorted batched forward.

Imported only by code that runs models (it imports torch).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch

from harness.interfaces import RunSettings


def pick_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def bf16_supported(device: str) -> bool:
    """bf16 autocast pays off: a GPU with bf16, or a CPU with AMX or AVX512-BF16 instructions."""
    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    cpu = torch.cpu
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(cpu, name, lambda: False)() for name in checks)


def resolve_precision(precision: str, device: str) -> str:
    """``auto`` becomes ``bf16`` where the hardware supports it, else ``fp32``."""
    if precision == "auto":
        return "bf16" if bf16_supported(device) else "fp32"
    return precision


def autocast(settings: RunSettings) -> AbstractContextManager[Any]:
    if settings.precision == "bf16":
        return torch.autocast(device_type=settings.device.split(":")[0], dtype=torch.bfloat16)
    return nullcontext()


def batched_forward(
    model: Any,
    tokenizer: Any,
    features: Sequence[dict[str, Any]],
    settings: RunSettings,
    run: Callable[[Any, dict[str, Any]], Any] | None = None,
    collate: Callable[[list[dict[str, Any]]], Any] | None = None,
) -> Iterator[tuple[list[int], Any, dict[str, Any]]]:
    """Run ``model`` over ``features`` in batches of similar length (dynamic padding).

    Yields ``(indices, outputs, batch)`` where ``indices`` are positions in ``features``; callers
    put results back in input order. ``run(model, batch)`` overrides the plain ``model(**batch)``;
    ``collate`` overrides ``tokenizer.pad`` (e.g. multiple choice pads every choice).
    """

    def size(feature: dict[str, Any]) -> int:
        ids = feature["input_ids"]
        return max(map(len, ids)) if ids and isinstance(ids[0], list) else len(ids)

    order = sorted(range(len(features)), key=lambda i: size(features[i]), reverse=True)
    model.eval()
    model.to(settings.device)
    for start in range(0, len(order), settings.batch_size):
        indices = order[start : start + settings.batch_size]
        chunk = [features[i] for i in indices]
        batch = collate(chunk) if collate else tokenizer.pad(chunk, return_tensors="pt")
        batch = {k: v.to(settings.device) for k, v in batch.items()}
        with torch.inference_mode(), autocast(settings):
            outputs = run(model, batch) if run else model(**batch)
        yield indices, outputs, batch
