"""Length-aware batching: batches bounded by total padded audio samples, like fairseq's ``max_tokens``.

``LengthBatchSampler(lengths, max_batch_samples)`` yields lists of dataset indices such that
``len(batch) * max(lengths[batch]) <= max_batch_samples``: the padded ``(batch, samples)`` tensor
never holds more than ``max_batch_samples`` values. ``lengths`` are the model-rate lengths after
any cropping (``AudioDataset.lengths`` gives exactly that).

Grouping (``num_buckets``):

* ``None`` (default, fairseq's way): sort all utterances by length, longest first, ties broken by
  a seeded shuffle, and cut the sorted list greedily. Least padding. Batch sizes depend only on the
  sorted lengths, so the number of batches is the same every epoch; the contents change only
  among equal lengths (which is most of the data once crops make many utterances the same length).
* ``k``: ``k`` quantile buckets of length; each bucket is reshuffled every epoch and cut into
  batches whose size is fixed by the bucket's longest utterance. More variety between epochs, a
  little more padding, still a fixed number of batches.

With ``shuffle=True`` the batch order is shuffled; everything is a function of ``(seed, epoch)``.

Sharding (``num_replicas``, ``rank``): every process builds the same global list of batches and
takes every ``num_replicas``-th one, starting at ``rank``, so ranks see disjoint batches (up to
the padding below). The tail (``B`` batches, ``B`` not a multiple of ``num_replicas``):

* ``drop_last=False`` (default): the list is padded by repeating batches from its start (a few
  utterances are seen twice in that epoch), so every rank gets ``ceil(B / num_replicas)``;
* ``drop_last=True``: the last ``B mod num_replicas`` batches of the shuffled order are dropped
  (different ones each epoch), so every rank gets ``floor(B / num_replicas)``.

Under Accelerate: build the sampler with ``num_replicas=accelerator.num_processes`` and
``rank=accelerator.process_index``, and do NOT pass its DataLoader through ``accelerator.prepare``
(move each batch to ``accelerator.device`` yourself). ``prepare`` would re-shard it with its
``BatchSamplerShard``, which only accepts batches of varying size with ``even_batches=False``,
and then ranks can get different batch counts (a DDP hang at the end of the epoch). Call
``set_epoch(epoch)`` on the sampler every epoch.

``crop_offset`` gives the deterministic random-crop start used by ``AudioDataset`` and
``AudioCollator``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler

_MASK64 = (1 << 64) - 1


def _mix64(value: int) -> int:
    """splitmix64's output function (Steele et al. 2014) of ``value`` plus its increment: a 64-bit
    hash whose bits are all mixed by every input bit."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return value ^ (value >> 31)


def crop_offset(num_samples: int, crop_samples: int, *, seed: int, epoch: int, index: int) -> int:
    """Start of a ``crop_samples``-long window in an utterance of ``num_samples``: uniform over
    ``[0, num_samples - crop_samples]`` and a pure function of ``(seed, epoch, index)``.

    A counter-based draw (one 64-bit hash of the three, scaled to the range by a multiply and shift,
    bias below 2**-40 for any crop room under 2**24 samples): a few microseconds, where seeding a
    numpy generator per crop cost ~0.1 ms, ~7% of reading a 16 kHz WAV crop.
    """
    room = int(num_samples) - int(crop_samples)
    if room <= 0:
        return 0
    key = _mix64(_mix64(_mix64(int(seed) & _MASK64) ^ (int(epoch) & _MASK64)) ^ (int(index) & _MASK64))
    return (key * (room + 1)) >> 64


