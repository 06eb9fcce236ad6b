"""Pretraining batches from a stream of shards (``--streaming``), resumable at the exact batch.

A corpus of millions of files is not listed, validated and length-sorted up front: its shards
(``data.shards``: Parquet / Arrow files, a ``datasets`` streaming ``IterableDataset``) are read as
they come. The data path, per process:

    shards --split_dataset_by_node--> this rank's part --per-epoch shard order (seed, epoch)-->
    DataLoader worker w reads shards w, w + K, ... --shuffle buffer (seeded)--> header check
    (same rules and ``--on_bad`` policy as a manifest; a skip is counted, never silent) -->
    batches of at most ``max_batch_samples`` (batch x longest crop) --> decode, crop, normalise

Every step is a pure function of ``(seed, epoch, rank, worker)`` and the shards' contents, and each
worker's batches are tagged with the worker and merged in a fixed turn (worker 0, 1, ..., K-1,
0, ...; a worker that has ended leaves the turn). The stream position is therefore
``(epoch, batches taken from each worker, whose turn it is)``: a resumed run replays each worker's
rows up to its position, reading headers only (no audio is decoded for skipped batches), and the
next batch is the one the interrupted run would have trained on. Resuming needs the same number
of processes and of DataLoader workers (``--num_workers``); it is refused otherwise.

Batch membership depends on headers only, so a file whose header is fine but whose audio does not
decode is dropped from its batch (counted, ``--on_bad skip``) without moving any later batch.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from wav2vec_hf.data import AudioCollator, AudioError
from wav2vec_hf.data.audio import load_payload, normalize_waveform, payload_info, resampled_length
from wav2vec_hf.data.batching import crop_offset
from wav2vec_hf.data.sources import AudioStream
from wav2vec_hf.data.validation import TOO_SHORT, ValidationRules, check_on_bad, entry_error

SAMPLE_RATE = 16_000


class StreamBatches(IterableDataset):
    """One process's batches of one epoch of a stream; run inside each DataLoader worker.

    Yields ``{"worker", "batch"}`` items (``batch`` as ``AudioCollator`` makes it, with the header
    skips of its rows in ``batch["skipped"]``) and, last, ``{"worker", "end": True}``.

    Args:
        stream: this process's part of the shards (``AudioStream.for_rank``).
        collator: turns examples into a batch.
        max_batch_samples: batch size x longest (cropped) input, at most.
        max_batch_size: examples per batch, at most (``None``: no limit).
        crop_samples: random crop (deterministic per example) to at most this many samples.
        min_samples: the model's shortest input: shorter ones are bad data (``on_bad``).
        filter_below: the recipe's ``min_samples`` (fairseq's ``min_sample_size``): shorter inputs
            are dropped and counted, whatever ``on_bad`` says (as for a manifest).
        normalize: zero mean / unit variance per (cropped) utterance.
        shuffle_buffer: examples held for shuffling (0 or 1: stream order).
        seed, rank: with the epoch and the worker, the seed of every random choice.
        on_bad: ``"raise"`` or ``"skip"`` (counted in the batches' ``skipped``).
    """

    def __init__(
        self,
        stream: AudioStream,
        collator: AudioCollator,
        *,
        max_batch_samples: int,
        max_batch_size: int | None = None,
        crop_samples: int | None = None,
        min_samples: int = 0,
        filter_below: int | None = None,
        normalize: bool = False,
        shuffle_buffer: int = 1000,
        seed: int = 0,
        rank: int = 0,
        on_bad: str = "raise",
    ) -> None:
        self.stream = stream
        self.collator = collator
        self.max_batch_samples = int(max_batch_samples)
        self.max_batch_size = max_batch_size
        self.crop_samples = crop_samples
        self.rules = ValidationRules(target_rate=SAMPLE_RATE, min_samples=min_samples or None)
        self.filter_below = filter_below or 0
        self.normalize = normalize
        self.shuffle_buffer = max(1, int(shuffle_buffer))
        self.seed, self.rank = int(seed), int(rank)
        self.on_bad = check_on_bad(on_bad)
        self.epoch = 0
        self.skip_batches: list[int] = []  # per worker: batches already trained on (resume)

    # -- the worker's rows, in its shuffled order -------------------------------------------------

    def _rows(self, worker: int) -> Iterator[tuple]:
        """``(entry, payload or AudioError)`` of this worker's shards, through the shuffle buffer."""
        rng = np.random.default_rng([self.seed & 0xFFFFFFFF, self.epoch, self.rank, worker, 0x5B])
        buffer: list = []
        for row in self.stream:
            if len(buffer) < self.shuffle_buffer:
                buffer.append(row)
                continue
            pick = int(rng.integers(len(buffer)))
            buffer[pick], row = row, buffer[pick]
            yield row
        for pick in rng.permutation(len(buffer)).tolist():
            yield buffer[pick]

    def _checked(self, worker: int) -> Iterator[tuple]:
        """``(ordinal, entry, payload, samples, error)``: each row with its length at 16 kHz, or its
        header / rule error (``samples`` 0)."""
        for ordinal, (entry, payload) in enumerate(self._rows(worker)):
            try:
                if isinstance(payload, AudioError):
                    raise payload
                info = payload_info(payload, name=entry.path)
                problem = entry_error(entry, info, self.rules)
                if problem is not None:
                    raise problem
            except AudioError as error:
                if self.on_bad == "raise":
                    raise
                yield ordinal, entry, None, 0, error
                continue
            samples = resampled_length(info.frames, info.sample_rate, SAMPLE_RATE)
            if samples < self.filter_below:
                yield (
                    ordinal,
                    entry,
                    None,
                    0,
                    AudioError(
                        entry.path, TOO_SHORT, f"{samples} samples < {self.filter_below} (--min_samples)"
                    ),
                )
                continue
            yield ordinal, entry, payload, samples, None

    def _plans(self, worker: int) -> Iterator[tuple[list, list]]:
        """``(members, header errors)`` of each batch, from headers only."""
        members: list = []
        errors: list = []
        longest = 0
        for ordinal, entry, payload, samples, error in self._checked(worker):
            if error is not None:
                errors.append(error)
                continue
            crop = min(samples, self.crop_samples) if self.crop_samples else samples
            if crop > self.max_batch_samples:
                raise ValueError(
                    f"{entry.path}: {crop} samples, more than max_batch_samples={self.max_batch_samples}; "
                    "raise --max_batch_samples or set --crop_samples"
                )
            full = self.max_batch_size is not None and len(members) >= self.max_batch_size
            if members and (full or (len(members) + 1) * max(longest, crop) > self.max_batch_samples):
                yield members, errors
                members, errors, longest = [], [], 0
            members.append((ordinal, entry, payload, samples))
            longest = max(longest, crop)
        if members or errors:
            yield members, errors

    # -- decoding one planned batch ---------------------------------------------------------------

    def _example(self, worker: int, ordinal: int, entry, payload, samples: int) -> dict:
        index = (ordinal << 20) | (self.rank << 8) | worker  # unique per process, worker and row
        try:
            waveform = load_payload(payload, SAMPLE_RATE, name=entry.path)
        except AudioError as error:
            if self.on_bad == "raise":
                raise
            return {"id": entry.id, "index": index, "skipped": _skip(error)}
        if self.crop_samples and len(waveform) > self.crop_samples:
            start = crop_offset(
                len(waveform), self.crop_samples, seed=self.seed, epoch=self.epoch, index=index
            )
            waveform = waveform[start : start + self.crop_samples]
        if self.normalize:
            waveform = normalize_waveform(waveform)
        return {
            "input_values": torch.from_numpy(np.ascontiguousarray(waveform, dtype=np.float32)),
            "id": entry.id,
            "transcript": entry.transcript,
            "index": index,
            "epoch": self.epoch,
        }

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        worker = info.id if info is not None else 0
        skip = self.skip_batches[worker] if worker < len(self.skip_batches) else 0
        for number, (members, errors) in enumerate(self._plans(worker)):
            if number < skip:
                continue  # trained on before the resume: planned from headers, never decoded
            examples = [self._example(worker, *member) for member in members]
            examples += [{"id": e.path, "index": -1, "skipped": _skip(e)} for e in errors]
            yield {"worker": worker, "batch": self.collator(examples)}
        yield {"worker": worker, "end": True}


def _skip(error: AudioError) -> dict:
    return {"reason": error.reason, "path": error.path, "message": str(error)}


class ShardBatchStream:
    """Batches epoch after epoch from a stream, in a fixed worker turn; the training loop's
    ``BatchStream`` for ``--streaming`` (same ``epoch``, ``state_dict``, ``load_state_dict``).

    Its DataLoader is its own, not ``pretraining.data.AudioLoader``: batches wait here until their
    worker's turn, so a worker can be more than ``prefetch_factor`` batches ahead of what has been
    handed out, and reused batch buffers (``data.shared_batches``) could be rewritten while waiting.

    Args:
        batches: the worker-side ``StreamBatches``.
        num_workers: DataLoader workers (0: read in this process, as one worker).
        pin_memory, prefetch_factor: as for ``BatchStream``.
    """

    def __init__(
        self,
        batches: StreamBatches,
        *,
        num_workers: int = 0,
        pin_memory: bool = False,
        prefetch_factor: int = 4,
    ):
        self.batches = batches
        self.num_workers = int(num_workers)
        self.pin_memory = pin_memory
        self.prefetch_factor = prefetch_factor
        self.epoch = 0
        self.taken = [0] * self.workers
        self.turn = 0
        self.ended = [False] * self.workers

    @property
    def workers(self) -> int:
        """Batch producers: the DataLoader's workers, or this process alone."""
        return max(1, self.num_workers)

    def state_dict(self) -> dict:
        """The position of the next batch."""
        return {
            "epoch": self.epoch,
            "stream": {"taken": list(self.taken), "turn": self.turn, "ended": list(self.ended)},
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue at a saved position; the same number of workers must read the stream.

        Raises:
            ValueError: the position was saved by a map-style run, or with another worker count.
        """
        stream = state.get("stream")
        if stream is None:
            raise ValueError(
                "the checkpoint was written by a run without --streaming; resume it without --streaming"
            )
        if len(stream["taken"]) != self.workers:
            raise ValueError(
                f"the checkpoint's stream was read by {len(stream['taken'])} DataLoader worker(s), this run "
                f"has {self.workers}; resume with --num_workers {len(stream['taken']) if len(stream['taken']) > 1 else 0} "
                "(the stream position is kept per worker)"
            )
        self.epoch = int(state["epoch"])
        self.taken = [int(n) for n in stream["taken"]]
        self.turn = int(stream["turn"])
        self.ended = [bool(e) for e in stream["ended"]]

    def _loader(self) -> DataLoader:
        self.batches.epoch = self.epoch
        self.batches.skip_batches = list(self.taken)
        self.batches.stream.set_epoch(self.epoch)
        workers = self.num_workers > 0
        return DataLoader(
            self.batches,
            batch_size=None,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            prefetch_factor=self.prefetch_factor if workers else None,
            generator=torch.Generator().manual_seed(self.epoch),
        )

    def __iter__(self) -> Iterator[dict]:
        while True:
            produced = False
            waiting: dict[int, deque] = {w: deque() for w in range(self.workers)}
            items = iter(self._loader())
            while not all(self.ended):
                worker = self.turn
                if self.ended[worker]:
                    self.turn = (worker + 1) % self.workers
                    continue
                while not waiting[worker]:
                    item = next(items, None)
                    if item is None:  # the loader ended without this worker's end mark
                        raise RuntimeError(f"stream worker {worker} stopped without finishing its shards")
                    waiting[item["worker"]].append(item)
                item = waiting[worker].popleft()
                if item.get("end"):
                    self.ended[worker] = True
                    continue
                self.taken[worker] += 1
                self.turn = (worker + 1) % self.workers
                produced = True
                yield item["batch"]
            if not produced and not any(self.taken):
                raise ValueError(
                    f"{self.batches.stream.name}: the stream gave this process no batch in an epoch; add "
                    "shards (at least one per process and DataLoader worker) or use fewer processes"
                )
            self.epoch += 1
            self.taken = [0] * self.workers
            self.turn = 0
            self.ended = [False] * self.workers


__all__ = ["ShardBatchStream", "StreamBatches"]
