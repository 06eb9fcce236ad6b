"""The real speech set (../shared/data/real): every row loads through the data layer as the README says."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from wav2vec_hf.data import AudioDataset, LengthBatchSampler, ValidationRules, open_audio_source


def read_manifest(path):
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


@pytest.fixture(scope="module")
def labeled(real_data_dir):
    return open_audio_source(real_data_dir / "manifest.tsv")


@pytest.fixture(scope="module")
def unlabeled(real_data_dir):
    return open_audio_source(real_data_dir / "unlabeled.tsv")


def test_every_row_validates_and_matches_the_manifest(real_data_dir, labeled, unlabeled):
    for source, name, count in ((labeled, "manifest.tsv", 2026), (unlabeled, "unlabeled.tsv", 77)):
        rows = read_manifest(real_data_dir / name)
        assert len(rows) == count == len(source)
        assert source.skip_report.failed_count == 0
        for row, record in zip(rows, source):
            assert record.path == str(real_data_dir / row["path"])
            assert record.num_samples == int(row["num_samples"])  # read from the file's header
            assert record.sample_rate == int(row["sample_rate"])
            assert record.speaker == row["speaker"]
            assert record.transcript == (row["transcript"] or None)
    assert all(r.transcript is None for r in unlabeled)
    assert {r.sample_rate for r in list(labeled) + list(unlabeled)} == {8000, 16000, 22050, 44100}


def test_transcripts_fit_the_documented_alphabet(real_data_dir):
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ'"
    rules = ValidationRules(vocabulary=alphabet, require_transcript=True, min_samples=400, strict_mono=False)
    assert len(open_audio_source(real_data_dir / "manifest.tsv", rules=rules)) == 2026


def test_every_file_decodes_to_16k_mono_with_the_expected_length(labeled, unlabeled):
    for source in (labeled, unlabeled):
        lengths = source.lengths(16_000)
        for i, record in enumerate(source):
            waveform = source.load(i)
            assert waveform.dtype == np.float32 and waveform.ndim == 1
            assert abs(len(waveform) - record.num_samples * 16_000 / record.sample_rate) <= 1
            assert len(waveform) == lengths[i]
            assert np.isfinite(waveform).all() and 0 < np.abs(waveform).max() <= 1.5


def test_jfk_is_stereo_44k_and_comes_out_mono_16k(labeled):
    index = next(i for i, r in enumerate(labeled) if r.id == "jfk/jfk")
    record = labeled[index]
    assert (record.channels, record.sample_rate, record.num_samples) == (2, 44_100, 485_100)
    waveform = labeled.load(index)
    assert waveform.shape == (176_000,)
    assert record.transcript.startswith("AND SO MY FELLOW AMERICANS")


def test_real_data_batches_within_budget(labeled):
    dataset = AudioDataset(labeled, crop_samples=80_000)
    sampler = LengthBatchSampler(dataset.lengths, 400_000, seed=0)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(len(labeled)))
    assert all(len(b) * int(dataset.lengths[b].max()) <= 400_000 for b in batches)
