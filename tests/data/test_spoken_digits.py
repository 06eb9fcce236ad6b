"""Synthetic spoken digits: ten words per voice, reproducible, at the requested rate."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import soundfile as sf

from wav2vec_hf.recipes.spoken_digits import DIGIT_WORDS, synthesize_digits


def _rows(table):
    with open(table, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_every_voice_says_the_ten_digits_at_8k(tmp_path):
    rows = _rows(synthesize_digits(tmp_path, 3, seed=1))
    assert [row["transcript"] for row in rows] == list(DIGIT_WORDS) * 3
    assert len({row["speaker"] for row in rows}) == 3
    for row in rows[:10]:
        audio, rate = sf.read(row["path"])
        assert rate == 8000 and 0.2 < len(audio) / rate < 2.0 and np.abs(audio).max() > 0.05


def test_same_arguments_same_audio_and_other_seed_other_voices(tmp_path):
    a = _rows(synthesize_digits(tmp_path / "a", 2, seed=0))
    b = _rows(synthesize_digits(tmp_path / "b", 2, seed=0))
    c = _rows(synthesize_digits(tmp_path / "c", 2, seed=5))
    assert all(
        sf.read(x["path"])[0].tolist() == sf.read(y["path"])[0].tolist() for x, y in zip(a, b, strict=True)
    )
    assert [r["speaker"] for r in a] != [r["speaker"] for r in c]


def test_no_voice_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="at least 1"):
        synthesize_digits(tmp_path, 0)
