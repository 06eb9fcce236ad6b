"""PyTorch datasets over audio sources: map-style ``AudioDataset`` and streaming ``StreamingAudioDataset``.

Both yield examples ``{"input_values": float32 tensor (samples,), "id": str, "transcript": str | None,
"index": int, "epoch": int}`` at the model's rate (``index`` / ``epoch`` let the collator crop
deterministically). Audio is decoded when an example is requested, never before.

Optional random crop (pretraining): utterances longer than ``crop_samples`` are cut to a window
whose start is ``batching.crop_offset(seed, epoch, index)``; ``random_crop=False`` keeps the
start. Call ``set_epoch`` before each epoch (Accelerate's prepared DataLoader does this for the
dataset), or index ``AudioDataset`` with ``(epoch, index)`` pairs (``select_epoch``): the epoch then
travels with each request, so persistent DataLoader workers (which never see a ``set_epoch`` made
in the main process) crop for the right epoch.

Bad audio found while loading (NaN/inf, data corrupt past a valid header; ``open_audio_source``
already decoded every file of a set up to 10 hours, so this concerns larger sets, or
``ValidationRules(decode=False)``):

* ``on_bad="raise"`` (default): ``AudioError`` naming the file (also when a DataLoader worker
  process met it).
* ``on_bad="skip"``: the example becomes ``{"skipped": {"reason", "path", "message"}, "id", "index"}``;
  ``AudioCollator`` drops it from the batch and lists it in ``batch["skipped"]``. The dataset
  counts it in its own ``skip_report`` (complete when ``num_workers=0``); with worker processes
  feed every batch to ``report.record_skipped(batch["skipped"])`` in the training loop. Either
  report counts a file once, however many epochs (or segments) meet it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from wav2vec_hf.data.audio import (
    DEFAULT_SAMPLE_RATE,
    AudioError,
    load_payload,
    normalize_waveform,
    payload_info,
    resample,
    resampled_length,
    resampled_window,
)
from wav2vec_hf.data.augmentation import WaveformAugmentation
from wav2vec_hf.data.batching import crop_offset
from wav2vec_hf.data.shared_batches import batch_tensor
from wav2vec_hf.data.sources import AudioSet, AudioStream
from wav2vec_hf.data.validation import SkipReport, ValidationRules, check_on_bad, entry_error, record_from


def _crop(
    waveform: np.ndarray, crop_samples: int | None, random_crop: bool, seed: int, epoch: int, index: int
):
    if crop_samples is None or len(waveform) <= crop_samples:
        return waveform
    start = (
        crop_offset(len(waveform), crop_samples, seed=seed, epoch=epoch, index=index) if random_crop else 0
    )
    return waveform[start : start + crop_samples]


def select_epoch(dataset, key) -> int:
    """The index of ``key`` (an index, or an ``(epoch, index)`` pair whose epoch is set on ``dataset``).

    Map-style datasets whose examples depend on the epoch accept both; samplers that run ahead of
    the training loop, across epochs, into persistent worker processes send pairs.
    """
    if isinstance(key, tuple):
        epoch, index = key
        if epoch != getattr(dataset, "epoch", None):
            dataset.set_epoch(epoch)
        return int(index)
    return int(key)


def _skipped(error: AudioError, example_id: str, index: int) -> dict:
    return {
        "id": example_id,
        "index": index,
        "skipped": {"reason": error.reason, "path": error.path, "message": str(error)},
    }


class _AudioOptions:
    """Options shared by both datasets (rate, normalisation, crop, bad-input policy)."""

    def __init__(
        self, target_rate, normalize, crop_samples, random_crop, seed, on_bad, strict_mono, augment=None
    ) -> None:
        if crop_samples is not None and crop_samples <= 0:
            raise ValueError(f"crop_samples must be positive or None, got {crop_samples}")
        self.target_rate = int(target_rate)
        self.normalize = normalize
        self.crop_samples = crop_samples
        self.random_crop = random_crop
        self.seed = int(seed)
        self.on_bad = check_on_bad(on_bad)
        self.strict_mono = strict_mono
        self.augment = augment
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch that seeds the random crops."""
        self.epoch = int(epoch)

    def _example(
        self, waveform: np.ndarray, example_id: str, transcript, index: int, normalized: bool = False
    ) -> dict:
        if self.augment is not None:
            waveform = self.augment(waveform, self.target_rate)
        # Crop before normalising, so each crop is zero-mean / unit-variance like a whole utterance.
        waveform = _crop(waveform, self.crop_samples, self.random_crop, self.seed, self.epoch, index)
        if self.normalize and not normalized:
            waveform = normalize_waveform(waveform)
        return {
            "input_values": torch.from_numpy(np.ascontiguousarray(waveform)),
            "id": example_id,
            "transcript": transcript,
            "index": index,
            "epoch": self.epoch,
        }


