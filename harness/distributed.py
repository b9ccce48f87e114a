"""Data-parallel training stages: the processes of one stage (``torchrun``; ``RANK`` and
``WORLD_SIZE`` in the environment). Rank 0 owns the stage in the stage store (its lock, its work
folder, its output); the other ranks train beside it and write nothing.

Imported only where a stage is built (it imports torch lazily).
"""

from __future__ import annotations

import os
from typing import Any


def rank() -> int:
    """This process's rank among the stage's processes (0 when the stage has one process)."""
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    """How many processes build this stage together (1 unless launched by ``torchrun``)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    """True in the process that writes the stage (rank 0)."""
    return rank() == 0


def start(device: str) -> None:
    """Join the stage's process group (gloo on CPUs, nccl on GPUs), once."""
    import torch.distributed as dist

    if world_size() > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")


def share_from_main(value: Any) -> Any:
    """Rank 0's ``value``, in every process of the stage."""
    import torch.distributed as dist

    if world_size() == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    """Wait until every process of the stage is here."""
    import torch.distributed as dist

    if world_size() > 1:
        dist.barrier()
