"""Running a network stage under ``torchrun``: which images this process takes, and waiting for the others.

``torchrun --nproc_per_node N [--nnodes M ...] pseudo_labels/<script>.py ...`` sets
``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; each process then takes every
``WORLD_SIZE``-th image starting at its ``RANK`` (a deterministic split of the
sorted image list), writes its own files, and rank 0 writes the manifest after
a barrier. Without ``torchrun`` everything runs in one process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Process:
    """This process's place among the ranks (0 of 1 without torchrun)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def leader(self) -> bool:
        return self.rank == 0


def start(device: torch.device) -> tuple[Process, torch.device]:
    """Join the process group when started by torchrun (gloo on CPU, NCCL on CUDA); this rank's device.

    On CUDA each local rank takes its own GPU (unless ``device`` names one);
    other devices are shared.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    process = Process()
    if world > 1:
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        process = Process(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", process.local_rank)
    if device.type == "cuda" and process.world > 1:
        torch.cuda.set_device(device)  # object collectives under NCCL use the current device
    return process, device


def gather_to_leader(process: Process, item: object) -> list:
    """Every rank's ``item`` on rank 0 (in rank order), ``[item]`` in a single process, ``[]`` on other ranks."""
    if process.world <= 1:
        return [item]
    gathered = [None] * process.world if process.leader else None
    dist.gather_object(item, gathered, dst=0)
    return gathered if process.leader else []


def from_leader(process: Process, item: object) -> object:
    """Rank 0's ``item`` on every rank."""
    if process.world <= 1:
        return item
    box = [item if process.leader else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def sum_on_leader(process: Process, values: np.ndarray) -> np.ndarray:
    """The element-wise sum over ranks of an array, on rank 0 (other ranks get their own values back)."""
    parts = gather_to_leader(process, values)
    return np.sum(parts, axis=0) if process.leader else values


def wait_for_all(process: Process) -> None:
    """Barrier across ranks (no-op in a single process)."""
    if process.world > 1:
        dist.barrier()


def finish(process: Process) -> None:
    """Leave the process group."""
    if process.world > 1 and dist.is_initialized():
        dist.destroy_process_group()
