"""Batch buffers shared with the workers and reused (``data.shared_batches``): the batches are those of
the main process, every buffer is reused many times over, and a rewritten buffer is an error."""

from __future__ import annotations

import gc
import itertools
import time

import pytest
import torch

from tests.data.audio_files import write_tone
from wav2vec_hf.data import AudioCollator, AudioDataset, LengthBatchSampler, open_audio_source, shared_batches
from wav2vec_hf.data.shared_batches import RecycledBatchMemory, SharedBatchRing, SlotRef
from wav2vec_hf.pretraining.data import AudioData, BatchStream, validation_batches


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ring")
    rows = []
    for i in range(12):
        length = 3000 + 500 * i if i % 4 else 1500  # some shorter than the crop: collated by copying
        path = write_tone(folder / f"u{i}.wav", length, frequency=150 + 30 * i)
        rows.append(f"{path.name}\t{length}")
    manifest = folder / "train.tsv"
    manifest.write_text(f"{folder}\n" + "\n".join(rows) + "\n")
    source = open_audio_source(manifest, validation_cache=False)
    dataset = AudioDataset(source, crop_samples=2500, random_crop=True, seed=5)
    sampler = LengthBatchSampler(dataset.lengths, max_batch_samples=5000, shuffle=True, seed=5)
    collator = AudioCollator(crop_to_shortest=True, seed=5, return_attention_mask=False)
    return dataset, sampler, collator


class SlowConsumer:
    """Counts ``SharedBatchRing.take`` calls; sleeps in some, so the workers run ahead of the main process."""

    def __init__(self, monkeypatch):
        self.calls = 0
        real = SharedBatchRing.take

        def take(ring, ref, **options):
            self.calls += 1
            if self.calls % 3 == 0:
                time.sleep(0.02)
            return real(ring, ref, **options)

        monkeypatch.setattr(SharedBatchRing, "take", take)


def batches(stream: BatchStream, count: int) -> list[dict]:
    return list(itertools.islice(iter(stream), count))


def test_ring_batches_are_the_main_process_batches(parts, monkeypatch):
    dataset, sampler, collator = parts
    count = 8 * len(sampler.batches(0))  # each worker's 4 buffers (prefetch 2 + 2) are reused many times
    inline = batches(BatchStream(dataset, sampler, collator, num_workers=0), count)
    consumer = SlowConsumer(monkeypatch)
    shared = batches(BatchStream(dataset, sampler, collator, num_workers=2, prefetch_factor=2), count)
    assert count >= 40 and consumer.calls >= count * 3 // 4  # the short-file batches were copied instead
    for a, b in zip(inline, shared, strict=True):
        assert a["ids"] == b["ids"] and torch.equal(a["input_values"], b["input_values"])
        assert torch.equal(a["lengths"], b["lengths"])


def test_without_room_in_shared_memory_batches_are_allocated_one_by_one(parts, monkeypatch):
    dataset, sampler, collator = parts
    monkeypatch.setattr(SharedBatchRing, "fits_in_shared_memory", classmethod(lambda cls, *args: False))
    consumer = SlowConsumer(monkeypatch)
    inline = batches(BatchStream(dataset, sampler, collator, num_workers=0), 6)
    shared = batches(BatchStream(dataset, sampler, collator, num_workers=2), 6)
    assert consumer.calls == 0
    assert all(torch.equal(a["input_values"], b["input_values"]) for a, b in zip(inline, shared, strict=True))


def test_a_rewritten_buffer_is_an_error_not_wrong_audio(monkeypatch):
    ring = SharedBatchRing(num_workers=1, slots=2, capacity=12)
    monkeypatch.setattr(shared_batches, "get_worker_info", lambda: type("Info", (), {"id": 0})())
    ring.install(0)
    values = shared_batches.batch_tensor(3, 4)
    assert shared_batches.batch_tensor(3, 4).data_ptr() != values.data_ptr()  # one buffer per batch
    values.copy_(torch.arange(12.0).view(3, 4))
    ref = ring.seal({"input_values": values})["input_values"]
    assert isinstance(ref, SlotRef) and (ref.rows, ref.width) == (3, 4)
    assert torch.equal(ring.take(ref), torch.arange(12.0).view(3, 4))
    for _ in range(ring.slots):  # the worker comes round to the same buffer again
        shared_batches.batch_tensor(3, 4)
        ring.seal({})
    with pytest.raises(RuntimeError, match="rewrote batch buffer"):
        ring.take(ref)
    assert shared_batches.batch_tensor(4, 4).shape == (4, 4)  # too large for a buffer: an ordinary tensor
    ring.seal({})


def test_a_collator_that_passes_examples_on_gets_no_ring(parts, monkeypatch):
    """Only ``AudioCollator`` copies or hands on whole buffers; with any other collator the rows the
    dataset decoded would reach the main process as views of buffers the worker rewrites later."""
    dataset, sampler, _ = parts
    consumer = SlowConsumer(monkeypatch)
    count = 6 * len(sampler.batches(0))

    def keep_examples(examples):
        return [example["input_values"] for example in examples if "skipped" not in example]

    inline = batches(BatchStream(dataset, sampler, keep_examples, num_workers=0), count)
    shared = batches(BatchStream(dataset, sampler, keep_examples, num_workers=2, prefetch_factor=2), count)
    assert consumer.calls == 0
    for a, b in zip(inline, shared, strict=True):
        assert len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_validation_batches_come_through_the_ring_and_equal_the_main_process(parts, monkeypatch):
    """Validation builds its loader as training does (``AudioLoader``): with workers its batches are
    built in reused buffers, every evaluation gives the same batches, and they are the main process's."""
    dataset, sampler, collator = parts
    data = AudioData(dataset=dataset, sampler=sampler, collator=collator)
    inline = list(validation_batches(data, num_workers=0))
    consumer = SlowConsumer(monkeypatch)
    evaluations = [list(validation_batches(data, num_workers=2)) for _ in range(3)]
    assert consumer.calls >= 3 * len(inline) // 2 and data.loaders[(None, 2, False)].ring is not None
    for shared in evaluations:
        assert len(shared) == len(inline)
        for a, b in zip(inline, shared, strict=True):
            assert a["ids"] == b["ids"] and torch.equal(a["input_values"], b["input_values"])


def test_recycled_batch_memory_is_reused_only_when_nothing_views_it():
    memory = RecycledBatchMemory(max_free=2)
    first = memory.empty(4, 1000)
    address = first.data_ptr()
    tail = first[2:]  # a view keeps the storage, and so the buffer, in use
    del first
    gc.collect()
    second = memory.empty(4, 1000)
    assert second.data_ptr() != address
    tail.fill_(1.0)  # still its own memory: writing it changes nothing of the new batch
    second.fill_(2.0)
    assert float(tail.min()) == 1.0
    del tail
    smaller = memory.empty(3, 1000)  # the freed buffer holds it: reused
    assert smaller.data_ptr() == address and smaller.shape == (3, 1000)
    del smaller, second
    larger = memory.empty(5, 1000)  # no free buffer is large enough: new memory
    assert larger.data_ptr() != address
    batches = [memory.empty(1, 10 + i) for i in range(5)]
    del batches  # five buffers come back ...
    held = memory.empty(1, 1)  # noqa: F841 (held: its buffer is not back yet)
    assert len(memory._free) <= 2  # ... and no more than max_free are kept
