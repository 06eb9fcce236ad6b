"""Torch datasets, the collator, and the whole loader path (source -> dataset -> sampler -> collator)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from tests.data.audio_files import sine, write_nan, write_tone, write_wav
from wav2vec_hf.data import (
    AudioCollator,
    AudioDataset,
    AudioError,
    LengthBatchSampler,
    StreamingAudioDataset,
    ValidationRules,
    crop_offset,
    load_audio,
    open_audio_source,
)

COUNT = 12


@pytest.fixture
def source(tmp_path):
    rates = [8000, 16000, 22050]
    for i in range(COUNT):
        rate = rates[i % 3]
        write_tone(tmp_path / f"utt{i:02d}.wav", rate // 10 + 37 * i, rate=rate, frequency=200 + 20 * i)
    table = tmp_path / "list.tsv"
    table.write_text(
        "path\ttext\n" + "".join(f"utt{i:02d}.wav\tWORD {i}\n" for i in range(COUNT)), encoding="utf-8"
    )
    return open_audio_source(table)


def test_map_dataset_yields_float_tensors_at_16k_with_ids_and_transcripts(source):
    dataset = AudioDataset(source)
    assert len(dataset) == COUNT
    lengths = dataset.lengths
    for i in range(COUNT):
        example = dataset[i]
        assert example["input_values"].dtype == torch.float32 and example["input_values"].ndim == 1
        assert len(example["input_values"]) == lengths[i]
        assert example["id"] == f"utt{i:02d}" and example["transcript"] == f"WORD {i}"
        np.testing.assert_array_equal(example["input_values"].numpy(), load_audio(source[i].path))


def test_random_crop_is_deterministic_per_seed_epoch_and_index(source):
    dataset = AudioDataset(source, crop_samples=1000, seed=11)
    assert dataset.lengths.max() == 1000
    full = AudioDataset(source)
    index = COUNT - 1
    whole = full[index]["input_values"]
    cropped = dataset[index]["input_values"]
    start = crop_offset(len(whole), 1000, seed=11, epoch=0, index=index)
    torch.testing.assert_close(cropped, whole[start : start + 1000])
    assert torch.equal(dataset[index]["input_values"], cropped)  # same epoch: same crop
    dataset.set_epoch(1)
    start1 = crop_offset(len(whole), 1000, seed=11, epoch=1, index=index)
    assert start1 != start
    torch.testing.assert_close(dataset[index]["input_values"], whole[start1 : start1 + 1000])
    leading = AudioDataset(source, crop_samples=1000, random_crop=False)[index]["input_values"]
    torch.testing.assert_close(leading, whole[:1000])


def test_normalisation_applies_after_the_crop(source):
    example = AudioDataset(source, crop_samples=900, normalize=True)[COUNT - 1]["input_values"]
    assert abs(float(example.mean())) < 1e-4
    assert float(example.var(unbiased=False)) == pytest.approx(1.0, rel=1e-3)


def test_collator_pads_with_zeros_and_masks_the_padding():
    examples = [
        {"input_values": torch.ones(5), "id": "a", "transcript": "A", "index": 0, "epoch": 0},
        {"input_values": torch.full((3,), 2.0), "id": "b", "transcript": None, "index": 1, "epoch": 0},
    ]
    batch = AudioCollator()(examples)
    expected = torch.tensor([[1, 1, 1, 1, 1], [2, 2, 2, 0, 0]], dtype=torch.float32)
    torch.testing.assert_close(batch["input_values"], expected)
    torch.testing.assert_close(batch["attention_mask"], torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]))
    assert batch["lengths"].tolist() == [5, 3] and batch["ids"] == ["a", "b"]
    assert batch["transcripts"] == ["A", None] and batch["skipped"] == []
    wide = AudioCollator(pad_to_multiple_of=4, return_attention_mask=False)(examples)
    assert wide["input_values"].shape == (2, 8) and "attention_mask" not in wide
    assert float(wide["input_values"][0, 5:].abs().sum()) == 0.0


def test_collator_crop_to_shortest_removes_padding_deterministically():
    long = torch.arange(10, dtype=torch.float32)
    examples = [
        {"input_values": long, "id": "a", "index": 4, "epoch": 2},
        {"input_values": torch.zeros(6), "id": "b", "index": 5, "epoch": 2},
    ]
    batch = AudioCollator(crop_to_shortest=True, seed=9)(examples)
    assert batch["input_values"].shape == (2, 6) and bool(batch["attention_mask"].all())
    start = crop_offset(10, 6, seed=9, epoch=2, index=4)
    torch.testing.assert_close(batch["input_values"][0], long[start : start + 6])


def test_collator_with_only_skipped_examples_gives_an_empty_batch():
    skipped = {
        "id": "x",
        "index": 0,
        "skipped": {"reason": "non_finite", "path": "x.wav", "message": "x.wav: NaN"},
    }
    batch = AudioCollator()([skipped])
    assert batch["input_values"].shape == (0, 0) and batch["attention_mask"].shape == (0, 0)
    assert batch["skipped"] == [skipped["skipped"]]


def test_full_path_with_sampler_and_workers_respects_the_budget(source):
    dataset = AudioDataset(source, crop_samples=2500)
    budget = 6000
    sampler = LengthBatchSampler(dataset.lengths, budget, seed=2)
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=AudioCollator(), num_workers=2)
    seen = []
    for batch in loader:
        assert batch["input_values"].numel() <= budget
        assert batch["attention_mask"].sum(dim=1).tolist() == batch["lengths"].tolist()
        seen.extend(batch["ids"])
    assert sorted(seen) == [f"utt{i:02d}" for i in range(COUNT)]


def test_streaming_over_an_audio_set_shards_ranks_and_workers(source):
    def ids_for(rank, workers):
        dataset = StreamingAudioDataset(source, shuffle=True, seed=3, num_replicas=2, rank=rank)
        loader = DataLoader(dataset, batch_size=None, num_workers=workers)
        return [example["id"] for example in loader]

    rank0, rank1 = ids_for(0, 2), ids_for(1, 0)
    assert len(rank0) == len(rank1) == COUNT // 2
    assert not set(rank0) & set(rank1)
    assert sorted(rank0 + rank1) == sorted(r.id for r in source)
    assert sorted(ids_for(0, 0)) == sorted(rank0)  # the worker split does not change a rank's share


def test_streaming_uneven_ranks_are_padded_to_the_same_count(source):
    subset = source.subset(range(5))
    per_rank = [list(StreamingAudioDataset(subset, num_replicas=2, rank=r).rank_indices()) for r in (0, 1)]
    assert per_rank == [[0, 2, 4], [1, 3, 0]]
    shuffled = StreamingAudioDataset(source, shuffle=True, seed=1)
    order0 = shuffled.rank_indices().tolist()
    shuffled.set_epoch(1)
    assert (
        sorted(order0) == sorted(shuffled.rank_indices().tolist())
        and order0 != shuffled.rank_indices().tolist()
    )


def test_streaming_skips_bad_audio_when_asked(tmp_path):
    write_tone(tmp_path / "a.wav", 1600)
    write_nan(tmp_path / "b.wav")
    write_wav(tmp_path / "c.wav", np.stack([sine(300.0, 16000, 800)] * 2, axis=1))
    source = open_audio_source(tmp_path, rules=ValidationRules(decode=False))  # found when loaded
    with pytest.raises(AudioError, match=r"b\.wav: 2 of 1600 samples"):
        list(StreamingAudioDataset(source))
    examples = list(StreamingAudioDataset(source, on_bad="skip"))
    assert [e["id"] for e in examples] == ["a", "b", "c"]
    assert "skipped" in examples[1] and examples[2]["input_values"].shape == (800,)


def test_map_dataset_refuses_a_stream():
    with pytest.raises(TypeError, match="use StreamingAudioDataset"):
        AudioDataset(object())
