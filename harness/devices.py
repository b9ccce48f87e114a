"""Which device a run uses and what ``"precision": "auto"`` becomes there, decided without
importing torch where that is possible, so that planning a study (``stilts plan``, a re-run of a
finished matrix) never pays torch's import.

The answers must equal :func:`harness.inference.pick_device` and
:func:`harness.inference.resolve_precision` (which ask torch): a stage records the precision it
was planned with in its key, and :mod:`harness.execution` checks it against torch's answer on the
machine that runs the stage before building anything, so a wrong guess here stops with an error
instead of writing a stage under the wrong key.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

#: Files that exist where a GPU driver is loaded (NVIDIA, AMD ROCm): only then is torch asked.
GPU_DEVICE_FILES = ("/dev/nvidia0", "/dev/nvidiactl", "/proc/driver/nvidia/gpus", "/dev/kfd")
#: CPU flags with which torch runs bf16 autocast fast (``torch.cpu._is_amx_tile_supported``,
#: ``_is_avx512_bf16_supported``).
CPU_BF16_FLAGS = ("amx_tile", "avx512_bf16")


def gpu_driver_present() -> bool:
    """True when this machine has a GPU driver loaded (whether torch can use it is torch's to say)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return any(Path(path).exists() for path in GPU_DEVICE_FILES)


def local_device() -> str:
    """``cuda`` when torch can use a GPU here, else ``cpu``; torch is imported only when a GPU
    driver is present."""
    if not gpu_driver_present():
        return "cpu"
    from harness.inference import pick_device

    return pick_device()


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str] | None:
    """The CPU feature flags of ``/proc/cpuinfo`` (None where there is no such file: macOS)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def planned_precision(precision: str, device: str) -> str:
    """What ``precision`` resolves to on ``device``: ``auto`` becomes ``bf16`` where the hardware
    supports it, else ``fp32``. On a CPU the answer comes from its flags; on a GPU of this machine
    torch is asked; on a GPU this machine does not have (planning for a cluster) ``bf16`` is
    assumed, and the worker that runs the stage checks the assumption before building it."""
    if precision != "auto":
        return precision
    if device.startswith("cuda"):
        if gpu_driver_present():
            from harness.inference import resolve_precision

            return resolve_precision(precision, device)
        return "bf16"
    flags = cpu_flags()
    if flags is None:  # no /proc (macOS): torch knows
        from harness.inference import resolve_precision

        return resolve_precision(precision, device)
    return "bf16" if any(flag in flags for flag in CPU_BF16_FLAGS) else "fp32"
