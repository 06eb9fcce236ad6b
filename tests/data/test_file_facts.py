"""Validation's file-facts cache (issue 19): a rerun reads no header and decodes no file it checked,
gives the same records and report, and sees every changed file."""

from __future__ import annotations

import logging
import os
import time

import numpy as np
import pytest

from tests.data.audio_files import write_corrupt, write_nan, write_tone
from wav2vec_hf.data import ValidationRules, open_audio_source
from wav2vec_hf.data import sources as sources_module
from wav2vec_hf.data.file_facts import CACHE_ENV, FileFacts, default_cache_folder, resolve_cache_folder
from wav2vec_hf.data.validation import DataValidationError

AN_HOUR_AGO = time.time() - 3600


def _age(*paths) -> None:
    """Files older than the racy window, as a corpus on disk is."""
    for path in paths:
        os.utime(path, (AN_HOUR_AGO, AN_HOUR_AGO))


@pytest.fixture()
def corpus(tmp_path):
    """A fairseq manifest of 6 good files, one corrupt file and one with NaN samples (all old)."""
    audio = tmp_path / "audio"
    lengths = [4000, 5200, 6400, 7600, 8800, 10000]
    paths = [write_tone(audio / f"u{i}.wav", n, frequency=200 + 50 * i) for i, n in enumerate(lengths)]
    bad = [write_corrupt(audio / "corrupt.wav"), write_nan(audio / "nan.wav", 3200)]
    _age(*paths, *bad)
    manifest = tmp_path / "train.tsv"
    rows = [f"u{i}.wav\t{n}" for i, n in enumerate(lengths)] + ["corrupt.wav\t2000", "nan.wav\t3200"]
    manifest.write_text(f"{audio}\n" + "\n".join(rows) + "\n")
    return manifest, audio


@pytest.fixture()
def counted(monkeypatch):
    """Counts of header reads and decode checks made by open_audio_source."""
    calls = {"header": 0, "decode": 0}
    read, check = sources_module.read_audio_info, sources_module.check_decodes

    def counting_read(*args, **kwargs):
        calls["header"] += 1
        return read(*args, **kwargs)

    def counting_check(*args, **kwargs):
        calls["decode"] += 1
        return check(*args, **kwargs)

    monkeypatch.setattr(sources_module, "read_audio_info", counting_read)
    monkeypatch.setattr(sources_module, "check_decodes", counting_check)
    return calls


def _open(manifest, cache, **rules):
    return open_audio_source(manifest, rules=ValidationRules(**rules), on_bad="skip", validation_cache=cache)


def test_a_rerun_reads_no_header_and_decodes_nothing_and_agrees(corpus, counted, tmp_path):
    manifest, _ = corpus
    cache = tmp_path / "cache"
    first = _open(manifest, cache)
    assert counted == {"header": 8, "decode": 7}  # the corrupt file has no header to decode past
    assert len(list(cache.glob("*.npz"))) == 1
    second = _open(manifest, cache)
    assert counted == {"header": 8, "decode": 7}  # nothing read again
    assert second.records == first.records and len(second) == 6
    assert second.skip_report.counts == first.skip_report.counts == {"unreadable": 1, "non_finite": 1}
    assert second.skip_report.failures == first.skip_report.failures  # same files, reasons, messages
    uncached = _open(manifest, False)
    assert uncached.records == first.records and uncached.skip_report.failures == first.skip_report.failures


def test_other_rules_are_judged_from_the_cached_facts(corpus, counted, tmp_path):
    manifest, _ = corpus
    cache = tmp_path / "cache"
    _open(manifest, cache)
    stricter = _open(manifest, cache, min_samples=6000)
    assert counted["header"] == 8  # re-judged, not re-read
    assert len(stricter) == 4 and stricter.skip_report.counts["too_short"] == 3  # nan.wav too


def test_a_changed_file_is_read_again_and_the_new_verdict_wins(corpus, counted, tmp_path):
    manifest, audio = corpus
    cache = tmp_path / "cache"
    _open(manifest, cache)
    write_corrupt(audio / "u2.wav", num_bytes=3000, seed=5)  # was a good file
    later = AN_HOUR_AGO + 60
    os.utime(audio / "u2.wav", (later, later))
    again = _open(manifest, cache)
    assert counted["header"] == 9  # only the changed file
    assert again.skip_report.counts["unreadable"] == 2 and len(again) == 5
    write_tone(audio / "u2.wav", 6400, frequency=300)  # repaired, same size as before
    _age(audio / "u2.wav")
    os.utime(audio / "u2.wav", (later + 60, later + 60))
    repaired = _open(manifest, cache)
    assert counted["header"] == 10 and len(repaired) == 6


def test_files_modified_just_now_are_not_trusted_to_the_cache(corpus, counted, tmp_path):
    manifest, audio = corpus
    cache = tmp_path / "cache"
    write_tone(audio / "u0.wav", 4000, frequency=900)  # mtime now: inside the racy window
    _open(manifest, cache)
    _open(manifest, cache)
    assert counted["header"] == 8 + 1  # the fresh file is read again, the old ones are not


def test_a_refused_set_still_leaves_its_facts(corpus, counted, tmp_path):
    manifest, _ = corpus
    cache = tmp_path / "cache"
    with pytest.raises(DataValidationError):
        open_audio_source(manifest, validation_cache=cache)
    with pytest.raises(DataValidationError) as raised:
        open_audio_source(manifest, validation_cache=cache)
    assert counted["header"] == 8
    assert raised.value.report.counts == {"unreadable": 1, "non_finite": 1}


def test_a_corrupt_cache_file_is_a_warning_and_a_fresh_validation(corpus, counted, tmp_path, caplog):
    manifest, _ = corpus
    cache = tmp_path / "cache"
    first = _open(manifest, cache)
    (cached,) = cache.glob("*.npz")
    cached.write_bytes(b"not a numpy archive")
    with caplog.at_level(logging.WARNING, logger="wav2vec_hf.data.file_facts"):
        again = _open(manifest, cache)
    assert "validation cache not readable" in caplog.text
    assert again.records == first.records and counted["header"] == 16
    _open(manifest, cache)
    assert counted["header"] == 16  # rewritten, used again


def test_no_cache_when_disabled(corpus, tmp_path, monkeypatch):
    manifest, _ = corpus
    _open(manifest, False)
    monkeypatch.setenv(CACHE_ENV, "off")
    assert default_cache_folder() is None and resolve_cache_folder(None) is None
    _open(manifest, None)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "env-cache"))
    assert resolve_cache_folder(True) == tmp_path / "env-cache"
    assert not (tmp_path / "env-cache").exists()
    _open(manifest, None)
    assert len(list((tmp_path / "env-cache").glob("*.npz"))) == 1


def test_facts_cost_tens_of_bytes_per_file(tmp_path):
    paths = [str(tmp_path / f"missing{i}.wav") for i in range(1000)]
    facts = FileFacts(paths, tmp_path / "cache")
    array_bytes = sum(value.nbytes for value in vars(facts).values() if isinstance(value, np.ndarray))
    assert array_bytes / len(paths) < 64
    assert facts.header(0) is None and facts.save() is None  # nothing learnt, nothing written


def test_a_cache_folder_that_cannot_be_written_is_a_warning(corpus, tmp_path, caplog):
    manifest, _ = corpus
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with caplog.at_level(logging.WARNING, logger="wav2vec_hf.data.file_facts"):
        audio = _open(manifest, blocker / "cache")
    assert len(audio) == 6 and "not written" in caplog.text