class AudioDataset(_AudioOptions, Dataset):
    """Map-style dataset over a validated ``AudioSet``.

    Args:
        source: from ``open_audio_source``.
        target_rate: model rate in Hz.
        normalize: per-utterance zero mean / unit variance (after cropping).
        crop_samples: crop utterances longer than this (samples at ``target_rate``); ``None``: no crop.
        random_crop: random (deterministic per ``(seed, epoch, index)``) or leading window.
        seed: crop seed.
        on_bad: ``"raise"`` or ``"skip"`` for audio that fails to load (see module docstring).
        strict_mono: refuse multi-channel audio instead of mixing it down.
        augment: training augmentation applied before the crop (``data.augmentation``); ``None``: none.
    """

    def __init__(
        self,
        source: AudioSet,
        *,
        target_rate: int = DEFAULT_SAMPLE_RATE,
        normalize: bool = False,
        crop_samples: int | None = None,
        random_crop: bool = True,
        seed: int = 0,
        on_bad: str = "raise",
        strict_mono: bool = False,
        augment: WaveformAugmentation | None = None,
    ) -> None:
        super().__init__(
            target_rate, normalize, crop_samples, random_crop, seed, on_bad, strict_mono, augment
        )
        if not isinstance(source, AudioSet):
            raise TypeError(
                f"AudioDataset needs an AudioSet (from open_audio_source), got {type(source).__name__}; "
                "use StreamingAudioDataset for streams."
            )
        self.source = source
        self.skip_report = SkipReport(source=source.name)
        self._loaded: set[int] = set()  # distinct utterances loaded: the report's "seen"

    def __len__(self) -> int:
        return len(self.source)

    @property
    def lengths(self) -> np.ndarray:
        """``(N,)`` int64 samples per example as returned (resampled, then cropped): feed to ``LengthBatchSampler``."""
        lengths = self.source.lengths(self.target_rate)
        return lengths if self.crop_samples is None else np.minimum(lengths, self.crop_samples)

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        index = select_epoch(self, key)
        return self._fetch(index, self.source[index])

    def __getitems__(self, keys: list) -> list[dict]:
        """The examples of one batch (the DataLoader's batched fetch).

        Crops of mono files at ``target_rate`` are decoded straight into the rows of one float32
        ``(n, crop_samples)`` tensor, in order; ``AudioCollator`` hands that tensor on as the batch
        without copying it (the example's ``"batch_row"`` says where it sits). Other examples are
        ``__getitem__``'s. The samples are the same either way.
        """
        indices = [select_epoch(self, key) for key in keys]
        records = [self.source[index] for index in indices]
        direct = [self._decodes_into_row(record) for record in records]
        if sum(direct) < 2:
            return [self._fetch(index, record) for index, record in zip(indices, records, strict=True)]
        rows = batch_tensor(sum(direct), self.crop_samples)  # in a worker: its shared ring buffer
        examples, row = [], 0
        for index, record, into_row in zip(indices, records, direct, strict=True):
            if not into_row:
                examples.append(self._fetch(index, record))
                continue
            example = self._fetch(index, record, out=rows[row].numpy())
            if "skipped" not in example and example["input_values"].data_ptr() == rows[row].data_ptr():
                example["batch_row"] = (rows, row)
            examples.append(example)
            row += 1
        return examples

    def _decodes_into_row(self, record) -> bool:
        """Whether ``record``'s crop can be decoded into a row of a batch: a mono file at the model's
        rate, longer than the crop, with no augmentation."""
        return (
            self.crop_samples is not None
            and self.augment is None
            and record.row is None
            and record.channels == 1
            and record.sample_rate == self.target_rate
            and record.num_samples > self.crop_samples
            and getattr(self.source, "reads_windows", False)
        )

    def _fetch(self, index: int, record, out: np.ndarray | None = None) -> dict:
        """Example ``index`` (``out``: a float32 ``(crop_samples,)`` row to decode the crop into)."""
        self._loaded.add(index)
        self.skip_report.seen = len(self._loaded)
        try:
            waveform = self._cropped_window(index, record, out)
            if waveform is None:
                waveform = self.source.load(index, self.target_rate, strict_mono=self.strict_mono)
        except AudioError as error:
            if self.on_bad == "raise":
                raise
            self.skip_report.add_error(error)
            return _skipped(error, record.id, index)
        in_row = out is not None and len(waveform) == len(out) and waveform.ctypes.data == out.ctypes.data
        if in_row and self.normalize:
            out[:] = normalize_waveform(waveform)  # in the row, where the crop was decoded
            return self._example(out, record.id, record.transcript, index, normalized=True)
        return self._example(waveform, record.id, record.transcript, index)

    def _cropped_window(self, index: int, record, out: np.ndarray | None = None) -> np.ndarray | None:
        """The crop, decoded without the rest of the file; ``None`` where the whole file must be loaded
        (no crop, shorter than it, augmentation, an in-memory or dataset source).

        A file at ``target_rate`` gives exactly the samples of decoding it whole and cropping (into
        ``out``, a float32 ``(crop,)`` array, when given). A file at another rate is decoded over the
        crop plus a margin, resampled, and cut (``audio.resampled_window``): the samples of resampling
        the whole file, to float rounding.
        """
        crop = self.crop_samples
        if crop is None or self.augment is not None:
            return None
        length = resampled_length(record.num_samples, record.sample_rate, self.target_rate)
        if length <= crop:
            return None
        start = (
            crop_offset(length, crop, seed=self.seed, epoch=self.epoch, index=index)
            if self.random_crop
            else 0
        )
        if not getattr(self.source, "reads_windows", False):
            return None
        load_window = self.source.load_window
        if record.sample_rate == self.target_rate:
            target = out.reshape(-1, 1) if out is not None and record.channels == 1 else None
            window = load_window(index, start, crop, out=target, strict_mono=self.strict_mono)
            return window if window is not None and len(window) == crop else None
        part = resampled_window(start, crop, record.num_samples, record.sample_rate, self.target_rate)
        window = load_window(index, part.read_start, part.read_frames, strict_mono=self.strict_mono)
        if window is None:
            return None
        window = resample(window, record.sample_rate, self.target_rate)[part.offset : part.offset + crop]
        return window if len(window) == crop else None


