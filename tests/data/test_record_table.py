"""RecordTable: validated utterances as columns, equal to the records they were built from, and small."""

from __future__ import annotations

import itertools
import pickle
import random
from pathlib import Path

import numpy as np
import pytest

from tests.data.audio_files import write_tone
from wav2vec_hf.data import AudioRecord, AudioSet, open_audio_source
from wav2vec_hf.data.audio import resampled_length
from wav2vec_hf.data.record_table import PackedStrings, RecordTable
from wav2vec_hf.data.records import join_path


def random_records(count: int, seed: int = 0) -> list[AudioRecord]:
    """Records mixing every case: ids inside / outside their path, unicode, None columns, dataset rows."""
    rng = random.Random(seed)
    records = []
    for i in range(count):
        relative = f"spk{i % 7}/utt-{i:05d}{rng.choice(['', 'é', 'ü中'])}"
        path = f"/corpus/{relative}.flac" if rng.random() < 0.8 else f"dataset[{i}]"
        records.append(
            AudioRecord(
                id=relative if rng.random() < 0.7 else f"other-{i}-ß",
                path=path,
                num_samples=rng.randrange(1, 10**9),
                sample_rate=rng.choice([8000, 16000, 22050, 44100, 48000]),
                transcript=rng.choice([None, "", "HELLO WORLD", "ÇA VA"]),
                speaker=rng.choice([None, f"s{i % 3}"]),
                channels=rng.choice([1, 2, 6]),
                row=i if path.startswith("dataset") else None,
            )
        )
    return records


def test_table_gives_back_every_record_as_it_was_built():
    records = random_records(500)
    table = RecordTable.from_records(records)
    assert len(table) == 500
    assert [table[i] for i in range(len(table))] == records
    assert list(table) == records and table == records
    assert table[-1] == records[-1] and table[-500] == records[0]
    for bad in (500, -501):
        with pytest.raises(IndexError):
            table[bad]
    assert table[10:20] == records[10:20] and table[::-7] == records[::-7]
    order = np.random.default_rng(0).permutation(500)[:123]
    assert list(table.take(order)) == [records[i] for i in order]
    assert table.take([]) == []
    assert all(
        table.id(i) == r.id and table.path(i) == r.path and table.row(i) == r.row
        for i, r in enumerate(records)
    )


def test_columns_that_are_none_everywhere_and_ids_inside_paths_cost_nothing():
    records = [
        AudioRecord(id=f"a/b{i}", path=f"/data/a/b{i}.wav", num_samples=16000 + i, sample_rate=16000)
        for i in range(1000)
    ]
    table = RecordTable.from_records(records)
    assert table == records
    path_bytes = sum(len(r.path.encode()) for r in records)
    # offsets (8) + id span (8) + samples (8) + rate (4) + channels (2): the bound the issue sets is 100.
    assert (table.nbytes - path_bytes) / len(records) <= 32
    assert table.take(np.arange(0, 1000, 3)) == records[::3]


def test_packed_strings_keep_none_apart_from_empty():
    strings = ["", None, "x", "ünïcode", None, "a\tb"]
    packed = PackedStrings.of(strings)
    assert [packed[i] for i in range(len(strings))] == strings
    taken = packed.take(np.array([5, 1, 0, 3]))
    assert [taken[i] for i in range(4)] == ["a\tb", None, "", "ünïcode"]


def test_lengths_are_the_exact_resampled_lengths():
    records = random_records(400, seed=3)
    table = RecordTable.from_records(records)
    for target in (16000, 8000, 44100):
        expected = [resampled_length(r.num_samples, r.sample_rate, target) for r in records]
        assert table.lengths(target).tolist() == expected
    assert np.allclose(table.durations(), [r.duration for r in records])


def test_join_path_is_pathlibs_string():
    roots = [str(Path(r)) for r in ("/a/b", "/a/b/", "/", "rel", ".", "a/./b", "a//b")]
    relatives = [
        "x.wav",
        "d/x.wav",
        "./x.wav",
        "d//x.wav",
        "d/./x.wav",
        "/abs/x.wav",
        "d/",
        "../x.wav",
        ".",
        "ü b/x",
    ]
    for root, relative in itertools.product(roots, relatives):
        assert join_path(root, relative) == str(Path(root) / relative), (root, relative)


