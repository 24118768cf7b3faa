"""Training on several processes (GPUs, machines) with ``torchrun`` and PyTorch's
DistributedDataParallel.

``torchrun --nproc_per_node N -m audioanom train ...`` starts N copies of the command; each
reads its place (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``) from the environment torchrun sets.
:func:`init_from_env` joins them into one process group (``nccl`` on CUDA, ``gloo`` on the
CPU); without those variables it returns the one-process :data:`SINGLE` and nothing changes.

What the training loop does with it (:func:`audioanom.machines.training.train_model`):

* every rank draws the same shuffled list of crops for an epoch (same seed) and takes its share
  through a :class:`torch.utils.data.DistributedSampler` (no shuffling of its own, padded so
  that every rank runs the same number of steps);
* the batch of ``batch_size`` windows is split over the ranks (``batch_size / N`` each, rounded
  up), so one step sees as many windows as on one process, and DDP averages the gradients;
* batch-norm statistics stay per rank (CPU has no ``SyncBatchNorm``): the one difference from a
  one-process run besides the order of floating-point sums;
* validation windows are split over the ranks and the loss summed with ``all_reduce``, after
  rank 0's batch-norm buffers are broadcast, so every rank takes the same early-stopping
  decision;
* rank 0 alone writes checkpoints, ``metrics.csv`` and the model; the others wait at a barrier.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "SINGLE",
    "DistContext",
    "all_sum",
    "barrier",
    "broadcast_buffers",
    "current",
    "init_from_env",
    "main_first",
    "shard_indices",
    "shutdown",
]


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: ``rank`` of ``world_size`` (``local_rank`` on its machine)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    def __post_init__(self) -> None:
        if self.world_size < 1 or not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {self.rank} of world size {self.world_size}")

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes files and prints."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        """More than one process."""
        return self.world_size > 1


SINGLE = DistContext()


def current() -> DistContext:
    """The context of the initialised process group, :data:`SINGLE` when there is none."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return SINGLE
    return DistContext(
        rank=torch.distributed.get_rank(),
        world_size=torch.distributed.get_world_size(),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )


def init_from_env(device: str = "auto", *, timeout_s: float = 1800.0) -> DistContext:
    """Join the process group torchrun describes in the environment (``WORLD_SIZE`` > 1):
    backend ``nccl`` when ``device`` is (or ``"auto"`` finds) CUDA, with this process on GPU
    ``LOCAL_RANK``; ``gloo`` otherwise. Without torchrun's variables: :data:`SINGLE`.
    ValueError when the variables are incomplete."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE
    missing = [
        v for v in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT") if v not in os.environ
    ]
    if missing:
        raise ValueError(
            f"WORLD_SIZE={world} but {', '.join(missing)} not set: start with torchrun"
        )
    if torch.distributed.is_initialized():
        return current()
    local = int(os.environ["LOCAL_RANK"])
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if cuda:
        torch.cuda.set_device(local)
    torch.distributed.init_process_group(
        backend="nccl" if cuda else "gloo",
        timeout=datetime.timedelta(seconds=timeout_s),
    )
    return current()


def shutdown() -> None:
    """Leave the process group (no-op without one)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def shard_indices(n: int, ctx: DistContext) -> np.ndarray:
    """This rank's share of ``0 .. n-1`` in order, from :class:`DistributedSampler`
    (``shuffle=False``; padded by repeating the first indices so that every rank gets
    ``ceil(n / world_size)``). One process: all of them."""
    if not ctx.active:
        return np.arange(n)
    sampler = torch.utils.data.DistributedSampler(
        range(n), num_replicas=ctx.world_size, rank=ctx.rank, shuffle=False, drop_last=False
    )
    return np.fromiter(iter(sampler), dtype=np.int64, count=len(sampler))


def all_sum(values: Sequence[float], ctx: DistContext) -> list[float]:
    """The sums of ``values`` over all ranks (float64); one process: the values."""
    if not ctx.active:
        return [float(v) for v in values]
    t = torch.tensor([float(v) for v in values], dtype=torch.float64)
    if torch.distributed.get_backend() == "nccl":
        t = t.cuda()
    torch.distributed.all_reduce(t)
    return t.cpu().tolist()


def broadcast_buffers(model: torch.nn.Module, ctx: DistContext) -> None:
    """Give every rank rank 0's buffers (batch-norm running statistics)."""
    if ctx.active:
        for buf in model.buffers():
            torch.distributed.broadcast(buf.data, src=0)


def barrier(ctx: DistContext) -> None:
    """Wait for every rank (no-op for one process)."""
    if ctx.active:
        torch.distributed.barrier()


@contextlib.contextmanager
def main_first(ctx: DistContext) -> Iterator[None]:
    """Rank 0 runs the block first (e.g. filling a feature cache), then the others: they read
    what it wrote instead of computing it again."""
    if not ctx.is_main:
        barrier(ctx)
    yield
    if ctx.is_main:
        barrier(ctx)
