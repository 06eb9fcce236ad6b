"""Pretraining batches from the data layer: crops, segments, sharding and an exactly resumable position.

Path: ``open_audio_source`` (validated ``AudioSet``) -> ``AudioDataset`` (random crops to
``crop_samples``) or ``SegmentDataset`` (utterances concatenated and cut into fixed-length segments)
-> ``LengthBatchSampler`` (batches bounded by total samples, this process's share) -> ``AudioCollator``
(crop to the batch's shortest utterance: no padding, as fairseq pretrains).

``BatchStream`` walks the batches epoch after epoch and knows its position ``(epoch, batch)``;
everything it yields is a pure function of ``(seed, epoch, batch)``, so a run restarted at a
saved position sees the very batches the interrupted run would have seen. Its DataLoader draws
its worker seed from a private generator, never from the global torch RNG that the checkpoint
restores (an iterator that did would shift every later mask and dropout).

Why segments: a tiny model on short utterances (1.5-5 s) cropped to the batch's shortest one
stays at chance (measured: 300+ updates); concatenating utterances into 4 s segments gives every
batch long, equal-length inputs with no padding and no wasted audio, and it learns (docs/pretraining.md).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from wav2vec_hf.data import (
    AudioCollator,
    AudioDataset,
    AudioError,
    AudioSet,
    AudioStream,
    LengthBatchSampler,
    ManifestError,
    SkipReport,
    ValidationRules,
    normalize_waveform,
    open_audio_source,
)
from wav2vec_hf.data.datasets import select_epoch
from wav2vec_hf.data.shared_batches import RingCollator, SharedBatchRing, SlotRef
from wav2vec_hf.data.validation import TOO_SHORT
from wav2vec_hf.pretraining.streaming import ShardBatchStream, StreamBatches

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16_000


class CachedAudioSet(AudioSet):
    """An ``AudioSet`` that keeps every decoded waveform in memory (small corpora: decode once).

    Memory: 4 bytes per sample (a 20-minute corpus takes 77 MB).
    """

    reads_windows = False  # the cache keeps whole utterances: ``AudioDataset`` loads and crops them

    def __init__(self, source: AudioSet) -> None:
        super().__init__(
            source.records, name=source.name, skip_report=source.skip_report, reader=source._reader
        )
        self._cache: dict[tuple, np.ndarray] = {}

    def load(self, index: int, target_rate: int | None = SAMPLE_RATE, **options) -> np.ndarray:
        key = (index, target_rate, tuple(sorted(options.items())))
        if key not in self._cache:
            self._cache[key] = super().load(index, target_rate, **options)
        return self._cache[key]


class SegmentDataset(Dataset):
    """Utterances concatenated (in a seeded order per epoch) and cut into ``segment_samples``-long pieces.

    Each epoch shuffles the utterance order and shifts the cut points by a random offset, so
    segment boundaries fall at different places every epoch. Every segment has exactly
    ``segment_samples`` samples; the count is the same each epoch (``len(self)``).

    Examples are ``{"input_values": float32 (segment_samples,), "id", "transcript": None, "index",
    "epoch"}`` as ``AudioDataset``'s; an utterance that fails to load raises ``AudioError`` (or, with
    ``on_bad="skip"``, the whole segment becomes a skipped example, counted in ``skip_report``).

    Args:
        source: validated utterances.
        segment_samples: segment length at ``target_rate``.
        normalize: zero mean / unit variance per utterance, before concatenation.
        shuffle: shuffle the order and offset per epoch (training); False keeps the source order (validation).
    """

    def __init__(
        self,
        source: AudioSet,
        segment_samples: int,
        *,
        target_rate: int = SAMPLE_RATE,
        normalize: bool = False,
        seed: int = 0,
        shuffle: bool = True,
        on_bad: str = "raise",
    ) -> None:
        if segment_samples < 1:
            raise ValueError(f"segment_samples must be positive, got {segment_samples}")
        self.source = source
        self.segment_samples = int(segment_samples)
        self.target_rate = int(target_rate)
        self.normalize = normalize
        self.seed = int(seed)
        self.shuffle = shuffle
        self.on_bad = on_bad
        self.epoch = 0
        self.skip_report = SkipReport(source=source.name)
        self._utterance_lengths = source.lengths(target_rate)
        total = int(self._utterance_lengths.sum())
        # One segment is kept in reserve for the random offset of the cut points.
        self._count = total // self.segment_samples - (1 if shuffle else 0)
        if self._count < 1:
            raise ValueError(
                f"{source.name}: {total / target_rate:.1f} s of audio is too little for segments of "
                f"{self.segment_samples / target_rate:.1f} s; lower segment_seconds or add audio."
            )
        self._layout_epoch: int | None = None

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order and cut points ``__getitem__`` uses."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self._count

    @property
    def lengths(self) -> np.ndarray:
        """``(len(self),)`` samples per segment (all equal), for ``LengthBatchSampler``."""
        return np.full(self._count, self.segment_samples, dtype=np.int64)

    def _layout(self) -> tuple[np.ndarray, np.ndarray, int]:
        """This epoch's utterance order, the cumulative end of each in the concatenation, the offset."""
        if self._layout_epoch != self.epoch:
            if self.shuffle:
                rng = np.random.default_rng([self.seed & 0xFFFFFFFF, self.epoch, 0x5E6])
                order = rng.permutation(len(self._utterance_lengths))
                offset = int(rng.integers(0, self.segment_samples))
            else:
                order, offset = np.arange(len(self._utterance_lengths)), 0
            self._order, self._ends, self._offset = order, np.cumsum(self._utterance_lengths[order]), offset
            self._layout_epoch = self.epoch
        return self._order, self._ends, self._offset

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        index = select_epoch(self, key)
        order, ends, offset = self._layout()
        start = offset + index * self.segment_samples
        stop = start + self.segment_samples
        first = int(np.searchsorted(ends, start, side="right"))
        pieces = []
        position = first
        self.skip_report.seen += 1
        while sum(len(p) for p in pieces) < self.segment_samples:
            utterance = int(order[position])
            begin = int(ends[position] - self._utterance_lengths[utterance])
            try:
                waveform = self.source.load(utterance, self.target_rate)
            except AudioError as error:
                if self.on_bad == "raise":
                    raise
                self.skip_report.add_error(error)
                return {
                    "id": f"segment-{self.epoch}-{index}",
                    "index": index,
                    "skipped": {"reason": error.reason, "path": error.path, "message": str(error)},
                }
            if self.normalize:
                waveform = normalize_waveform(waveform)
            pieces.append(waveform[max(0, start - begin) : max(0, stop - begin)])
            position += 1
        values = np.concatenate(pieces)[: self.segment_samples].astype(np.float32, copy=False)
        return {
            "input_values": torch.from_numpy(np.ascontiguousarray(values)),
            "id": f"segment-{self.epoch}-{index}",
            "transcript": None,
            "index": index,
            "epoch": self.epoch,
        }


