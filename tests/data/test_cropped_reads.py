"""Random crops are decoded alone (issue 19): files at the model's rate give the very samples of
decoding the whole file and cropping it, with only the crop read from disk; files at other rates
read the crop plus a margin and resample only that, giving the whole file's samples to float rounding."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from tests.data.audio_files import sine, write_tone, write_wav
from wav2vec_hf.data import AudioDataset, open_audio_source
from wav2vec_hf.data import audio as audio_module
from wav2vec_hf.data.validation import ValidationRules
from wav2vec_hf.pretraining.data import CachedAudioSet

CROP = 4000


@pytest.fixture()
def source(tmp_path):
    stereo = np.stack([sine(220, 16000, 20000), sine(330, 16000, 20000, amplitude=0.2)], axis=1)
    files = [
        write_tone(tmp_path / "long.flac", 30000, frequency=180),
        write_tone(tmp_path / "wav.wav", 24000, frequency=260),
        write_wav(tmp_path / "stereo.wav", stereo),
        write_tone(tmp_path / "eight_k.wav", 12000, rate=8000, frequency=300),  # other rates: resampled crops
        write_wav(tmp_path / "cd.flac", np.random.default_rng(0).uniform(-0.5, 0.5, 60000), 44100),
        write_wav(
            tmp_path / "stereo_48k.wav", np.stack([sine(200, 48000, 50000), sine(90, 48000, 50000)], 1), 48000
        ),
        write_tone(tmp_path / "short.wav", 3000),  # shorter than the crop: whole file
        write_tone(tmp_path / "short_22k.wav", 4500, rate=22050),  # 3265 samples at 16 kHz: whole file
    ]
    manifest = tmp_path / "list.tsv"
    manifest.write_text("path\n" + "\n".join(str(f) for f in files) + "\n")
    return open_audio_source(manifest, validation_cache=False)


@pytest.fixture()
def reads(monkeypatch):
    """The ``frames`` each read of the data layer asked for (-1: the whole file): ``soundfile.read``
    calls, and ``SoundFile.read`` calls made outside them (window reads)."""
    asked = []
    inside = []
    real_read, real_method = sf.read, sf.SoundFile.read

    def counting(*args, **kwargs):
        asked.append(kwargs.get("frames", -1))
        inside.append(True)
        try:
            return real_read(*args, **kwargs)
        finally:
            inside.pop()

    def counting_method(self, frames=-1, *args, **kwargs):
        if not inside:
            asked.append(frames)
        return real_method(self, frames, *args, **kwargs)

    monkeypatch.setattr(audio_module.sf, "read", counting)
    monkeypatch.setattr(audio_module.sf.SoundFile, "read", counting_method)
    return asked


@pytest.mark.parametrize("random_crop", [True, False])
def test_window_reads_give_the_samples_of_whole_reads(source, reads, random_crop):
    windowed = AudioDataset(source, crop_samples=CROP, random_crop=random_crop, seed=7, normalize=True)
    whole = AudioDataset(
        CachedAudioSet(source), crop_samples=CROP, random_crop=random_crop, seed=7, normalize=True
    )
    for epoch in (0, 1, 2):
        for index in range(len(source)):
            reads.clear()
            got = windowed[(epoch, index)]["input_values"].numpy()
            asked = list(reads)
            expected = whole[(epoch, index)]["input_values"].numpy()
            record = source[index]
            name = record.path.rsplit("/", 1)[-1]
            if name.startswith("short"):
                assert asked == [-1] and np.array_equal(got, expected), name
            elif record.sample_rate == 16000:
                assert asked == [CROP] and np.array_equal(got, expected), (epoch, index)
            else:
                (frames,) = asked
                assert CROP * record.sample_rate / 16000 < frames < record.num_samples, name
                assert got.shape == expected.shape == (CROP,)
                np.testing.assert_allclose(got, expected, atol=2e-5, err_msg=f"{name} epoch {epoch}")
                moved = not np.array_equal(got, windowed[(epoch + 1, index)]["input_values"].numpy())
                assert moved == random_crop, name


def test_crops_move_with_the_epoch(source):
    dataset = AudioDataset(source, crop_samples=CROP, seed=7)
    assert not np.array_equal(
        dataset[(0, 0)]["input_values"].numpy(), dataset[(1, 0)]["input_values"].numpy()
    )


@pytest.mark.parametrize("normalize", [False, True])
def test_a_batch_is_decoded_into_one_tensor_with_the_samples_of_single_reads(source, normalize):
    """``__getitems__`` (the DataLoader's batched fetch) decodes the crops of mono 16 kHz files into
    the rows of one tensor that the collator returns as the batch; every row holds the samples that
    ``__getitem__`` gives, and a batch mixing in other files is collated as before."""
    from wav2vec_hf.data import AudioCollator

    dataset = AudioDataset(source, crop_samples=CROP, seed=7, normalize=normalize)
    collator = AudioCollator(crop_to_shortest=True, seed=7, return_attention_mask=False)
    names = [source[i].path.rsplit("/", 1)[-1] for i in range(len(source))]
    mono_16k = [names.index("long.flac"), names.index("wav.wav")]
    for epoch in (0, 1):
        keys = [(epoch, index) for index in mono_16k]
        examples = dataset.__getitems__(keys)
        batch = collator(examples)
        rows, _ = examples[0]["batch_row"]
        assert batch["input_values"] is rows  # handed on, not copied
        for row, key in enumerate(keys):
            assert np.array_equal(batch["input_values"][row].numpy(), dataset[key]["input_values"].numpy())
        mixed_keys = [(epoch, index) for index in range(len(source))]
        mixed = collator(dataset.__getitems__(mixed_keys))
        single = collator([dataset[key] for key in mixed_keys])
        assert mixed["ids"] == single["ids"] and np.array_equal(
            mixed["input_values"].numpy(), single["input_values"].numpy()
        )


def test_a_bad_file_in_a_decoded_batch_is_skipped_and_counted(tmp_path):
    """A file that breaks after validation, in a batch decoded into one tensor, is skipped under
    ``on_bad="skip"`` (counted, reported) and the rest of the batch keeps its samples."""
    from wav2vec_hf.data import AudioCollator

    files = [write_tone(tmp_path / f"f{i}.wav", 9000, frequency=200 + 40 * i) for i in range(3)]
    manifest = tmp_path / "list.tsv"
    manifest.write_text("path\n" + "\n".join(str(f) for f in files) + "\n")
    source = open_audio_source(manifest, validation_cache=False)
    dataset = AudioDataset(source, crop_samples=CROP, seed=3, on_bad="skip")
    expected = [dataset[(0, i)]["input_values"].numpy() for i in (0, 2)]
    files[1].write_bytes(b"RIFF broken")
    batch = AudioCollator(crop_to_shortest=True, seed=3)(dataset.__getitems__([(0, 0), (0, 1), (0, 2)]))
    assert batch["input_values"].shape == (2, CROP)
    assert np.array_equal(batch["input_values"][0].numpy(), expected[0])
    assert np.array_equal(batch["input_values"][1].numpy(), expected[1])
    assert [s["path"] for s in batch["skipped"]] == [str(files[1])]
    assert dataset.skip_report.failed_count == 1


def test_a_set_that_keeps_whole_utterances_gets_no_batch_rows(source, monkeypatch):
    """With ``--cache_audio`` (a set that keeps whole utterances and gives no windows) the batched
    fetch allocates no rows it would not fill: every example is ``__getitem__``'s."""
    from wav2vec_hf.data import datasets as datasets_module

    def no_rows(*args, **kwargs):
        raise AssertionError("batch rows allocated for a set that gives no windows")

    monkeypatch.setattr(datasets_module, "batch_tensor", no_rows)
    cached = AudioDataset(CachedAudioSet(source), crop_samples=CROP, seed=7)
    keys = [(0, index) for index in range(len(source))]
    examples = cached.__getitems__(keys)
    assert all("batch_row" not in example for example in examples)
    for key, example in zip(keys, examples, strict=True):
        assert np.array_equal(example["input_values"].numpy(), cached[key]["input_values"].numpy())


def test_only_float_coded_windows_are_scanned_for_nan(tmp_path, monkeypatch):
    """Integer-coded files (PCM WAV, FLAC) cannot decode to NaN/inf, so their windows skip the scan;
    a float WAV's window is still scanned, and a NaN in the crop names the file."""
    pcm = write_tone(tmp_path / "pcm.wav", 20000)
    flac = write_tone(tmp_path / "pcm.flac", 20000)
    samples = sine(200, 16000, 20000).astype(np.float32)
    samples[15000] = np.nan
    floats = tmp_path / "float.wav"
    sf.write(floats, samples, 16000, subtype="FLOAT")
    assert audio_module.read_audio_window(str(pcm), 100, 50).integer_coded
    assert audio_module.read_audio_window(str(flac), 100, 50).integer_coded
    assert not audio_module.read_audio_window(str(floats), 100, 50).integer_coded

    manifest = tmp_path / "list.tsv"
    manifest.write_text(f"path\n{pcm}\n{floats}\n")
    source = open_audio_source(manifest, rules=ValidationRules(decode=False), validation_cache=False)
    scans = []
    real_isfinite = np.isfinite
    monkeypatch.setattr(audio_module.np, "isfinite", lambda x: scans.append(len(x)) or real_isfinite(x))
    source.load_window(0, 0, CROP)
    assert scans == []
    source.load_window(1, 0, CROP)  # float-coded, finite in this window: scanned, no error
    assert scans == [CROP]
    with pytest.raises(audio_module.AudioError, match=r"float\.wav.*NaN or infinite"):
        source.load_window(1, 14000, CROP)
