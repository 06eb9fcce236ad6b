"""Hugging Face ``datasets`` inputs: Dataset (in memory and load_from_disk), DatasetDict, IterableDataset."""

from __future__ import annotations

import datasets
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from tests.data.audio_files import sine, write_corrupt, write_tone
from wav2vec_hf.data import (
    AudioCollator,
    AudioSet,
    AudioStream,
    DataValidationError,
    StreamingAudioDataset,
    ValidationRules,
    load_audio,
    open_audio_source,
)

TEXTS = ["ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE"]
RATES = [8000, 16000, 22050, 16000, 8000, 16000]


@pytest.fixture
def wav_files(tmp_path):
    folder = tmp_path / "wavs"
    return [write_tone(folder / f"u{i}.wav", 800 + 100 * i, rate=rate) for i, rate in enumerate(RATES)]


def expected_lengths(files):
    return [round((800 + 100 * i) * 16000 / rate) for i, rate in enumerate(RATES[: len(files)])]


def test_dataset_of_path_strings(wav_files):
    table = datasets.Dataset.from_dict({"audio": [str(p) for p in wav_files], "text": TEXTS})
    source = open_audio_source(table)
    assert isinstance(source, AudioSet)
    assert [r.transcript for r in source] == TEXTS
    assert [r.path for r in source] == [str(p) for p in wav_files]
    assert all(r.row is None for r in source)  # plain files: read straight from disk
    assert [len(source.load(i)) for i in range(len(source))] == expected_lengths(wav_files)


def test_dataset_of_bytes_survives_save_to_disk_and_load_from_disk(tmp_path, wav_files):
    table = datasets.Dataset.from_dict(
        {
            "audio": [{"path": p.name, "bytes": p.read_bytes()} for p in wav_files],
            "sentence": TEXTS,
            "speaker": ["s1", "s2", "s1", "s2", "s1", "s2"],
        }
    ).cast_column("audio", datasets.Audio(decode=False))
    saved = tmp_path / "saved"
    table.save_to_disk(str(saved))
    for source in (open_audio_source(saved), open_audio_source(datasets.load_from_disk(str(saved)))):
        assert [r.transcript for r in source] == TEXTS
        assert [r.speaker for r in source][:2] == ["s1", "s2"]
        assert [r.row for r in source] == list(range(6))
        assert [(r.num_samples, r.sample_rate) for r in source] == [
            (800 + 100 * i, RATES[i]) for i in range(6)
        ]
        assert [r.id for r in source] == [f"u{i}" for i in range(6)]
        for i, path in enumerate(wav_files):
            np.testing.assert_array_equal(source.load(i), load_audio(path))


def test_decoding_audio_feature_is_read_without_torchcodec(wav_files):
    # An Audio() column (decode=True) would need torchcodec to decode; we cast it to decode=False.
    table = datasets.Dataset.from_dict({"audio": [str(p) for p in wav_files], "transcript": TEXTS})
    table = table.cast_column("audio", datasets.Audio())
    assert table.features["audio"].decode
    source = open_audio_source(table)
    assert [len(source.load(i)) for i in range(len(source))] == expected_lengths(wav_files)


def test_dataset_of_decoded_arrays():
    arrays = [sine(440.0, rate, 800 + 100 * i) for i, rate in enumerate(RATES)]
    table = datasets.Dataset.from_dict(
        {"audio": [{"array": a, "sampling_rate": r} for a, r in zip(arrays, RATES)], "text": TEXTS}
    )
    source = open_audio_source(table)
    assert [r.sample_rate for r in source] == RATES
    assert source[2].path == "Dataset[2]"
    assert len(source.load(2)) == round(1000 * 16000 / 22050)


def test_dataset_dict_needs_a_split_and_columns_can_be_named(wav_files):
    table = datasets.Dataset.from_dict({"wav": [str(p) for p in wav_files], "words": TEXTS})
    both = datasets.DatasetDict({"train": table, "test": table.select(range(2))})
    with pytest.raises(ValueError, match=r"several splits \['train', 'test'\]; pass split="):
        open_audio_source(both)
    with pytest.raises(ValueError, match="no audio column among"):
        open_audio_source(both, split="test")
    source = open_audio_source(both, split="test", audio_column="wav", text_column="words")
    assert [r.transcript for r in source] == TEXTS[:2]
    with pytest.raises(ValueError, match="no text column 'txt'"):
        open_audio_source(table, audio_column="wav", text_column="txt")


def test_bad_rows_in_a_dataset_are_counted_or_raised(tmp_path, wav_files):
    corrupt = write_corrupt(tmp_path / "bad.wav").read_bytes()
    values = [{"path": None, "bytes": wav_files[0].read_bytes()}, {"path": "bad.wav", "bytes": corrupt}, None]
    table = datasets.Dataset.from_dict({"audio": values, "text": ["A", "B", "C"]})
    with pytest.raises(DataValidationError, match=r"(?s)2 of 3 utterances.*Dataset\[1\] \(bad\.wav\)"):
        open_audio_source(table)
    source = open_audio_source(table, on_bad="skip")
    assert len(source) == 1 and source[0].transcript == "A"
    assert source.skip_report.counts == {"unreadable": 1, "missing_file": 1}


