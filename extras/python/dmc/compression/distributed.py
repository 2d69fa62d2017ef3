"""Data-parallel training: ``fit`` under ``torchrun --nproc-per-node N`` (DistributedDataParallel).

Started by torchrun (``WORLD_SIZE`` > 1 in the environment), ``fit`` joins the process group
(gloo on CPU, nccl on GPU), wraps the model in DistributedDataParallel and gives each rank its
share of every global batch through a DistributedSampler (a loader of global batch B becomes
batches of B / N per rank, so the samples of each step are the same as in one process with
batch B). Activation observers reduce their batch min/max across ranks, so observed ranges stay
identical on every rank; learned ranges are parameters and DDP averages their gradients.
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from ..errors import DataError


def init_from_env() -> bool:
    """Join the process group torchrun describes; True when more than one process trains."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size() > 1
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or not dist.is_available():
        return False
    dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_world_size() > 1


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def shard(loader, epoch_seed: int = 0):
    """The loader each rank trains on: the same dataset, a DistributedSampler (shuffled when the
    loader was) and batch size / world size."""
    if not isinstance(loader, DataLoader):
        raise DataError("distributed training needs a torch DataLoader (its dataset is sharded across ranks)")
    world = dist.get_world_size()
    if loader.batch_size is None or loader.batch_size % world:
        raise DataError(f"the global batch size {loader.batch_size} must be a multiple of the {world} processes")
    old = loader.sampler
    if isinstance(old, DistributedSampler):
        shuffle, seed = old.shuffle, old.seed
    else:
        shuffle, seed = isinstance(old, RandomSampler), epoch_seed
    sampler = DistributedSampler(loader.dataset, num_replicas=world, rank=dist.get_rank(), shuffle=shuffle,
                                 seed=seed, drop_last=loader.drop_last)
    return DataLoader(loader.dataset, batch_size=loader.batch_size // world, sampler=sampler,
                      num_workers=loader.num_workers, collate_fn=loader.collate_fn, drop_last=loader.drop_last)


def set_epoch(loader, epoch: int) -> None:
    """Reshuffle a distributed sampler for ``epoch`` (a no-op for other samplers)."""
    sampler = getattr(loader, "sampler", None)
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(epoch)


def reduce_range(lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The min and max over every rank's batch (identity in one process)."""
    if not active():
        return lo, hi
    both = torch.stack([-lo, hi]).float()
    dist.all_reduce(both, op=dist.ReduceOp.MAX)
    return -both[0], both[1]


def wrap(model: torch.nn.Module) -> torch.nn.Module:
    from torch.nn.parallel import DistributedDataParallel
    return DistributedDataParallel(model)
