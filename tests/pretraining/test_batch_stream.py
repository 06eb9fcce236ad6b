"""BatchStream: one DataLoader for the run, workers kept across epochs, every request carrying its epoch.

The batches are a pure function of (seed, epoch, position): the same with 0 or 2 workers, and a
stream restarted at a saved position continues exactly where the interrupted one would have.
"""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest
import torch

from tests.data.audio_files import write_tone
from wav2vec_hf.data import AudioCollator, AudioDataset, LengthBatchSampler, open_audio_source
from wav2vec_hf.pretraining.data import (
    AudioData,
    BatchStream,
    EpochBatches,
    loader_workers,
    validation_batches,
)


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stream")
    rows = []
    for i in range(10):
        path = write_tone(folder / f"u{i}.wav", 6000 + 700 * i, frequency=150 + 40 * i)
        rows.append(f"{path.name}\t{6000 + 700 * i}")
    manifest = folder / "train.tsv"
    manifest.write_text(f"{folder}\n" + "\n".join(rows) + "\n")
    source = open_audio_source(manifest, validation_cache=False)
    dataset = AudioDataset(source, crop_samples=5000, random_crop=True, seed=3, normalize=True)
    sampler = LengthBatchSampler(dataset.lengths, max_batch_samples=15000, shuffle=True, seed=3)
    collator = AudioCollator(crop_to_shortest=True, seed=3, return_attention_mask=False)
    return dataset, sampler, collator


def _take(stream: BatchStream, count: int) -> list[tuple[dict, dict]]:
    """``count`` batches, each with the stream's state after it was handed out."""
    return [(batch, stream.state_dict()) for batch in itertools.islice(iter(stream), count)]


def _same(a: dict, b: dict) -> bool:
    return a["ids"] == b["ids"] and torch.equal(a["input_values"], b["input_values"])


def test_workers_give_the_batches_of_the_main_process_across_epochs(parts):
    dataset, sampler, collator = parts
    per_epoch = len(sampler.batches(0))
    count = 2 * per_epoch + 2
    inline = _take(BatchStream(dataset, sampler, collator, num_workers=0), count)
    workers = _take(BatchStream(dataset, sampler, collator, num_workers=2), count)
    assert all(_same(a, b) for (a, _), (b, _) in zip(inline, workers))
    assert [state for _, state in inline] == [state for _, state in workers]
    assert inline[per_epoch - 1][1] == {"epoch": 0, "position": per_epoch}  # the epoch ends lazily
    assert inline[per_epoch][1] == {"epoch": 1, "position": 1}
    # The epoch travelled with the requests: epoch 1 crops differ from epoch 0's for the same utterance.
    first_ids = {i for batch, _ in inline[:per_epoch] for i in batch["ids"]}
    assert first_ids == {f"u{i}" for i in range(10)}
    values = {}
    for batch, state in inline[: 2 * per_epoch]:
        epoch = state["epoch"] if state["position"] > 0 else state["epoch"] - 1
        for row, name in enumerate(batch["ids"]):
            values.setdefault(name, {})[epoch] = batch["input_values"][row, :1000]
    assert any(not torch.equal(v[0], v[1]) for v in values.values())


def test_a_restarted_stream_continues_exactly(parts):
    dataset, sampler, collator = parts
    per_epoch = len(sampler.batches(0))
    whole = _take(BatchStream(dataset, sampler, collator, num_workers=2), 3 * per_epoch)
    for cut in (1, per_epoch - 1, per_epoch, per_epoch + 2):
        state = whole[cut - 1][1]
        resumed = BatchStream(dataset, sampler, collator, num_workers=2)
        resumed.load_state_dict(state)
        again = _take(resumed, 4)
        assert all(_same(a, b) for (a, _), (b, _) in zip(again, whole[cut : cut + 4])), cut
        assert [s for _, s in again] == [s for _, s in whole[cut : cut + 4]]


class PidDataset(torch.utils.data.Dataset):
    """Examples that say which process made them and for which epoch."""

    epoch = 0

    def __len__(self) -> int:
        return 8

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, key):
        from wav2vec_hf.data.datasets import select_epoch

        index = select_epoch(self, key)
        return {"index": index, "epoch": self.epoch, "pid": os.getpid()}


class FixedSampler:
    def batches(self, epoch: int) -> list[list[int]]:
        order = np.random.default_rng(epoch).permutation(8)
        return [order[:4].tolist(), order[4:].tolist()]


def test_worker_processes_live_for_the_whole_run(parts):
    stream = BatchStream(PidDataset(), FixedSampler(), lambda examples: examples, num_workers=2)
    batches = list(itertools.islice(iter(stream), 8))  # four epochs
    pids = {example["pid"] for batch in batches for example in batch}
    assert len(pids) <= 2 and os.getpid() not in pids  # the same two workers, never re-forked
    epochs = [[example["epoch"] for example in batch] for batch in batches]
    assert epochs == [[e] * 4 for e in (0, 0, 1, 1, 2, 2, 3, 3)]
    assert list(EpochBatches(FixedSampler(), 2, 1).__iter__().__next__()) == [
        (2, int(i)) for i in FixedSampler().batches(2)[1]
    ]


def test_validation_keeps_one_loader_per_setting(parts):
    dataset, sampler, collator = parts
    data = AudioData(dataset=dataset, sampler=sampler, collator=collator)
    first = list(validation_batches(data, max_batches=2, num_workers=2))
    second = list(validation_batches(data, max_batches=2, num_workers=2))
    assert len(data.loaders) == 1 and len(first) == 2
    assert all(_same(a, b) for a, b in zip(first, second))
    inline = list(validation_batches(data, max_batches=2, num_workers=0))
    assert all(_same(a, b) for a, b in zip(first, inline)) and len(data.loaders) == 2


def test_worker_defaults_follow_the_device(monkeypatch):
    assert loader_workers(3, torch.device("cuda")) == 3
    assert loader_workers(None, torch.device("cpu")) == 0
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: set(range(16)), raising=False)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert loader_workers(None, torch.device("cuda")) == 7
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "16")
    assert loader_workers(None, torch.device("cuda")) == 1