@dataclass
class AudioData:
    """One split ready for batching: the dataset, this process's sampler, the collator, and the skip
    reports of opening it (validation; load-time skips are counted by the loop)."""

    dataset: Dataset
    sampler: LengthBatchSampler
    collator: AudioCollator
    reports: list[SkipReport] = field(default_factory=list)
    num_utterances: int = 0
    seconds: float = 0.0
    loaders: dict = field(default_factory=dict, repr=False)
    """Validation DataLoaders kept for the run (``validation_batches``)."""
    stream: StreamBatches | None = None
    """``--streaming``: the worker-side batches of the shards (``dataset`` and ``sampler`` are None)."""

    def training_batches(
        self, *, num_workers: int = 0, pin_memory: bool = False
    ) -> BatchStream | ShardBatchStream:
        """The resumable batch stream the training loop draws from (``epoch``, ``state_dict``)."""
        if self.stream is not None:
            return ShardBatchStream(self.stream, num_workers=num_workers, pin_memory=pin_memory)
        return BatchStream(
            self.dataset, self.sampler, self.collator, num_workers=num_workers, pin_memory=pin_memory
        )


def open_audio(
    path: str, *, split: str | None, min_samples: int, on_bad: str, name: str, filter_below: int | None = None
) -> tuple[AudioSet, list[SkipReport]]:
    """Open and validate a source; utterances shorter than ``min_samples`` (the model's minimum) are bad
    data (an error, or skipped with ``on_bad="skip"``); those shorter than ``filter_below`` (the
    recipe's ``min_samples``, fairseq's ``min_sample_size``) are dropped and counted, as fairseq does.

    Raises:
        DataValidationError: bad utterances with ``on_bad="raise"`` (all listed, before training).
        ManifestError: a stream (not supported for pretraining yet), a source that lists no
            utterance, or nothing usable left (the counts of what was dropped, and why, inline).
    """
    source = open_audio_source(
        path, rules=ValidationRules(min_samples=min_samples or None), on_bad=on_bad, split=split, name=name
    )
    if isinstance(source, AudioStream):
        raise ManifestError(
            f"{name}: streaming datasets are not supported by the pretraining loop yet (it needs lengths "
            "to batch and an exact data position to resume); save the dataset with save_to_disk, or "
            "write a manifest."
        )
    reports = [source.skip_report]
    if filter_below and filter_below > min_samples:
        lengths = source.lengths(SAMPLE_RATE)
        keep = np.flatnonzero(lengths >= filter_below)
        if len(keep) < len(source):
            filtered = SkipReport(source=f"{name} (min_samples={filter_below})", seen=len(source))
            for index in np.flatnonzero(lengths < filter_below):  # every one: OUTPUT_DIR/bad_files.tsv
                record = source[int(index)]
                filtered.add(
                    TOO_SHORT, record.path, f"{record.path}: {lengths[index]} samples < {filter_below}"
                )
            reports.append(filtered)
            source = source.subset(keep.tolist())
    if len(source) == 0:
        raise ManifestError(_nothing_usable(name, path, reports))
    return source, reports