class LengthBatchSampler(Sampler[list[int]]):
    """Batches of indices bounded by padded total samples, bucketed by length, shardable.

    Args:
        lengths: ``(N,)`` samples per utterance at the model's rate, after cropping.
        max_batch_samples: bound on ``batch_size * longest_in_batch`` (fairseq's ``max_tokens``;
            e.g. 1.4M for wav2vec 2.0 BASE on a V100).
        max_batch_size: optional cap on utterances per batch.
        num_buckets: ``None`` for fairseq's sorted packing, or the number of length buckets.
        shuffle: shuffle tie order / bucket contents and the batch order per epoch.
        seed: base seed; with ``set_epoch`` it fixes everything.
        num_replicas, rank: process count and this process's index (Accelerate / DDP).
        drop_last: tail handling across replicas (see the module docstring).

    Raises:
        ValueError: an utterance alone exceeds ``max_batch_samples`` (names its index and the fix).
    """

    def __init__(
        self,
        lengths: Sequence[int] | np.ndarray,
        max_batch_samples: int,
        *,
        max_batch_size: int | None = None,
        num_buckets: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
        drop_last: bool = False,
    ) -> None:
        self.lengths = np.asarray(lengths, dtype=np.int64)
        if self.lengths.ndim != 1:
            raise ValueError(f"lengths must be 1-D, got shape {self.lengths.shape}")
        if max_batch_samples <= 0:
            raise ValueError(f"max_batch_samples must be positive, got {max_batch_samples}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in [0, {num_replicas}), got {rank}")
        if num_buckets is not None and num_buckets < 1:
            raise ValueError(f"num_buckets must be None or >= 1, got {num_buckets}")
        too_long = np.flatnonzero(self.lengths > max_batch_samples)
        if too_long.size:
            first = int(too_long[0])
            raise ValueError(
                f"{too_long.size} utterance(s) are longer than max_batch_samples={max_batch_samples} on their "
                f"own (e.g. index {first}: {int(self.lengths[first])} samples); raise max_batch_samples, crop "
                "them (crop_samples), or filter them out (ValidationRules(max_samples=...))."
            )
        self.max_batch_samples = int(max_batch_samples)
        self.max_batch_size = max_batch_size
        self.num_buckets = num_buckets
        self.shuffle = shuffle
        self.seed = int(seed)
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.drop_last = drop_last
        self.epoch = 0
        self._num_global_batches = len(self._global_batches(0))

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order ``__iter__`` yields (call before every epoch)."""
        self.epoch = int(epoch)

    def _size_for(self, longest: int) -> int:
        size = max(1, self.max_batch_samples // max(1, int(longest)))
        return min(size, self.max_batch_size) if self.max_batch_size else size

    def _cut(self, order: np.ndarray, longest: int | None = None) -> list[list[int]]:
        """Greedy batches over ``order`` (sorted longest first unless ``longest`` fixes the size)."""
        batches, start = [], 0
        while start < len(order):
            size = self._size_for(longest if longest is not None else self.lengths[order[start]])
            batches.append(order[start : start + size].tolist())
            start += size
        return batches

    def _global_batches(self, epoch: int) -> list[list[int]]:
        rng = np.random.default_rng([self.seed & 0xFFFFFFFF, int(epoch)])
        count = len(self.lengths)
        shuffled = rng.permutation(count) if self.shuffle else np.arange(count)
        if self.num_buckets is None:
            order = shuffled[np.argsort(-self.lengths[shuffled], kind="stable")]
            batches = self._cut(order)
        else:
            edges = np.unique(np.quantile(self.lengths, np.linspace(0, 1, self.num_buckets + 1)[1:-1]))
            bucket_of = np.searchsorted(edges, self.lengths, side="left")
            batches = []
            for bucket in np.unique(bucket_of):
                members = shuffled[bucket_of[shuffled] == bucket]
                if not self.shuffle:
                    members = members[np.argsort(-self.lengths[members], kind="stable")]
                batches.extend(self._cut(members, longest=int(self.lengths[members].max())))
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def batches(self, epoch: int | None = None) -> list[list[int]]:
        """This rank's batches for ``epoch`` (default: the current one), tail handled."""
        batches = self._global_batches(self.epoch if epoch is None else epoch)
        total = len(batches)
        if self.num_replicas > 1 and total % self.num_replicas:
            if self.drop_last:
                batches = batches[: total - total % self.num_replicas]
            else:
                extra = self.num_replicas - total % self.num_replicas
                batches = batches + [batches[i % total] for i in range(extra)]
        return batches[self.rank :: self.num_replicas]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches())

    def __len__(self) -> int:
        total = self._num_global_batches
        if self.num_replicas == 1:
            return total
        return total // self.num_replicas if self.drop_last else math.ceil(total / self.num_replicas)
