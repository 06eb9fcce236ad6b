"""The built-in speech corpus: layout, manifests, speakers, determinism, atomic builds, speech, CLI."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile

from wav2vec_hf.cli import main
from wav2vec_hf.recipes import corpus as corpus_module
from wav2vec_hf.recipes.corpus import SPLITS, build_corpus, speakers_by_split

TINY = {"unlabeled_minutes": 0.3, "labeled_minutes": 0.3, "dev_minutes": 0.3, "test_minutes": 0.3}
LM_SENTENCES = 3000


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    built = build_corpus(
        tmp_path_factory.mktemp("corpus") / "tiny",
        **TINY,
        seed=0,
        num_workers=2,
        lm_sentences=LM_SENTENCES,
        progress=False,
    )
    assert not built.reused
    return built.root


def read_table(root: Path, split: str) -> list[dict[str, str]]:
    with open(root / f"{split}_transcripts.tsv", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def file_digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_every_split_has_wavs_at_16k_mono_pcm16_matching_the_manifests(tiny: Path) -> None:
    for split in SPLITS:
        table = read_table(tiny, split)
        manifest = read_lines(tiny / f"{split}.tsv")
        assert manifest[0] == str(tiny)  # fairseq root: the corpus folder, absolute
        assert len(manifest) - 1 == len(table) >= 3
        on_disk = sorted(p.name for p in (tiny / "audio" / split).iterdir())
        assert on_disk == sorted(Path(row["path"]).name for row in table)  # no leftover renders
        for row, line in zip(table, manifest[1:]):
            relative, num_samples = line.split("\t")
            assert relative == row["path"] and relative.startswith(f"audio/{split}/")
            info = soundfile.info(str(tiny / relative))
            assert (info.samplerate, info.channels, info.subtype, info.format) == (16000, 1, "PCM_16", "WAV")
            assert info.frames == int(num_samples) == int(row["num_samples"])
            assert row["sample_rate"] == "16000"


def test_each_split_is_the_shortest_prefix_reaching_its_minutes(tiny: Path) -> None:
    info = json.loads((tiny / "corpus.json").read_text())
    for split in SPLITS:
        samples = [int(row["num_samples"]) for row in read_table(tiny, split)]
        target = TINY[f"{split}_minutes"] * 60 * 16000
        assert sum(samples) >= target > sum(samples[:-1])
        assert all(1.2 * 16000 < n < 7.0 * 16000 for n in samples)  # sentences of about 2-6 s
        assert info["splits"][split]["utterances"] == len(samples)
        assert info["splits"][split]["seconds"] == pytest.approx(sum(samples) / 16000, abs=1e-3)
    assert info["config"]["seed"] == 0 and info["config"]["lm_sentences"] == LM_SENTENCES


def test_wrd_ltr_and_transcripts_agree(tiny: Path) -> None:
    vocabulary = set(read_lines(tiny / "words.txt"))
    for split in SPLITS:
        transcripts = [row["transcript"] for row in read_table(tiny, split)]
        assert read_lines(tiny / f"{split}.wrd") == transcripts
        for transcript, ltr in zip(transcripts, read_lines(tiny / f"{split}.ltr")):
            assert re.fullmatch(r"[A-Z']+( [A-Z']+)*", transcript)
            assert ltr.endswith(" |") and "  " not in ltr
            tokens = ltr.split(" ")
            assert all(len(token) == 1 for token in tokens)
            assert "".join(tokens).split("|")[:-1] == transcript.split(" ")
            assert set(transcript.split(" ")) <= vocabulary
    letter_dictionary = dict(line.split(" ") for line in read_lines(tiny / "dict.ltr.txt"))
    train_letters = "".join(read_lines(tiny / "labeled.wrd") + read_lines(tiny / "unlabeled.wrd"))
    assert int(letter_dictionary["E"]) == train_letters.count("E")


def test_dev_and_test_speakers_never_occur_in_training(tiny: Path) -> None:
    used = {split: {row["speaker"] for row in read_table(tiny, split)} for split in SPLITS}
    train = used["unlabeled"] | used["labeled"]
    assert not train & used["dev"] and not train & used["test"] and not used["dev"] & used["test"]
    for split in SPLITS:  # file names carry the speaker too
        assert all(row["path"].endswith(f"_{row['speaker']}.wav") for row in read_table(tiny, split))
    pools = speakers_by_split()
    assert not set(pools["labeled"]) & (set(pools["dev"]) | set(pools["test"]))
    assert not set(pools["dev"]) & set(pools["test"])
    # Held-out speakers are new accent x variant pairs, not unseen accents or voice qualities.
    train_variants = {s.rsplit("_", 1)[1] for s in pools["unlabeled"]}
    train_accents = {s.rsplit("_", 1)[0] for s in pools["unlabeled"]}
    for speaker in pools["dev"] + pools["test"]:
        accent, variant = speaker.rsplit("_", 1)
        assert accent in train_accents and variant in train_variants
    info = json.loads((tiny / "corpus.json").read_text())
    assert {split: set(info["splits"][split]["speakers"]) for split in SPLITS} == used


def test_sentences_unique_and_lm_text_free_of_dev_and_test(tiny: Path) -> None:
    by_split = {split: [row["transcript"] for row in read_table(tiny, split)] for split in SPLITS}
    everything = [s for sentences in by_split.values() for s in sentences]
    assert len(set(everything)) == len(everything)
    lm_text = read_lines(tiny / "lm_text.txt")
    assert len(lm_text) == LM_SENTENCES
    assert not set(lm_text) & (set(by_split["dev"]) | set(by_split["test"]))
    assert {w for line in lm_text for w in line.split(" ")} <= set(read_lines(tiny / "words.txt"))
    # Same distribution: most dev words are frequent LM words.
    lm_words = {w for line in lm_text for w in line.split(" ")}
    dev_words = [w for s in by_split["dev"] for w in s.split(" ")]
    assert sum(w in lm_words for w in dev_words) / len(dev_words) > 0.95


def test_lm_text_skips_excluded_sentences_it_would_otherwise_contain() -> None:
    # Collisions between random sentences are rare, so force them: exclude the stream's own first lines.
    unfiltered = corpus_module._lm_sentences(seed=4, count=30, exclude=set())
    excluded = set(unfiltered[::3])
    filtered = corpus_module._lm_sentences(seed=4, count=30, exclude=excluded)
    assert len(filtered) == 30 and not excluded & set(filtered)
    assert [s for s in unfiltered if s not in excluded] == filtered[: 30 - len(excluded)]


def test_audio_is_speech_like(tiny: Path) -> None:
    rows = [row for split in SPLITS for row in read_table(tiny, split)]
    durations, letters, spectra = [], [], []
    for row in rows:
        audio, rate = soundfile.read(str(tiny / row["path"]), dtype="float32")
        frames = audio[: len(audio) // 320 * 320].reshape(-1, 320)  # 20 ms frames
        frame_db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
        speech = frame_db > -45
        assert 0.02 < np.sqrt(np.mean(audio**2)) < 0.4  # neither silent nor clipped-loud
        assert 0.2 < np.abs(audio).max() <= 0.91
        assert 0.4 < speech.mean() < 0.98  # mostly active, with pauses and leading/trailing silence
        assert frame_db[0] < -55  # the leading pad is quiet (only the faint noise floor)
        assert frame_db.max() - np.percentile(frame_db, 5) > 40  # loud syllables vs pauses, as in speech
        spectrum = np.abs(np.fft.rfft(audio)) ** 2
        hz = np.fft.rfftfreq(len(audio), 1 / rate)
        assert spectrum[(hz > 80) & (hz < 4000)].sum() > 0.7 * spectrum.sum()  # speech band
        durations.append(len(audio) / rate)
        letters.append(len(row["transcript"].replace(" ", "")))
        band = np.add.reduceat(spectrum, np.searchsorted(hz, np.arange(0, 8000, 250)))
        spectra.append(np.log(band + 1e-9))
    # The audio says the text: longer transcripts take longer to say.
    assert np.corrcoef(durations, letters)[0, 1] > 0.6
    # Different sentences/voices give different spectra (no duplicated or degenerate audio).
    distances = [np.linalg.norm(a - b) for i, a in enumerate(spectra) for b in spectra[i + 1 :]]
    assert min(distances) > 1.0


def test_rebuild_is_byte_identical_for_any_worker_count(tiny: Path, tmp_path: Path) -> None:
    reference = file_digests(tiny)
    again = build_corpus(
        tmp_path / "again", **TINY, seed=0, num_workers=1, lm_sentences=LM_SENTENCES, progress=False
    )
    rebuilt = file_digests(again.root)
    assert rebuilt.keys() == reference.keys()
    differing = {name for name in reference if reference[name] != rebuilt[name]}
    # Only the manifests' first line (the absolute root folder) may differ between folders.
    assert differing == {f"{split}.tsv" for split in SPLITS}
    for split in SPLITS:
        assert read_lines(again.root / f"{split}.tsv")[1:] == read_lines(tiny / f"{split}.tsv")[1:]
    # Rebuilt in place (overwrite), even the manifests are byte-identical.
    build_corpus(
        again.root, **TINY, seed=0, num_workers=2, lm_sentences=LM_SENTENCES, overwrite=True, progress=False
    )
    assert file_digests(again.root) == rebuilt
    other_seed = build_corpus(
        tmp_path / "seed1", **TINY, seed=1, num_workers=2, lm_sentences=10, progress=False
    )
    assert read_lines(other_seed.root / "dev.wrd") != read_lines(tiny / "dev.wrd")


def test_existing_corpus_is_reused_and_never_silently_replaced(tiny: Path) -> None:
    before = (tiny / "corpus.json").stat().st_mtime_ns
    reused = build_corpus(tiny, **TINY, seed=0, num_workers=2, lm_sentences=LM_SENTENCES, progress=False)
    assert reused.reused and (tiny / "corpus.json").stat().st_mtime_ns == before
    assert "reused" in reused.summary()
    with pytest.raises(FileExistsError, match="overwrite"):
        build_corpus(tiny, **TINY, seed=5, lm_sentences=10, progress=False)


def test_failed_build_leaves_no_corpus_and_cleans_stale_partials(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "corpus"
    stale = tmp_path / ".corpus.partial-999999999"  # no such process: a killed build's leftovers
    (stale / "audio").mkdir(parents=True)

    def crash(*args, **kwargs):
        raise RuntimeError("simulated crash while writing manifests")

    monkeypatch.setattr(corpus_module, "_write_split_files", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        build_corpus(out, **TINY, num_workers=1, lm_sentences=10, progress=False)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # neither the failed build's nor the stale partial folder


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"dev_minutes": 0}, "dev_minutes=0"),
        ({"unlabeled_minutes": float("nan")}, "unlabeled_minutes=nan"),
        ({"lm_sentences": 0}, "lm_sentences=0"),
        ({"num_workers": 0}, "num_workers=0"),
    ],
)
def test_bad_arguments_are_named(tmp_path: Path, arguments: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        build_corpus(tmp_path / "x", **{**TINY, **arguments}, progress=False)
    assert not (tmp_path / "x").exists()


def test_cli_builds_and_summarises(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    arguments = ["corpus", "--out", str(out), "--unlabeled-minutes", "0.1", "--labeled-minutes", "0.1"]
    arguments += ["--dev-minutes", "0.1", "--test-minutes", "0.1", "--lm-sentences", "20", "--workers", "1"]
    assert main([*arguments, "--seed", "2", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert f"corpus at {out}" in printed and re.search(r"unlabeled\s+\d+ utterances", printed)
    assert json.loads((out / "corpus.json").read_text())["config"]["seed"] == 2
    assert main(["corpus", "--out", str(out), "--dev-minutes", "-1", "--no-progress"]) == 2
    assert "dev_minutes=-1.0" in capsys.readouterr().err
