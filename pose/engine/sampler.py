"""The training order: one permutation per (seed, epoch), split across processes.

Every process draws the same permutation from a generator seeded by (seed, epoch), pads it to a
multiple of the world size as DistributedSampler does, and takes every world-th index from its
rank on. The union of the ranks' t-th batches is then exactly the t-th batch of a single process
training on the total batch, which is what makes multi-GPU training equal to the papers' total
batch. Indices come out as (epoch, index) pairs, so the dataset draws the augmentation of that
epoch even in persistent workers, and a resumed run can skip the batches it has already done.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


def epoch_permutation(num_samples: int, seed: int, epoch: int) -> list[int]:
    """The single-process order of epoch `epoch` (a torch.randperm of the (seed, epoch) stream)."""
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(num_samples, generator=generator).tolist()


class EpochSampler(Sampler[tuple[int, int]]):
    """(epoch, index) pairs of this rank's share of the epoch, from batch `start_batch` on."""

    def __init__(self, num_samples: int, seed: int, batch_size: int, rank: int = 0,
                 world_size: int = 1):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in a world of {world_size}")
        self.num_samples = num_samples
        self.seed = seed
        self.batch_size = batch_size  # per process: skipping counts in these batches
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.start_batch = 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch = int(epoch)
        self.start_batch = int(start_batch)

    def rank_indices(self) -> list[int]:
        order = epoch_permutation(self.num_samples, self.seed, self.epoch)
        padded = -len(order) % self.world_size
        order += order[:padded]
        return order[self.rank::self.world_size]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        indices = self.rank_indices()[self.start_batch * self.batch_size:]
        return iter([(self.epoch, index) for index in indices])

    def __len__(self) -> int:
        share = -(-self.num_samples // self.world_size)
        return max(share - self.start_batch * self.batch_size, 0)

    def batches_per_epoch(self) -> int:
        share = -(-self.num_samples // self.world_size)
        return -(-share // self.batch_size)