def _nothing_usable(name: str, path: str, reports: list[SkipReport]) -> str:
    """One line: why ``path`` gave no utterance (empty, or what was dropped and the fix)."""
    if not any(report.seen or report.failed_count for report in reports):
        return (
            f"{name}: {path} lists no utterances; add audio rows (a fairseq manifest is its root folder "
            "line, then one 'relative_path<TAB>num_samples' row per file) or give another data source"
        )
    dropped = "; ".join(
        f"{report.source or name}: {', '.join(f'{count} {reason}' for reason, count in report.counts.items())}"
        for report in reports
        if report.failed_count
    )
    return (
        f"{name}: no usable utterance left in {path} ({dropped}); fix or replace those files, or lower "
        "--min_samples if they are only short"
    )


def build_audio_data(
    path: str,
    *,
    split: str | None,
    recipe,
    min_samples: int,
    seed: int,
    on_bad: str,
    num_replicas: int,
    rank: int,
    training: bool,
    cache_audio: bool = False,
    num_buckets: int | None = None,
    name: str = "train",
    streaming: bool = False,
    shuffle_buffer: int = 1000,
) -> AudioData:
    """The dataset, sampler and collator of one split under a recipe (``PretrainingRecipe``).

    Training: random crops / shuffled segments, shuffled batches. Validation (``training=False``):
    leading crops, segments in source order, batches in a fixed order. ``streaming``: ``path`` is a
    folder (or glob) of shards read as a stream (``pretraining.streaming``; training only).
    """
    if streaming:
        return _streamed_data(
            path, recipe=recipe, min_samples=min_samples, seed=seed, on_bad=on_bad, num_replicas=num_replicas,
            rank=rank, training=training, shuffle_buffer=shuffle_buffer, name=name,
        )  # fmt: skip
    segments = recipe.segment_seconds is not None
    source, reports = open_audio(
        path,
        split=split,
        min_samples=0 if segments else min_samples,
        on_bad=on_bad,
        name=name,
        filter_below=None if segments else recipe.min_samples,
    )
    if cache_audio:
        source = CachedAudioSet(source)
    if segments:
        segment_samples = round(recipe.segment_seconds * SAMPLE_RATE)
        if segment_samples < min_samples:
            raise ValueError(
                f"segment_seconds={recipe.segment_seconds} gives {segment_samples} samples, fewer than the "
                f"model needs ({min_samples}); raise segment_seconds."
            )
        dataset = SegmentDataset(
            source, segment_samples, normalize=recipe.normalize, seed=seed, shuffle=training, on_bad=on_bad
        )
    else:
        dataset = AudioDataset(
            source,
            normalize=recipe.normalize,
            crop_samples=recipe.crop_samples,
            random_crop=training,
            seed=seed,
            on_bad=on_bad,
        )
    lengths = dataset.lengths
    max_batch_samples = recipe.max_batch_samples
    if int(lengths.max()) > max_batch_samples:
        raise ValueError(
            f"{name}: the longest input has {int(lengths.max())} samples, more than max_batch_samples="
            f"{max_batch_samples}; raise --max_batch_samples or set --crop_samples."
        )
    sampler = LengthBatchSampler(
        lengths,
        max_batch_samples,
        max_batch_size=recipe.max_batch_size,
        num_buckets=num_buckets,
        shuffle=training,
        seed=seed,
        num_replicas=num_replicas,
        rank=rank,
    )
    # No attention mask: the task builds one from "lengths" for the rare padded batch (see to_device).
    collator = AudioCollator(crop_to_shortest=recipe.crop_to_shortest, seed=seed, return_attention_mask=False)
    return AudioData(
        dataset=dataset,
        sampler=sampler,
        collator=collator,
        # Load-time skips reach the loop in batch["skipped"] (also from worker processes) and are
        # counted there; the dataset's own report would count them a second time.
        reports=reports,
        num_utterances=len(source),
        seconds=source.total_seconds,
    )