def test_records_to_hf_dataset_round_trip(tmp_path, wav_files):
    original = open_audio_source(
        datasets.Dataset.from_dict({"audio": [str(p) for p in wav_files], "text": TEXTS})
    )
    for embed in (False, True):
        exported = original.to_hf_dataset(embed_audio=embed)
        assert exported.features["audio"] == datasets.Audio(decode=False)
        assert exported.column_names == ["audio", "id", "text", "speaker", "num_samples", "sample_rate"]
        folder = tmp_path / f"export_{embed}"
        exported.save_to_disk(str(folder))
        reopened = open_audio_source(folder)
        assert [(r.id, r.transcript, r.num_samples, r.sample_rate) for r in reopened] == [
            (r.id, r.transcript, r.num_samples, r.sample_rate) for r in original
        ]
        # In memory the audio is a path unless embedded; save_to_disk embeds files itself (datasets
        # does that for Audio columns), so the reopened rows always read bytes from the dataset.
        assert (exported[0]["audio"]["bytes"] is not None) == embed
        assert all(r.row is not None for r in reopened)
        np.testing.assert_array_equal(reopened.load(3), original.load(3))


def make_stream(wav_files, num_shards=3):
    table = datasets.Dataset.from_dict(
        {"audio": [{"path": p.name, "bytes": p.read_bytes()} for p in wav_files], "text": TEXTS}
    )
    return table.to_iterable_dataset(num_shards=num_shards)


def test_iterable_dataset_streams_every_example(wav_files):
    stream = open_audio_source(make_stream(wav_files))
    assert isinstance(stream, AudioStream) and stream.n_shards == 3
    examples = list(StreamingAudioDataset(stream))
    assert [e["transcript"] for e in examples] == TEXTS
    assert [len(e["input_values"]) for e in examples] == expected_lengths(wav_files)
    assert all(e["input_values"].dtype == torch.float32 for e in examples)


def test_iterable_dataset_ranks_are_disjoint_and_cover_everything(wav_files):
    stream = open_audio_source(make_stream(wav_files, num_shards=4))
    per_rank = [
        [e["transcript"] for e in StreamingAudioDataset(stream, num_replicas=2, rank=r)] for r in (0, 1)
    ]
    assert not set(per_rank[0]) & set(per_rank[1])
    assert sorted(per_rank[0] + per_rank[1]) == sorted(TEXTS)


def test_iterable_dataset_with_dataloader_workers(wav_files):
    stream = open_audio_source(make_stream(wav_files, num_shards=2))
    loader = DataLoader(
        StreamingAudioDataset(stream), batch_size=2, num_workers=2, collate_fn=AudioCollator()
    )
    seen = [t for batch in loader for t in batch["transcripts"]]
    assert sorted(seen) == sorted(TEXTS)


def test_streamed_bad_examples_are_checked_with_rules(tmp_path, wav_files):
    corrupt = write_corrupt(tmp_path / "bad.wav").read_bytes()
    table = datasets.Dataset.from_dict(
        {
            "audio": [
                {"path": None, "bytes": b}
                for b in (wav_files[1].read_bytes(), corrupt, wav_files[0].read_bytes())
            ],
            "text": ["ONE", "BAD", "zero"],
        }
    )
    rules = ValidationRules(vocabulary="ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    stream = open_audio_source(table.to_iterable_dataset())
    with pytest.raises(Exception, match=r"IterableDataset\[1\]: cannot decode"):
        list(StreamingAudioDataset(stream, rules=rules))
    lenient = StreamingAudioDataset(stream, rules=rules, on_bad="skip")
    batch = AudioCollator()(list(lenient))
    assert batch["transcripts"] == ["ONE"]
    assert sorted(s["reason"] for s in batch["skipped"]) == ["bad_transcript", "unreadable"]
    assert lenient.skip_report.counts == {"unreadable": 1, "bad_transcript": 1}
    assert lenient.skip_report.seen == 3


def test_audiofolder_builder_when_torchcodec_is_installed(tmp_path, wav_files):
    # datasets' audiofolder builder encodes its Audio feature with torchcodec even when asked not to
    # decode, so it only works where torchcodec is installed; our folder reader covers the same layout.
    pytest.importorskip("torchcodec")
    folder = wav_files[0].parent
    (folder / "metadata.csv").write_text(
        "file_name,transcription\n" + "".join(f"{p.name},{t}\n" for p, t in zip(wav_files, TEXTS)),
        encoding="utf-8",
    )
    built = datasets.load_dataset("audiofolder", data_dir=str(folder), split="train")
    source = open_audio_source(built)
    assert sorted(r.transcript for r in source) == sorted(TEXTS)
    native = open_audio_source(folder)
    assert [r.transcript for r in native] == TEXTS
