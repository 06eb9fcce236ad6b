"""Inference on short, empty, integer, non-finite, truncated and long inputs (issue 17, items 2, 3, 6, 7).

A tiny random CTC model (the decoding tests' model, 320 samples a frame) is enough: these tests
check what happens to unusual inputs, not what the model hears.
"""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import Wav2Vec2Config, Wav2Vec2ForCTC, pipeline

from tests.decoding.support import LABELS, dev_sentences, emissions, make_model_folder, write_grammar_lm
from wav2vec_hf.cli import main
from wav2vec_hf.data.audio import AudioError
from wav2vec_hf.data.normalization import TextNormalizer
from wav2vec_hf.decoding.language_model import FusionWeights
from wav2vec_hf.decoding.logits import ctc_logits, min_input_samples
from wav2vec_hf.decoding.processor import attach_language_model
from wav2vec_hf.decoding.scoring import model_references
from wav2vec_hf.inference.pipeline import SegmentedBeamSearch, SpeechRecognitionPipeline
from wav2vec_hf.inference.transcribe import TranscriptionError, load_pipeline, transcribe_files

RATE = 16000


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-ctc")
    make_model_folder(folder)
    return folder


@pytest.fixture(scope="module")
def lm_model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-ctc-lm")
    make_model_folder(folder)
    lm = tmp_path_factory.mktemp("lm")
    write_grammar_lm(lm, order=3, sentences=1000)
    attach_language_model(folder, lm, weights=FusionWeights(alpha=0.6, beta=1.2))
    return folder


@pytest.fixture(scope="module")
def asr(model_dir):
    return pipeline(
        "automatic-speech-recognition", model=str(model_dir), pipeline_class=SpeechRecognitionPipeline
    )


@pytest.fixture(scope="module")
def asr_lm(lm_model_dir):
    return pipeline(
        "automatic-speech-recognition", model=str(lm_model_dir), pipeline_class=SpeechRecognitionPipeline
    )


def noise(samples: int, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(samples)).astype(np.float32)


def test_min_input_samples_is_the_feature_encoders_receptive_field(asr):
    assert min_input_samples(asr.model) == 320  # kernels = strides = (10, 8, 4)
    stock = Wav2Vec2ForCTC(Wav2Vec2Config(vocab_size=8, pad_token_id=0, num_hidden_layers=1, hidden_size=16,
                                          num_attention_heads=2, intermediate_size=16, conv_dim=(8,) * 7))  # fmt: skip
    assert min_input_samples(stock) == 400  # wav2vec 2.0: 25 ms at 16 kHz
    logits, frames = ctc_logits(stock.eval(), torch.zeros(2, 10), torch.tensor([[1] * 10, [1] * 3 + [0] * 7]))
    assert logits.shape[:2] == (2, 1) and frames.tolist() == [1, 1]


@pytest.mark.parametrize("with_lm", [False, True])
def test_pipeline_refuses_non_finite_arrays_with_a_clear_error(asr, asr_lm, with_lm):
    recogniser = asr_lm if with_lm else asr
    audio = noise(RATE)
    audio[100] = np.nan
    with pytest.raises(ValueError, match=r"1 of 16000 samples are NaN or infinite"):
        recogniser(audio)
    with pytest.raises(ValueError, match=r"samples are NaN or infinite"):
        recogniser({"raw": np.full(800, np.inf, np.float32), "sampling_rate": 8000})


@pytest.mark.parametrize("with_lm", [False, True])
def test_pipeline_transcribes_audio_shorter_than_the_receptive_field(asr, asr_lm, with_lm):
    recogniser = asr_lm if with_lm else asr
    for samples in (1, 10, 160, 319):
        assert isinstance(recogniser(noise(samples))["text"], str)
    assert isinstance(recogniser(noise(160), chunk_length_s=0.5, stride_length_s=0.1)["text"], str)
    batch = recogniser([noise(10), noise(RATE, seed=1)], batch_size=2)
    assert [b["text"] for b in batch][1] == recogniser(noise(RATE, seed=1))["text"]
    with pytest.raises(ValueError, match="holds 0 samples"):
        recogniser(np.zeros(0, np.float32))


def test_integer_arrays_are_pcm_in_the_pipeline_and_transcribe_arrays(model_dir, asr):
    from transformers import AutoProcessor

    from wav2vec_hf.inference.transcribe import transcribe_arrays

    pcm16 = (noise(RATE) * 32768).astype(np.int16)
    pcm32 = pcm16.astype(np.int32) * 65536
    as_float = pcm16.astype(np.float32) / 32768
    asr.feature_extractor.do_normalize = False  # scaling matters only without normalisation
    try:
        expected = asr(as_float)["text"]
        assert asr(pcm16)["text"] == expected and asr(pcm32)["text"] == expected
        assert asr({"raw": pcm16, "sampling_rate": RATE})["text"] == expected
    finally:
        asr.feature_extractor.do_normalize = True
    processor = AutoProcessor.from_pretrained(str(model_dir))
    processor.feature_extractor.do_normalize = False
    texts = transcribe_arrays(asr.model, processor, [pcm16, as_float, pcm32])
    assert texts[0] == texts[1] == texts[2]
    with pytest.raises(AudioError, match="NaN or infinite"):
        transcribe_arrays(asr.model, processor, [np.full(400, np.nan, np.float32)])