def test_opened_sets_hold_a_table_that_subsets_and_pickles(tmp_path):
    root = tmp_path / "audio"
    rows = []
    for i in range(12):
        write_tone(root / f"s{i % 2}" / f"u{i}.wav", 1600 + 100 * i, rate=8000 if i % 3 else 16000)
        rows.append(f"s{i % 2}/u{i}.wav\t{1600 + 100 * i}")
    manifest = tmp_path / "train.tsv"
    manifest.write_text(f"{root}\n" + "\n".join(rows) + "\n")
    audio = open_audio_source(manifest, validation_cache=False)
    assert isinstance(audio, AudioSet) and isinstance(audio.records, RecordTable)
    assert [r.id for r in audio] == [f"s{i % 2}/u{i}" for i in range(12)]
    assert audio.lengths(16000).tolist() == [
        resampled_length(1600 + 100 * i, 8000 if i % 3 else 16000, 16000) for i in range(12)
    ]
    part = audio.subset([11, 0, 5])
    assert [r.id for r in part] == ["s1/u11", "s0/u0", "s1/u5"]
    assert np.array_equal(part.load(0), audio.load(11))
    copy = pickle.loads(pickle.dumps(audio))  # DataLoader workers started with spawn get the set this way
    assert copy.records == audio.records and np.array_equal(copy.load(3), audio.load(3))


def test_a_large_manifest_is_compacted_and_still_whole(tmp_path, caplog):
    """From ``RELEASE_MEMORY_FROM`` entries the opened set is copied and the heap trimmed: same set."""
    from wav2vec_hf.data.sources import RELEASE_MEMORY_FROM

    root = tmp_path / "audio"
    write_tone(root / "one.wav", 800, rate=16000)
    write_tone(root / "two.wav", 1200, rate=8000)
    rows = [("one.wav", 800) if i % 5 else ("two.wav", 1200) for i in range(RELEASE_MEMORY_FROM)]
    manifest = tmp_path / "train.tsv"
    manifest.write_text(f"{root}\n" + "".join(f"{p}\t{n}\n" for p, n in rows))
    audio = open_audio_source(manifest, validation_cache=False, rules=None)
    assert len(audio) == RELEASE_MEMORY_FROM and isinstance(audio.records, RecordTable)
    assert audio.repeated.count == RELEASE_MEMORY_FROM - 2  # the set's report survived the copy
    assert [audio[i].id for i in (0, 1, 5, RELEASE_MEMORY_FROM - 1)] == ["two", "one", "two", "one"]
    assert audio.lengths(16000)[:5].tolist() == [2400, 800, 800, 800, 800]
    assert np.array_equal(audio.load(5), audio.load(0)) and len(audio.load(1)) == 800


def test_a_large_dataset_is_compacted_with_its_rows_shared_not_copied(monkeypatch):
    """A ``datasets.Dataset`` source settles like a manifest, and its reader (the rows) is not copied."""
    import datasets

    from wav2vec_hf.data import sources

    monkeypatch.setattr(sources, "RELEASE_MEMORY_FROM", 3)
    copied, trimmed = [], []
    monkeypatch.setattr(sources, "release_free_memory", lambda: trimmed.append(True))
    monkeypatch.setattr(
        sources.RowAudioReader, "__deepcopy__", lambda self, memo: copied.append(self) or self, raising=False
    )
    tone = np.sin(np.arange(1600) * 0.05).astype(np.float32)
    rows = datasets.Dataset.from_dict(
        {
            "audio": [{"array": tone * (i + 1) / 4, "sampling_rate": 16000} for i in range(3)],
            "text": ["A", "B", "C"],
        }
    )
    audio = open_audio_source(rows, validation_cache=False)
    assert len(audio) == 3 and [audio[i].transcript for i in range(3)] == ["A", "B", "C"]
    assert trimmed == [True] and copied == []  # the set was settled, but the rows behind it not copied
    np.testing.assert_allclose(audio.load(2), tone * 3 / 4, atol=1e-6)