def _streamed_data(
    path: str, *, recipe, min_samples, seed, on_bad, num_replicas, rank, training, shuffle_buffer, name
) -> AudioData:
    """``AudioData`` of a stream of shards: this rank's part, its shard order reshuffled every epoch."""
    from wav2vec_hf.data.shards import open_shards

    if not training:
        raise ManifestError(f"{name}: --streaming reads the training data only; give --valid as a manifest")
    if recipe.segment_seconds is not None:
        raise ManifestError(
            f"{name}: the recipe joins utterances into {recipe.segment_seconds} s segments, which needs a "
            "manifest; with --streaming pass --segment_seconds 0 (utterances cropped to --crop_samples)"
        )
    stream = open_shards(path, name=name)
    # Shard order per epoch (seed + epoch, ``set_epoch``); a one-example buffer keeps rows in order:
    # the seeded shuffle buffer is the batches' own (exactly resumable).
    ordered = AudioStream(
        stream.dataset.shuffle(seed=seed, buffer_size=1), stream.columns, root=stream.root, name=name
    )
    collator = AudioCollator(crop_to_shortest=recipe.crop_to_shortest, seed=seed, return_attention_mask=False)
    batches = StreamBatches(
        ordered.for_rank(rank, num_replicas),
        collator,
        max_batch_samples=recipe.max_batch_samples,
        max_batch_size=recipe.max_batch_size,
        crop_samples=recipe.crop_samples,
        min_samples=min_samples,
        filter_below=recipe.min_samples,
        normalize=recipe.normalize,
        shuffle_buffer=shuffle_buffer,
        seed=seed,
        rank=rank,
        on_bad=on_bad,
    )
    return AudioData(dataset=None, sampler=None, collator=collator, stream=batches)