def write_files(folder, lengths: dict[str, int]) -> list[str]:
    paths = []
    for seed, (name, samples) in enumerate(lengths.items()):
        sf.write(folder / name, noise(samples, seed), RATE)
        paths.append(str(folder / name))
    return paths


def test_transcribe_short_and_nan_files_keeps_every_other_transcript_and_writes_the_tsv(
    model_dir, asr, tmp_path, capsys
):
    files = write_files(tmp_path, {"a.wav": RATE, "short.wav": 160, "b.wav": RATE // 2})
    nan = noise(800)
    nan[3] = np.nan
    sf.write(tmp_path / "nan.wav", nan, RATE, subtype="FLOAT")
    files = [*files, str(tmp_path / "nan.wav"), *write_files(tmp_path, {"c.wav": RATE})]
    solo = {f: asr(f)["text"] for f in files if not f.endswith("nan.wav")}
    tsv, jsonl = tmp_path / "out.tsv", tmp_path / "out.jsonl"
    argv = [
        "transcribe",
        str(model_dir),
        *files,
        "--batch-size",
        "4",
        "--no-progress",
        "--tsv",
        str(tsv),
        "--jsonl",
        str(jsonl),
    ]
    # Without --skip-bad the NaN file stops the run, and what came before it is written.
    assert main(argv) == 2
    assert "nan.wav: 1 of 800 samples are NaN" in capsys.readouterr().err
    rows = [line.split("\t") for line in tsv.read_text().splitlines()[1:]]
    assert [r[0] for r in rows] == files[:3] and rows[1][1] == solo[files[1]]
    # With --skip-bad: the NaN file is counted, every other file keeps its (one-by-one) transcript.
    assert main([*argv, "--skip-bad"]) == 1
    assert "1 of 5 files could not be transcribed" in capsys.readouterr().err
    rows = [line.split("\t") for line in tsv.read_text().splitlines()[1:]]
    assert {r[0]: r[1] for r in rows} == {f: " ".join(solo[f].split()) for f in solo}
    errors = [json.loads(line).get("error") for line in jsonl.read_text().splitlines()]
    assert [e is not None for e in errors] == [False, False, False, True, False]


class FailsOnLength:
    """A pipeline that raises (as a model might) on any batch holding an input of ``poison`` samples."""

    def __init__(self, asr, poison: int) -> None:
        self.asr, self.poison = asr, poison

    def __getattr__(self, name):
        return getattr(self.asr, name)

    def __call__(self, inputs, **kwargs):
        items = inputs if isinstance(inputs, list) else [inputs]
        if any(len(item["raw"]) == self.poison for item in items):
            raise RuntimeError("Kernel size can't be greater than actual input size")
        return self.asr(inputs, **kwargs)


def test_a_file_failing_in_the_model_fails_alone(asr, tmp_path):
    files = write_files(tmp_path, {"a.wav": RATE, "bad.wav": 4321, "b.wav": RATE // 2})
    broken = FailsOnLength(asr, 4321)
    results = list(transcribe_files("unused", files, batch_size=4, skip_bad=True, progress=False, asr=broken))
    assert [r.path for r in results] == files
    assert results[1].error.startswith(f"{files[1]}: cannot be transcribed (RuntimeError: Kernel size")
    assert [r.text for r in results[::2]] == [" ".join(asr(f)["text"].split()) for f in files[::2]]
    with pytest.raises(TranscriptionError, match=r"bad\.wav: cannot be transcribed"):
        list(transcribe_files("unused", files, batch_size=4, progress=False, asr=broken))


def test_truncated_wav_is_transcribed_with_a_warning(model_dir, tmp_path, capsys):
    write_files(tmp_path, {"whole.wav": 2 * RATE})
    data = (tmp_path / "whole.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: len(data) // 2])
    assert main(["transcribe", str(model_dir), str(tmp_path / "cut.wav"), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "cut.wav: truncated: the header declares 32000 frames (2.00 s) but the file holds 15989" in err


def test_long_audio_is_refused_unchunked_by_the_pipeline_and_chunked_by_transcribe(model_dir, tmp_path):
    recogniser = load_pipeline(model_dir)
    recogniser.max_unchunked_seconds = 1.0  # the rule of the 5-minute default, at test size
    audio = noise(2 * RATE)
    with pytest.raises(
        ValueError, match=r"0\.0 minutes of audio in one forward pass .* Pass chunk_length_s=30"
    ):
        recogniser(audio)
    chunked = recogniser(audio, chunk_length_s=30, stride_length_s=5)["text"]
    (path,) = write_files(tmp_path, {"long.wav": 2 * RATE})
    (result,) = transcribe_files(model_dir, [path], progress=False, asr=recogniser)
    assert result.text == " ".join(chunked.split())
    assert "transcribed in 30 s chunks (pass --chunk-length-s to choose)" in result.warning
    recogniser.max_unchunked_seconds = None
    assert isinstance(recogniser(audio)["text"], str)


def test_lm_decoding_of_long_logits_runs_in_segments_cut_at_pauses(asr_lm):
    sentences = dev_sentences(6, exclude=[])
    pause = np.full((25, len(LABELS)), -20.0, dtype=np.float32)
    pause[:, 0] = 0.0  # blank frames around one word delimiter: a pause between sentences
    pause[12] = np.roll(pause[12], 2)
    pieces = [piece for e in emissions(sentences, seed=0, ambiguity=0.0) for piece in (e, pause)]
    logits = np.concatenate(pieces)
    whole = asr_lm.decoder.decode_beams(logits)[0]
    segmented = SegmentedBeamSearch(asr_lm.decoder, max_frames=len(logits) // 3, blank_id=0, delimiter_id=2)
    cuts = segmented.cut_points(logits)
    assert len(cuts) >= 4 and all(b - a <= len(logits) // 3 for a, b in itertools.pairwise(cuts))
    assert all(logits[c].argmax() in (0, 2) for c in cuts[1:-1])  # every cut in a pause
    best = segmented.decode_beams(logits)[0]
    assert best[0] == whole[0] == " ".join(sentences)
    assert [w for w, _ in best[2]] == [w for w, _ in whole[2]]
    assert [span for _, span in best[2]] == [span for _, span in whole[2]]  # offsets in whole-input frames
    # The pipeline decodes in segments of lm_segment_seconds and restores its decoder afterwards.
    decoder = asr_lm.decoder
    asr_lm.lm_segment_seconds = 0.5
    try:
        assert isinstance(asr_lm(noise(3 * RATE))["text"], str)
    finally:
        asr_lm.lm_segment_seconds = 60.0
    assert asr_lm.decoder is decoder


def test_evaluate_reports_reference_characters_outside_the_vocabulary(model_dir, tmp_path, capsys):
    paths = write_files(tmp_path, {"a.wav": RATE, "b.wav": RATE})
    table = tmp_path / "eval.tsv"
    table.write_text(f"path\ttranscript\n{paths[0]}\tcafé 42\n{paths[1]}\thello\n", encoding="utf-8")
    out = tmp_path / "scores.json"
    assert (
        main(["evaluate", "--model", str(model_dir), "--data", str(table), "--no-lm", "--json", str(out)])
        == 0
    )
    err = capsys.readouterr().err
    assert (
        "1 of 2 transcripts hold 3 characters outside the vocabulary (the scored references write them" in err
    )
    assert f"'É' (LATIN CAPITAL LETTER E WITH ACUTE): 1 times, e.g. in {tmp_path / 'a'}" in err
    unknown = json.loads(out.read_text())["sets"][str(table)]["unknown_characters"]
    assert unknown["counts"] == {"É": 1, "4": 1, "2": 1} and unknown["affected"] == 1
    vocabulary = json.loads((model_dir / "vocab.json").read_text())
    assert model_references(["café 42"], model_dir, vocabulary) == [
        "CAFE"
    ]  # no saved rules: the vocabulary's
    # A model that saved its normaliser (every fine-tuned one) is scored by it, as fine-tuning scored
    # it: the characters stay in the references and count as errors, and the report says so.
    saved = tmp_path / "with-normalizer"
    shutil.copytree(model_dir, saved)
    TextNormalizer().save(saved)
    assert model_references(["café 42"], saved, vocabulary) == ["CAFÉ 42"]
    assert main(["evaluate", "--model", str(saved), "--data", str(table), "--no-lm", "--json", str(out)]) == 0
    assert "3 characters outside the vocabulary (they cannot be predicted and count as errors)" in (
        capsys.readouterr().err
    )


def test_pipeline_says_a_corrupt_wav_is_corrupt_and_keeps_ffmpeg_for_formats_libsndfile_does_not_read(
    asr, tmp_path
):
    (good,) = write_files(tmp_path, {"good.wav": RATE})
    garbage = np.random.default_rng(17).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    riff = Path(good).read_bytes()[:12] + garbage  # RIFF....WAVE, then garbage
    corrupt = {"riff.wav": riff, "noise.wav": garbage, "take.bin": riff}  # by header, extension, header
    for name, data in corrupt.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(AudioError, match=r"cannot decode this audio .*: the file is corrupt") as caught:
            asr(str(tmp_path / name))  # was: "ffmpeg was not found but is required to load audio files"
        assert str(caught.value).startswith(f"{tmp_path / name}: ") and "ffmpeg" not in str(caught.value)
        assert caught.value.known_format == "WAV"
    with pytest.raises(AudioError, match=r"<4012 bytes of audio>: .*it starts with a WAV header"):
        asr(riff)
    # A container libsndfile does not read (m4a) still goes to the stock ffmpeg path.
    (tmp_path / "voice.m4a").write_bytes(garbage)
    with pytest.raises(ValueError) as caught:
        asr(str(tmp_path / "voice.m4a"))
    assert not isinstance(caught.value, AudioError)
