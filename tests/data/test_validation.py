"""Every bad-input case: a clear error before training (default) or a counted, reported skip."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from tests.data.audio_files import sine, write_corrupt, write_empty, write_nan, write_tone, write_wav
from wav2vec_hf.data import (
    AudioCollator,
    AudioDataset,
    AudioError,
    DataValidationError,
    SkipReport,
    ValidationRules,
    open_audio_source,
)
from wav2vec_hf.data.audio import load_audio

VOCABULARY = "ABCDEFGHIJKLMNOPQRSTUVWXYZ'"


def table(folder, rows, name="list.tsv"):
    """A transcript table ``path  num_samples  transcript`` (empty num_samples: not claimed)."""
    path = folder / name
    lines = ["path\tnum_samples\ttranscript"] + [
        f"{p}\t{n if n is not None else ''}\t{t}" for p, n, t in rows
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def mixed_folder(tmp_path):
    """One good file and one file per header-detectable problem."""
    write_tone(tmp_path / "good.wav", 3200)
    write_corrupt(tmp_path / "corrupt.wav")
    write_empty(tmp_path / "empty.wav")
    write_tone(tmp_path / "short.wav", 100)
    write_tone(tmp_path / "rate8k.wav", 1600, rate=8000)
    write_wav(tmp_path / "stereo.wav", np.stack([sine(200.0, 16000, 3200)] * 2, axis=1))
    write_tone(tmp_path / "liar.wav", 3000)
    write_tone(tmp_path / "accent.wav", 3200)
    write_tone(tmp_path / "unlabeled.wav", 3200)
    rows = [
        ("good.wav", 3200, "GOOD"),
        ("corrupt.wav", None, "BROKEN"),
        ("empty.wav", 0, "EMPTY"),
        ("short.wav", 100, "SHORT"),
        ("rate8k.wav", 1600, "RATE"),
        ("stereo.wav", 3200, "STEREO"),
        ("missing.wav", 3200, "GONE"),
        ("liar.wav", 9999, "LIAR"),
        ("accent.wav", 3200, "CAFÉ 42"),
        ("unlabeled.wav", 3200, ""),
    ]
    return table(tmp_path, rows)


STRICT = ValidationRules(
    min_samples=400, expected_rate=16000, strict_mono=True, vocabulary=VOCABULARY, require_transcript=True
)
EXPECTED_REASONS = {
    "unreadable": ["corrupt.wav"],
    "empty": ["empty.wav"],
    "too_short": ["short.wav"],
    "wrong_rate": ["rate8k.wav"],
    "multichannel": ["stereo.wav"],
    "missing_file": ["missing.wav"],
    "length_mismatch": ["liar.wav"],
    "bad_transcript": ["accent.wav"],
    "no_transcript": ["unlabeled.wav"],
}


def test_default_raises_one_error_listing_every_bad_file_and_its_fix(mixed_folder):
    with pytest.raises(DataValidationError) as caught:
        open_audio_source(mixed_folder, rules=STRICT)
    message = str(caught.value)
    assert message.startswith(f"9 of 10 utterances in {mixed_folder} failed validation")
    for reason, files in EXPECTED_REASONS.items():
        assert f"{reason}: 1 (fix: " in message
        for name in files:
            assert name in message
    assert "manifest says 9999 samples, the file has 3000" in message
    assert "'4', '2', 'É'" in message or "'2', '4', 'É'" in message
    assert f"{mixed_folder}:9" in message  # the table line of the bad transcript
    assert "on_bad='skip'" in message
    assert caught.value.report.counts == {reason: 1 for reason in EXPECTED_REASONS}


def test_skip_mode_keeps_the_good_file_and_counts_each_reason(mixed_folder):
    source = open_audio_source(mixed_folder, rules=STRICT, on_bad="skip")
    assert [r.id for r in source] == ["good"]
    report = source.skip_report
    assert report.seen == 10 and report.failed_count == 9
    assert {
        reason: [p.rsplit("/", 1)[-1] for p, _ in shown] for reason, shown in report.examples.items()
    } == (EXPECTED_REASONS)
    summary = report.summary()
    assert summary.startswith(f"{mixed_folder}: 9 of 10 utterances skipped")
    assert "multichannel: 1" in summary and "stereo.wav" in summary
    assert report.to_dict()["counts"]["too_short"] == 1


def test_lenient_rules_mix_down_stereo_resample_and_accept_unlabeled(mixed_folder):
    source = open_audio_source(mixed_folder, on_bad="skip")  # default rules
    kept = {r.id for r in source}
    assert kept == {"good", "short", "rate8k", "stereo", "accent", "unlabeled"}
    stereo = next(i for i, r in enumerate(source) if r.id == "stereo")
    assert source[stereo].channels == 2 and source.load(stereo).shape == (3200,)
    rate8k = next(i for i, r in enumerate(source) if r.id == "rate8k")
    assert source.load(rate8k).shape == (3200,)
    assert set(source.skip_report.counts) == {"unreadable", "empty", "missing_file", "length_mismatch"}


def test_manifest_sample_rate_must_match_the_file(tmp_path):
    write_tone(tmp_path / "x.wav", 1600, rate=16000)
    (tmp_path / "m.tsv").write_text("path\tsample_rate\nx.wav\t8000\n", encoding="utf-8")
    with pytest.raises(DataValidationError, match="manifest says 8000 Hz, the file is 16000 Hz"):
        open_audio_source(tmp_path / "m.tsv")
    relaxed = open_audio_source(tmp_path / "m.tsv", rules=ValidationRules(check_manifest=False))
    assert relaxed[0].sample_rate == 16000


def test_max_samples_rule_counts_long_files(tmp_path):
    write_tone(tmp_path / "long.wav", 8000, rate=8000)  # 16000 samples at 16 kHz
    write_tone(tmp_path / "ok.wav", 4000)
    source = open_audio_source(tmp_path, rules=ValidationRules(max_samples=10_000), on_bad="skip")
    assert [r.id for r in source] == ["ok"]
    assert source.skip_report.counts == {"too_long": 1}


def test_nan_file_is_found_by_decode_validation_before_training(tmp_path):
    write_tone(tmp_path / "fine.wav", 1600)
    write_nan(tmp_path / "nan.wav")
    with pytest.raises(DataValidationError, match=r"(?s)non_finite: 1.*nan\.wav: 2 of 1600 samples are NaN"):
        open_audio_source(tmp_path, rules=ValidationRules(decode=True))
    skipped = open_audio_source(tmp_path, rules=ValidationRules(decode=True), on_bad="skip")
    assert [r.id for r in skipped] == ["fine"] and skipped.skip_report.counts == {"non_finite": 1}


def test_nan_file_of_a_set_too_large_to_decode_up_front_fails_at_load_naming_the_file(tmp_path):
    write_tone(tmp_path / "fine.wav", 1600)
    write_nan(tmp_path / "nan.wav")
    # 0.2 s of audio over a limit of 0.1 s: headers only up front (as for a corpus over 10 hours).
    source = open_audio_source(tmp_path, rules=ValidationRules(decode_limit_hours=0.1 / 3600))
    assert len(source) == 2 and source.skip_report.decode_checked is False
    strict = AudioDataset(source)
    with pytest.raises(AudioError, match=r"nan\.wav: 2 of 1600 samples are NaN or infinite"):
        strict[1]
    lenient = AudioDataset(source, on_bad="skip")
    batch = AudioCollator()([lenient[0], lenient[1]])
    assert batch["ids"] == ["fine"] and batch["input_values"].shape == (1, 1600)
    assert [s["reason"] for s in batch["skipped"]] == ["non_finite"]
    assert lenient.skip_report.counts == {"non_finite": 1} and lenient.skip_report.seen == 2
    # The loop-side report fed from batches (what to do with DataLoader workers) agrees.
    loop_report = SkipReport(source="loop")
    loop_report.record_skipped(batch["skipped"])
    assert loop_report.counts == {"non_finite": 1}
    assert "nan.wav" in loop_report.examples["non_finite"][0][0]


def test_skip_reports_merge():
    first, second = SkipReport(source="a", seen=3), SkipReport(source="b", seen=4)
    first.add("empty", "x.wav", "x.wav: empty")
    second.add("empty", "y.wav", "y.wav: empty")
    second.add("too_short", "z.wav", "z.wav: short")
    first.merge(second)
    assert first.seen == 7 and first.counts == {"empty": 2, "too_short": 1}
    assert [p for p, _ in first.examples["empty"]] == ["x.wav", "y.wav"]


def test_on_bad_must_be_known(mixed_folder):
    with pytest.raises(ValueError, match="on_bad must be one of"):
        open_audio_source(mixed_folder, on_bad="ignore")


def test_many_entries_are_validated_with_threads_in_order(tmp_path):
    for i in range(300):
        write_tone(tmp_path / f"u{i:03d}.wav", 400 + i)
    source = open_audio_source(tmp_path)
    assert [r.num_samples for r in source] == [400 + i for i in range(300)]


# ----------------------------------------------------------------------------------------------------
# Issue 17: what the README promises is checked before training, and counts are right
# ----------------------------------------------------------------------------------------------------


def fairseq_manifest(folder, names, lengths):
    manifest = folder / "train.tsv"
    manifest.write_text(
        f"{folder}\n" + "".join(f"{n}\t{k}\n" for n, k in zip(names, lengths)), encoding="utf-8"
    )
    return manifest


def test_nan_file_fails_default_validation_of_a_small_set_naming_the_file(tmp_path):
    names = [f"u{i:02d}.wav" for i in range(39)] + ["nan.wav"]
    for name in names[:-1]:
        write_tone(tmp_path / name, 800)
    write_nan(tmp_path / "nan.wav", 800)
    manifest = fairseq_manifest(tmp_path, names, [800] * 40)
    # Default rules (what pretrain and finetune use): decoded up front, the set being under 10 hours.
    with pytest.raises(DataValidationError, match=r"(?s)1 of 40 utterances .*non_finite: 1.*nan\.wav"):
        open_audio_source(manifest)
    kept = open_audio_source(manifest, on_bad="skip")
    assert len(kept) == 39 and kept.skip_report.decode_checked is True
    assert kept.skip_report.summary().startswith(f"{manifest}: 1 of 40 utterances skipped\n  non_finite: 1")
    assert "nan.wav: 2 of 800 samples are NaN" in kept.skip_report.summary()


def test_a_file_skipped_at_load_in_every_epoch_is_counted_once():
    report = SkipReport(source="training audio", seen=40)
    skipped = [{"reason": "non_finite", "path": "nan.wav", "message": "nan.wav: 2 of 800 samples are NaN"}]
    for _epoch in range(3):
        report.record_skipped(skipped)
    assert report.counts == {"non_finite": 1}
    assert report.summary().splitlines()[0] == "training audio: 1 of 40 utterances skipped"
    unknown_total = SkipReport(source="loop")
    unknown_total.record_skipped(skipped)
    assert unknown_total.summary().splitlines()[0] == "loop: 1 utterance skipped"  # never "1 of 0"


def test_map_dataset_counts_distinct_utterances_over_epochs(tmp_path):
    write_tone(tmp_path / "fine.wav", 1600)
    write_nan(tmp_path / "nan.wav")
    source = open_audio_source(tmp_path, rules=ValidationRules(decode=False))
    dataset = AudioDataset(source, on_bad="skip")
    for _epoch in range(2):
        [dataset[i] for i in range(len(dataset))]
    assert dataset.skip_report.counts == {"non_finite": 1} and dataset.skip_report.seen == 2


def test_load_error_in_a_dataloader_worker_stays_an_audio_error_naming_the_file(tmp_path):
    from torch.utils.data import DataLoader

    write_nan(tmp_path / "nan.wav")
    source = open_audio_source(tmp_path, rules=ValidationRules(decode=False))
    loader = DataLoader(AudioDataset(source), batch_size=1, num_workers=1, collate_fn=AudioCollator())
    with pytest.raises(AudioError, match=r"nan\.wav: 2 of 1600 samples are NaN"):
        next(iter(loader))


def test_truncated_wav_is_refused_by_its_header(tmp_path):
    write_tone(tmp_path / "fine.wav", 1600)
    whole = write_tone(tmp_path / "cut.wav", 16000).read_bytes()
    (tmp_path / "cut.wav").write_bytes(whole[: len(whole) // 2])
    # Headers only: the check needs no decoding, so it holds for sets of any size.
    with pytest.raises(
        DataValidationError, match=r"(?s)truncated: 1.*cut\.wav: truncated: the header declares 16000"
    ):
        open_audio_source(tmp_path, rules=ValidationRules(decode=False))
    kept = open_audio_source(tmp_path, on_bad="skip")
    assert [r.id for r in kept] == ["fine"] and kept.skip_report.counts == {"truncated": 1}


def test_repeated_manifest_rows_are_kept_and_reported(tmp_path, caplog):
    names = [f"u{i}.wav" for i in range(4)]
    for name in names:
        write_tone(tmp_path / name, 800)
    rows = [*names, "u1.wav", "u1.wav", "u3.wav"]
    manifest = fairseq_manifest(tmp_path, rows, [800] * len(rows))
    with caplog.at_level("WARNING", logger="wav2vec_hf.data"):
        source = open_audio_source(manifest)
    assert len(source) == 7  # kept: fairseq manifests repeat rows on purpose to up-sample
    assert source.repeated.count == 3 and source.repeated.files == 2
    (message,) = [r.getMessage() for r in caplog.records if "repeat" in r.getMessage()]
    assert "3 rows repeat an earlier row's audio (2 files listed more than once)" in message
    assert f"u1.wav ({manifest}:3, {manifest}:6, {manifest}:7)" in message


def test_integer_arrays_are_scaled_as_pcm():
    from wav2vec_hf.data.audio import prepare_waveform

    pcm16 = np.array([-32768, 0, 16384], dtype=np.int16)
    assert prepare_waveform(pcm16, 16000).tolist() == [-1.0, 0.0, 0.5]
    pcm32 = np.array([-(2**31), 2**30], dtype=np.int32)
    assert prepare_waveform(pcm32, 16000).tolist() == [-1.0, 0.5]
    assert prepare_waveform(np.array([0, 128], dtype=np.uint8), 16000).tolist() == [-1.0, 0.0]
    with pytest.raises(AudioError, match="got dtype bool"):
        prepare_waveform(np.ones(4, dtype=bool), 16000)


@contextlib.contextmanager
def permissions_apply():
    """Run the block as a user that file permissions apply to: root reads any file, so as root the
    block runs with the effective uid and gid of ``nobody`` (65534)."""
    if os.geteuid() != 0:
        yield
        return
    try:
        os.setegid(65534)
        os.seteuid(65534)
    except PermissionError:
        os.setegid(0)
        pytest.skip("running as root without the right to change the effective user")
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
def test_a_file_the_user_cannot_read_is_permission_denied_not_corrupt():
    # A folder anyone may enter (pytest's tmp_path lies under a folder only its owner may enter).
    folder = Path(tempfile.mkdtemp(prefix="wav2vec-hf-permissions-"))
    try:
        folder.chmod(0o755)
        write_tone(folder / "good.wav", 3200)
        locked = write_tone(folder / "locked.wav", 3200)
        locked.chmod(0o000)
        (folder / "folder.wav").mkdir()
        manifest = table(
            folder, [("good.wav", 3200, "GOOD"), ("locked.wav", 3200, "NO"), ("folder.wav", 3200, "NO")]
        )
        with permissions_apply():
            with pytest.raises(AudioError) as loading:
                load_audio(locked)
            with pytest.raises(DataValidationError) as validating:
                open_audio_source(manifest)
        # Was: "cannot decode this audio (LibsndfileError: ...: System error.). The file is corrupt, truncated ..."
        assert loading.value.reason == "permission_denied"
        assert str(loading.value).startswith(f"{locked}: permission denied")
        assert "check the file's permissions" in str(loading.value) and "corrupt" not in str(loading.value)
        message = str(validating.value)
        assert "permission_denied: 1 (fix: check the file's permissions" in message
        assert f"{locked}: permission denied" in message and "corrupt" not in message
        assert (
            f"{folder / 'folder.wav'}: is a directory, not an audio file" in message
        )  # was: "file not found"
        assert validating.value.report.counts == {"permission_denied": 1, "missing_file": 1}
    finally:
        shutil.rmtree(folder)