class StreamingAudioDataset(_AudioOptions, IterableDataset):
    """Iterable dataset over an ``AudioSet`` (read in order or shuffled) or an ``AudioStream``.

    Work is split twice: across processes (``num_replicas`` / ``rank``) and across DataLoader
    workers (automatically, from ``torch.utils.data.get_worker_info``).

    * ``AudioSet``: example ``i`` of the epoch's order goes to rank ``i mod num_replicas``; with
      ``even_shards=True`` (default) the order is padded by wrapping around so that every rank
      gets ``ceil(N / num_replicas)`` examples (as ``DistributedSampler`` does); then each rank's
      examples are dealt round-robin to its workers.
    * ``AudioStream``: ``datasets.distributed.split_dataset_by_node`` picks the rank's part (per-rank
      counts may then differ by one example: use Accelerate's ``even_batches`` or ``join``), and
      ``datasets`` itself splits shards across workers (use at least as many shards as workers).
      Each streamed example's header is checked against ``rules`` (streams cannot be validated
      up front) under the same ``on_bad`` policy.

    Args:
        source: ``AudioSet`` or ``AudioStream``.
        rules: checks for streamed examples (``AudioSet``s were already validated).
        shuffle: reshuffle an ``AudioSet`` every epoch (seeded); shuffle a stream with its
            dataset's ``.shuffle(seed, buffer_size)`` before opening it.
        num_replicas, rank: processes and this process's index.
        even_shards: pad an ``AudioSet``'s order so all ranks get the same count.
        Other arguments as in ``AudioDataset``.
    """

    def __init__(
        self,
        source: AudioSet | AudioStream,
        *,
        target_rate: int = DEFAULT_SAMPLE_RATE,
        normalize: bool = False,
        crop_samples: int | None = None,
        random_crop: bool = True,
        seed: int = 0,
        on_bad: str = "raise",
        strict_mono: bool = False,
        rules: ValidationRules | None = None,
        shuffle: bool = False,
        num_replicas: int = 1,
        rank: int = 0,
        even_shards: bool = True,
    ) -> None:
        super().__init__(target_rate, normalize, crop_samples, random_crop, seed, on_bad, strict_mono)
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in [0, {num_replicas}), got {rank}")
        self.source = source
        self.rules = rules or ValidationRules(target_rate=target_rate, strict_mono=strict_mono)
        self.shuffle = shuffle
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.even_shards = even_shards
        self.skip_report = SkipReport(source=source.name)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch (crop seeds, ``AudioSet`` order, stream reshuffle)."""
        super().set_epoch(epoch)
        if isinstance(self.source, AudioStream):
            self.source.set_epoch(epoch)

    def rank_indices(self) -> np.ndarray:
        """Indices into an ``AudioSet`` that this rank reads this epoch (before the worker split)."""
        count = len(self.source)
        if self.shuffle:
            order = np.random.default_rng([self.seed & 0xFFFFFFFF, self.epoch]).permutation(count)
        else:
            order = np.arange(count)
        if self.even_shards and self.num_replicas > 1 and count:
            per_rank = math.ceil(count / self.num_replicas)
            order = np.resize(order, per_rank * self.num_replicas)  # wraps around to the start
        return order[self.rank :: self.num_replicas]

    def __iter__(self) -> Iterator[dict]:
        worker = get_worker_info()
        worker_id, num_workers = (worker.id, worker.num_workers) if worker is not None else (0, 1)
        if isinstance(self.source, AudioSet):
            yield from self._iterate_set(self.rank_indices()[worker_id::num_workers])
        else:
            yield from self._iterate_stream(self.source.for_rank(self.rank, self.num_replicas))

    def _iterate_set(self, indices: np.ndarray) -> Iterator[dict]:
        for index in indices.tolist():
            record = self.source[index]
            self.skip_report.seen += 1
            try:
                waveform = self.source.load(index, self.target_rate, strict_mono=self.strict_mono)
            except AudioError as error:
                if self.on_bad == "raise":
                    raise
                self.skip_report.add_error(error)
                yield _skipped(error, record.id, index)
                continue
            yield self._example(waveform, record.id, record.transcript, index)

    def _iterate_stream(self, stream: AudioStream) -> Iterator[dict]:
        for position, (entry, payload) in enumerate(stream):
            self.skip_report.seen += 1
            try:
                if isinstance(payload, AudioError):
                    raise payload
                info = payload_info(payload, name=entry.path)
                problem = entry_error(entry, info, self.rules)
                if problem is not None:
                    raise problem
                record = record_from(entry, info)
                waveform = load_payload(
                    payload, self.target_rate, name=record.path, strict_mono=self.strict_mono
                )
            except AudioError as error:
                if self.on_bad == "raise":
                    raise
                self.skip_report.add_error(error)
                yield _skipped(error, entry.id, position)
                continue
            yield self._example(waveform, record.id, record.transcript, position)