def waveform_inputs(batch: dict, device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(input_values, attention_mask)`` of an ``AudioCollator`` batch on ``device``.

    ``input_values``: float32 ``(batch, samples)``. ``attention_mask``: int64 ``(batch, samples)``, 1 on
    real samples, built from ``lengths`` only for a batch with padding (``crop_to_shortest`` off);
    ``None`` otherwise. The collator builds none: most batches have no padding, and moving an int64
    mask from a worker process cost two thirds of the batch's shared-memory copy.
    """
    values, lengths = batch["input_values"], batch["lengths"]
    width = values.shape[1]
    attention_mask = None
    if len(lengths) > 0 and int(lengths.min()) < width:
        attention_mask = (torch.arange(width)[None, :] < lengths[:, None]).to(torch.int64)
        attention_mask = attention_mask.to(device, non_blocking=True)
    return values.to(device, non_blocking=True), attention_mask


def loader_workers(requested: int | None, device: torch.device) -> int:
    """DataLoader workers per process: ``requested``, else 0 on CPU (the model needs the cores) and,
    on a GPU, the CPU cores this process may use, shared with the other local processes, minus one
    (the process itself), at most 8 (at least 1: decoding in line stalls the GPU between updates)."""
    if requested is not None:
        return int(requested)
    if device.type != "cuda":
        return 0
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    local_processes = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(1, min(8, cpus // local_processes - 1))


class EpochBatches:
    """The batch sampler of ``BatchStream``: this process's batches epoch after epoch, from a position.

    Each batch is a list of ``(epoch, index)`` keys (``select_epoch``), so the datasets crop and cut
    for the batch's own epoch in whichever process loads it. Infinite; ``sampler.batches(epoch)``
    is a pure function of the epoch, so running ahead (prefetching workers) changes nothing.
    """

    def __init__(self, sampler, epoch: int, position: int) -> None:
        self.sampler, self.epoch, self.position = sampler, int(epoch), int(position)
        self.lengths: dict[int, int] = {}
        """Batches of each epoch planned so far (the consumer's epoch boundaries; no second plan)."""

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        epoch, position = self.epoch, self.position
        while True:
            batches = self.sampler.batches(epoch)
            self.lengths[epoch] = len(batches)
            if not batches:
                raise ValueError(
                    "the training data gives no batch for this process; add data or use fewer processes."
                )
            for batch in batches[position:]:
                yield [(epoch, int(index)) for index in batch]
            epoch, position = epoch + 1, 0


class BatchStream:
    """Batches epoch after epoch from a resumable position ``(epoch, position)``.

    One DataLoader serves the whole run: its worker processes are started once and kept
    (``persistent_workers``; a per-epoch loader forked them again every epoch, and ``--cache_audio``
    then cached nothing), its batch sampler (``EpochBatches``) crosses epochs, and every request
    carries its epoch. The position counts the batches handed out, as before: a run restarted at a
    saved position sees the very batches the interrupted run would have seen.

    Args:
        dataset: accepts ``(epoch, index)`` keys (``select_epoch``).
        sampler: has ``batches(epoch)`` (this process's batches of that epoch).
        collator: turns a list of examples into a batch.
        num_workers: DataLoader workers (0: load in this process).
        epoch, position: where to start: batch ``position`` of epoch ``epoch``.
        pin_memory: page-locked batches (for a CUDA device: faster, asynchronous copies).
        prefetch_factor: batches each worker prepares ahead (with workers).
    """

    def __init__(
        self,
        dataset,
        sampler,
        collator,
        *,
        num_workers: int = 0,
        epoch: int = 0,
        position: int = 0,
        pin_memory: bool = False,
        prefetch_factor: int = 4,
    ):
        self.dataset = dataset
        self.sampler = sampler
        self.collator = collator
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.prefetch_factor = prefetch_factor
        self.epoch = int(epoch)
        self.position = int(position)
        self._epoch_batches: EpochBatches | None = None

    def state_dict(self) -> dict:
        """The position of the next batch."""
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        if "position" not in state:
            raise ValueError("the checkpoint was written by a --streaming run; resume it with --streaming")
        self.epoch, self.position = int(state["epoch"]), int(state["position"])

    def _batches_in(self, epoch: int) -> int:
        """Batches of ``epoch``: the batch sampler planned it before handing out any of its batches."""
        lengths = self._epoch_batches.lengths
        if epoch not in lengths:
            lengths[epoch] = len(self.sampler.batches(epoch))
        return lengths[epoch]

    def __iter__(self) -> Iterator[dict]:
        self._epoch_batches = EpochBatches(self.sampler, self.epoch, self.position)
        loader = AudioLoader(
            self.dataset,
            self._epoch_batches,
            self.collator,
            max_batch_samples=getattr(self.sampler, "max_batch_samples", None),
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            prefetch_factor=self.prefetch_factor,
            seed=self.epoch,
        )
        for batch in loader:
            while self.position >= self._batches_in(self.epoch):  # the epoch ended: this batch opens the next
                self.epoch += 1
                self.position = 0
            self.position += 1
            yield batch


class AudioLoader:
    """The DataLoader of a map-style split, built one way for training (``BatchStream``) and
    validation (``validation_batches``).

    With workers: the workers persist across epochs and evaluations, prepare ``prefetch_factor``
    batches ahead, and build each batch's audio in a reused shared buffer (``data.shared_batches``)
    where that applies; iterating copies the audio out (into page-locked memory with ``pin_memory``)
    before the next batch is requested. The buffers are not used (each batch then gets new shared
    memory, as torch's DataLoader does by default) without a bound on a batch's samples
    (``max_batch_samples``), with another collator than ``AudioCollator`` (one that passed the
    examples' rows on as they are would hand out views of buffers that get rewritten), or when they
    would take over half of the free shared memory.

    Without workers or page-locking, batches are made in this process by the DataLoader's own steps
    (the dataset's batched fetch, then the collator) called directly: the DataLoader's per-batch
    machinery cost ~1.5 ms per batch, ~7% of reading a batch of 16 kHz WAV crops.

    (The ``--streaming`` reader, ``streaming.ShardBatchStream``, builds its own DataLoader: it holds
    batches back to restore the workers' turn, so a worker may run further ahead than the buffers allow.)

    Args:
        dataset: the split's dataset (``(epoch, index)`` keys).
        batch_sampler: lists of keys, one per batch.
        collator: turns a list of examples into a batch.
        max_batch_samples: bound on a batch's samples (the sampler's), or ``None``.
        num_workers, pin_memory, prefetch_factor: as for ``BatchStream``.
        seed: of the DataLoader's private generator (iterating must not draw from the global RNG that
            checkpoints restore).
    """

    def __init__(
        self,
        dataset,
        batch_sampler,
        collator,
        *,
        max_batch_samples: int | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
        prefetch_factor: int = 4,
        seed: int = 0,
    ) -> None:
        workers = num_workers > 0
        self.pin_memory = pin_memory
        self.in_process = not workers and not pin_memory
        self.dataset, self.batch_sampler, self.collator = dataset, batch_sampler, collator
        self.ring = _batch_ring(collator, max_batch_samples, num_workers, prefetch_factor)
        self.loader = None  # in this process: no DataLoader at all
        if not self.in_process:
            self.loader = DataLoader(
                dataset,
                batch_sampler=batch_sampler,
                collate_fn=collator if self.ring is None else RingCollator(collator, self.ring),
                num_workers=num_workers,
                pin_memory=pin_memory,
                persistent_workers=workers,
                prefetch_factor=prefetch_factor if workers else None,
                worker_init_fn=None if self.ring is None else self.ring.install,
                generator=torch.Generator().manual_seed(seed),
            )

    def __iter__(self) -> Iterator:
        if self.in_process:
            fetch = getattr(self.dataset, "__getitems__", None)
            for keys in self.batch_sampler:
                yield self.collator(fetch(keys) if fetch else [self.dataset[key] for key in keys])
            return
        for batch in self.loader:
            if isinstance(batch, dict) and isinstance(batch.get("input_values"), SlotRef):
                batch = self.ring.restore(batch, pin_memory=self.pin_memory)  # before the next request
            yield batch


def _batch_ring(
    collator, max_batch_samples: int | None, num_workers: int, prefetch_factor: int
) -> SharedBatchRing | None:
    """Reused shared batch buffers for ``num_workers`` workers, or ``None`` (see ``AudioLoader``)."""
    if num_workers < 1 or not max_batch_samples or not isinstance(collator, AudioCollator):
        return None
    slots = prefetch_factor + 2
    if not SharedBatchRing.fits_in_shared_memory(num_workers, slots, max_batch_samples):
        logger.info(
            "batch buffers: %.0f MB of shared memory would be over half of what is free; "
            "allocating per batch instead",
            SharedBatchRing.nbytes(num_workers, slots, max_batch_samples) / 2**20,
        )
        return None
    return SharedBatchRing(num_workers, slots, max_batch_samples)


def validation_batches(
    data: AudioData, max_batches: int | None = None, num_workers: int = 0, pin_memory: bool = False
) -> Iterator[dict]:
    """This process's validation batches (fixed order, epoch 0).

    The loader (``AudioLoader``) is made once per ``(max_batches, num_workers, pin_memory)`` and kept
    on ``data``: with workers, the same (persistent) worker processes and batch buffers serve every
    evaluation of the run.
    """
    key = (max_batches, num_workers, pin_memory)
    loader = data.loaders.get(key)
    if loader is None:
        batches = data.sampler.batches(0)
        if max_batches is not None:
            batches = batches[:max_batches]
        loader = AudioLoader(
            data.dataset,
            [[(0, int(index)) for index in batch] for batch in batches],
            data.collator,
            max_batch_samples=getattr(data.sampler, "max_batch_samples", None),
            num_workers=num_workers,
            pin_memory=pin_memory,
        )
        data.loaders[key] = loader
    yield from loader


__all__ = [
    "AudioData",
    "AudioLoader",
    "BatchStream",
    "CachedAudioSet",
    "EpochBatches",
    "SegmentDataset",
    "build_audio_data",
    "loader_workers",
    "open_audio",
    "validation_batches",
    "waveform_inputs",
]
