"""The one audio loader: formats, sources, mono mixdown, resampling quality, normalisation, bad files."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
import soxr

from tests.data.audio_files import sine, write_corrupt, write_empty, write_nan, write_tone, write_wav
from wav2vec_hf.data.audio import (
    AudioError,
    DecodedAudio,
    load_audio,
    load_payload,
    normalize_waveform,
    prepare_waveform,
    read_audio_info,
    resample,
    resampled_length,
)


def test_wav_path_bytes_and_file_object_give_the_same_waveform(tmp_path):
    path = write_tone(tmp_path / "a.wav", 4000, rate=16000)
    from_path = load_audio(path)
    from_str = load_audio(str(path))
    from_bytes = load_audio(path.read_bytes())
    with open(path, "rb") as handle:
        from_handle = load_audio(handle)
    assert from_path.dtype == np.float32 and from_path.shape == (4000,)
    for other in (from_str, from_bytes, from_handle):
        np.testing.assert_array_equal(from_path, other)
    # PCM_16 quantisation is the only difference from the written sine.
    np.testing.assert_allclose(from_path, sine(440.0, 16000, 4000), atol=1 / 32768 + 1e-6)


@pytest.mark.parametrize(
    ("fmt", "subtype", "suffix", "tolerance"),
    [
        ("FLAC", "PCM_24", ".flac", 1e-6),
        ("OGG", "VORBIS", ".ogg", 0.05),
        ("MP3", "MPEG_LAYER_III", ".mp3", 0.1),
    ],
)
def test_compressed_formats_decode_to_the_right_length_and_signal(tmp_path, fmt, subtype, suffix, tolerance):
    reference = sine(440.0, 16000, 16000)
    path = tmp_path / f"tone{suffix}"
    sf.write(path, reference, 16000, format=fmt, subtype=subtype)
    decoded = load_audio(path)
    assert decoded.shape == (16000,)
    # Lossy codecs add delay/ringing at the edges; compare the steady middle.
    middle = slice(4000, 12000)
    assert np.sqrt(np.mean((decoded[middle] - reference[middle]) ** 2)) < tolerance


def test_stereo_is_mixed_down_by_averaging_and_strict_mono_refuses_it(tmp_path):
    left, right = sine(300.0, 16000, 3200), sine(700.0, 16000, 3200, amplitude=0.25)
    path = write_wav(tmp_path / "stereo.wav", np.stack([left, right], axis=1), subtype="FLOAT")
    assert read_audio_info(path).channels == 2
    np.testing.assert_allclose(load_audio(path), (left + right) / 2, atol=1e-7)
    with pytest.raises(AudioError, match=r"stereo\.wav: has 2 channels.*strict_mono=False") as caught:
        load_audio(path, strict_mono=True)
    assert caught.value.reason == "multichannel"


def test_strict_rate_refuses_other_rates_and_default_resamples(tmp_path):
    path = write_tone(tmp_path / "r8k.wav", 800, rate=8000)
    assert load_audio(path).shape == (1600,)
    assert load_audio(path, target_rate=None).shape == (800,)
    with pytest.raises(
        AudioError, match=r"r8k\.wav: sample rate is 8000 Hz but 16000 Hz was required"
    ) as caught:
        load_audio(path, expected_rate=16000)
    assert caught.value.reason == "wrong_rate"


def test_one_khz_sine_resampled_from_8k_to_16k_keeps_frequency_and_amplitude():
    rate_in, rate_out, amplitude = 8000, 16000, 0.5
    resampled = resample(sine(1000.0, rate_in, rate_in, amplitude), rate_in, rate_out)
    assert resampled.dtype == np.float32 and resampled.shape == (rate_out,)
    spectrum = np.abs(np.fft.rfft(resampled * np.hanning(rate_out)))
    assert int(np.argmax(spectrum)) == 1000  # 1 s of audio: bins are 1 Hz apart
    middle = slice(1000, rate_out - 1000)  # away from the filter's edge transients
    rms = float(np.sqrt(np.mean(resampled[middle] ** 2)))
    assert rms == pytest.approx(amplitude / np.sqrt(2), rel=1e-4)
    np.testing.assert_allclose(
        resampled[middle], sine(1000.0, rate_out, rate_out, amplitude)[middle], atol=1e-4
    )
    # Nothing above the original Nyquist frequency (4 kHz) but numerical noise: below -100 dB.
    power = spectrum**2
    assert 10 * np.log10(power[4100:].sum() / power.sum()) < -100


@pytest.mark.parametrize(
    ("rate_in", "rate_out"), [(8000, 16000), (22050, 16000), (44100, 16000), (16000, 8000)]
)
def test_resampled_length_is_exactly_what_the_resampler_returns(rate_in, rate_out):
    rng = np.random.default_rng(rate_in)
    for count in [1, 2, 3, 101, 2384, *rng.integers(1, 50_000, 30).tolist()]:
        produced = len(soxr.resample(np.zeros(count, np.float32), rate_in, rate_out, quality="HQ"))
        assert resampled_length(count, rate_in, rate_out) == produced, count
        assert abs(resampled_length(count, rate_in, rate_out) - count * rate_out / rate_in) <= 0.5


def test_normalisation_gives_zero_mean_unit_variance_and_matches_the_hf_formula(tmp_path):
    waveform = 0.1 * sine(220.0, 16000, 8000) + 0.05
    normalized = normalize_waveform(waveform)
    assert abs(float(normalized.mean())) < 1e-5
    assert float(normalized.var()) == pytest.approx(1.0, rel=1e-4)
    expected = (waveform - waveform.mean()) / np.sqrt(waveform.var() + 1e-7)
    np.testing.assert_allclose(normalized, expected, rtol=1e-5, atol=1e-5)
    path = write_wav(tmp_path / "n.wav", waveform, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(path, normalize=True), normalized, atol=1e-6)
    # Silence stays finite (the epsilon), as HF's feature extractor does.
    assert np.isfinite(normalize_waveform(np.zeros(100, np.float32))).all()


def test_decoded_arrays_go_through_the_same_steps():
    stereo_channels_first = np.stack([sine(500.0, 8000, 800), sine(500.0, 8000, 800)])  # (2, 800)
    out = load_payload(DecodedAudio(stereo_channels_first, 8000), 16000)
    assert out.shape == (1600,)
    assert DecodedAudio(stereo_channels_first, 8000).info().channels == 2
    assert prepare_waveform(np.ones((5, 2), np.float32), 16000, channels_first=False).shape == (5,)
    with pytest.raises(AudioError, match="NaN or infinite"):
        prepare_waveform(np.array([0.0, np.nan, 1.0]), 16000, name="row 7")


def test_corrupt_file_raises_naming_the_file_and_fix(tmp_path):
    path = write_corrupt(tmp_path / "broken.wav")
    with pytest.raises(AudioError, match=r"broken\.wav: cannot decode this audio.*re-encode") as caught:
        load_audio(path)
    assert caught.value.reason == "unreadable" and caught.value.path == str(path)
    with pytest.raises(AudioError, match="cannot decode"):
        read_audio_info(path)
    with pytest.raises(AudioError, match="bytes of audio"):
        load_audio(path.read_bytes())


def test_empty_missing_and_nan_files_raise_with_their_reason(tmp_path):
    cases = [
        (write_empty(tmp_path / "empty.wav"), "empty", "0 samples"),
        (tmp_path / "absent.wav", "missing_file", "file not found"),
        (write_nan(tmp_path / "nan.wav"), "non_finite", "2 of 1600 samples are NaN or infinite"),
    ]
    for path, reason, text in cases:
        with pytest.raises(AudioError, match=text) as caught:
            load_audio(path)
        assert caught.value.reason == reason
        assert str(path) in str(caught.value)


def test_truncated_files_are_caught(tmp_path):
    # FLAC: the header still claims the full length, the decoder loses sync: an error, not short audio.
    flac = write_tone(tmp_path / "full.flac", 16000)
    cut_flac = tmp_path / "cut.flac"
    cut_flac.write_bytes(flac.read_bytes()[: len(flac.read_bytes()) // 2])
    assert read_audio_info(cut_flac).frames == 16000
    with pytest.raises(AudioError, match=r"cut\.flac: cannot decode") as caught:
        load_audio(cut_flac)
    assert caught.value.reason == "unreadable"
    # WAV: libsndfile reports the frames actually present, so a manifest's num_samples disagrees
    # (validation's length_mismatch) and decoding returns exactly those frames.
    wav = write_tone(tmp_path / "full.wav", 16000)
    cut_wav = tmp_path / "cut.wav"
    cut_wav.write_bytes(wav.read_bytes()[: len(wav.read_bytes()) // 2])
    frames = read_audio_info(cut_wav).frames
    assert frames < 16000
    assert load_audio(cut_wav).shape == (frames,)


def test_bad_resample_quality_is_refused():
    with pytest.raises(ValueError, match="quality"):
        resample(np.zeros(10, np.float32), 8000, 16000, quality="LQ")


def test_bytes_buffer_from_memory(tmp_path):
    buffer = io.BytesIO()
    sf.write(buffer, sine(440.0, 22050, 2205), 22050, format="WAV")
    assert load_audio(buffer.getvalue()).shape == (resampled_length(2205, 22050, 16000),)
