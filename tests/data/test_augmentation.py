"""Speed perturbation, the random equaliser and additive noise for training audio."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wav2vec_hf.data.augmentation import WaveformAugmentation, parse_range, random_equaliser

RATE = 16000


def _tone(seconds: float = 1.0, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def _peak_hz(waveform: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(waveform))
    return float(np.fft.rfftfreq(len(waveform), 1 / RATE)[int(np.argmax(spectrum))])


@pytest.mark.parametrize("factor", [0.8, 1.25])
def test_speed_changes_duration_and_pitch_by_the_factor(factor):
    out = WaveformAugmentation(speed=(factor, factor))(_tone(), RATE)
    assert out.dtype == np.float32
    assert abs(len(out) - RATE / factor) <= 1
    assert _peak_hz(out) == pytest.approx(440 * factor, rel=0.01)


def test_noise_is_added_at_the_drawn_snr():
    clean = _tone(2.0)
    noisy = WaveformAugmentation(noise_snr_db=(10.0, 10.0))(clean, RATE)
    noise = noisy - clean
    snr = 10 * np.log10(np.mean(clean.astype(np.float64) ** 2) / np.mean(noise.astype(np.float64) ** 2))
    assert snr == pytest.approx(10.0, abs=0.2)


def test_draws_follow_torch_seed_and_differ_between_utterances():
    augment = WaveformAugmentation(speed=(0.8, 1.2), noise_snr_db=(20.0, 30.0))
    torch.manual_seed(3)
    first = [augment(_tone(0.5), RATE) for _ in range(4)]
    torch.manual_seed(3)
    again = [augment(_tone(0.5), RATE) for _ in range(4)]
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert len({len(w) for w in first}) > 1  # a fresh speed per call


def test_random_equaliser_is_smooth_bounded_and_varies():
    noise = np.random.default_rng(0).standard_normal(2 * RATE).astype(np.float32)
    gains = []
    for seed in range(5):
        out = random_equaliser(noise, 6.0, np.random.default_rng(seed))
        assert out.dtype == np.float32 and out.shape == noise.shape
        gain_db = 20 * np.log10(np.abs(np.fft.rfft(out)) / np.abs(np.fft.rfft(noise)))
        assert np.abs(gain_db).max() <= 6.0 + 1e-3  # never more than the bound either way
        assert np.abs(np.diff(gain_db)).max() < 0.01  # a smooth curve, no notches
        gains.append(gain_db)
    assert np.std([g[len(g) // 4] for g in gains]) > 0.5  # another curve per draw
    assert WaveformAugmentation.from_options(None, None, 6.0).eq_db == 6.0
    with pytest.raises(ValueError, match="--random_eq_db"):
        WaveformAugmentation.from_options(None, None, 50.0)


def test_inactive_augmentation_is_none_and_empty_audio_passes():
    assert WaveformAugmentation.from_options(None, "") is None
    empty = np.zeros(0, dtype=np.float32)
    assert WaveformAugmentation(speed=(0.9, 1.1))(empty, RATE) is empty


@pytest.mark.parametrize("text", ["0.9;1.1", "1.1,0.9", "0.1,1.0", "fast", "1,2,3"])
def test_malformed_ranges_name_the_option(text):
    with pytest.raises(ValueError, match="--speed_perturbation"):
        WaveformAugmentation.from_options(text, None)


def test_one_number_is_a_fixed_value():
    assert parse_range("1.1", "--x", low=0.5, high=2.0) == (1.1, 1.1)


def test_finetune_refuses_a_bad_range_with_exit_2(capsys, tmp_path):
    from wav2vec_hf.cli import main

    code = main(["finetune", "--model", "wav2vec2-small-cpu", "--train", str(tmp_path / "t.tsv"),
                 "--output_dir", str(tmp_path / "out"), "--speed_perturbation", "1.2,0.8"])  # fmt: skip
    assert code == 2
    assert "--speed_perturbation" in capsys.readouterr().err


def test_ctc_dataset_augments_training_audio_only(tmp_path):
    """The training set's examples change length with the speed; the same set without it does not."""
    import soundfile as sf

    from wav2vec_hf.data import open_audio_source
    from wav2vec_hf.finetuning.data import CTCDataset, prepare_ctc_set
    from wav2vec_hf.finetuning.vocabulary import TextNormalizer, Vocabulary

    rows = ["path\ttranscript"]
    for i in range(3):
        sf.write(tmp_path / f"{i}.wav", _tone(0.6, 300 + 50 * i), RATE)
        rows.append(f"{tmp_path / f'{i}.wav'}\tYES")
    (tmp_path / "t.tsv").write_text("\n".join(rows) + "\n")
    audio = open_audio_source(str(tmp_path / "t.tsv"))
    vocabulary = Vocabulary.from_transcripts(["YES"], TextNormalizer())
    ctc_set = prepare_ctc_set(audio, vocabulary, lambda samples: samples // 320)
    plain = CTCDataset(ctc_set)
    sped = CTCDataset(ctc_set, augment=WaveformAugmentation(speed=(1.2, 1.2)))
    assert len(plain[0]["input_values"]) == int(0.6 * RATE)
    assert abs(len(sped[0]["input_values"]) - 0.6 * RATE / 1.2) <= 1
    assert sped[0]["labels"] == plain[0]["labels"]
