"""pipeline("automatic-speech-recognition") on fine-tuned folders of every generation, without ffmpeg."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import AutoModelForCTC, AutoProcessor, pipeline
from transformers.pipelines import automatic_speech_recognition as stock_asr

from wav2vec_hf.data import open_audio_source
from wav2vec_hf.data.audio import AudioError
from wav2vec_hf.inference.pipeline import SpeechRecognitionPipeline
from wav2vec_hf.inference.transcribe import transcribe_arrays

GENERATIONS = ["wav2vec2", "wav2vec", "vq-wav2vec"]


@pytest.fixture(autouse=True)
def no_ffmpeg(monkeypatch):
    """Any call of the stock ffmpeg decoder fails the test: inputs must go through our loader."""

    def refuse(*args, **kwargs):
        raise AssertionError("ffmpeg_read was called")

    monkeypatch.setattr(stock_asr, "ffmpeg_read", refuse)


@pytest.fixture(scope="module")
def dev_files(escape_run):
    dev = open_audio_source(escape_run.corpus / "dev.tsv")
    return [record.path for record in dev]


@pytest.mark.parametrize("generation", GENERATIONS)
def test_pipeline_reads_paths_arrays_with_their_rate_and_batches(
    ctc_folders, dev_files, real_data_dir, generation
):
    asr = pipeline("automatic-speech-recognition", model=str(ctc_folders[generation]))
    assert isinstance(asr, SpeechRecognitionPipeline)
    from_path = asr(dev_files[0])["text"]
    audio, rate = sf.read(dev_files[0], dtype="float32")
    assert asr({"raw": audio, "sampling_rate": rate})["text"] == from_path
    digit, digit_rate = sf.read(real_data_dir / "fsdd" / "3_jackson_0.wav", dtype="float32")
    assert digit_rate == 8000
    from_8k = asr({"array": digit, "sampling_rate": digit_rate})["text"]
    batch = asr([dev_files[0], {"raw": digit, "sampling_rate": digit_rate}], batch_size=2)
    assert [item["text"] for item in batch] == [from_path, from_8k]
    if generation == "wav2vec2":  # the fine-tuned model writes letters on speech
        assert from_path.strip()


def test_pipeline_chunks_long_stereo_audio_with_word_timestamps_in_order(ctc_folders, real_data_dir):
    path = real_data_dir / "jfk" / "jfk.flac"
    info = sf.info(str(path))
    assert (info.channels, info.samplerate) == (2, 44100)
    duration = info.frames / info.samplerate
    asr = pipeline("automatic-speech-recognition", model=str(ctc_folders["wav2vec2"]))
    output = asr(str(path), chunk_length_s=4.0, stride_length_s=1.0, return_timestamps="word")
    words = output["chunks"]
    assert len(words) >= 5 and " ".join(w["text"] for w in words) == " ".join(output["text"].split())
    starts = [w["timestamp"][0] for w in words]
    assert starts == sorted(starts)
    assert all(0.0 <= w["timestamp"][0] <= w["timestamp"][1] <= duration + 1e-6 for w in words)
    assert words[-1]["timestamp"][1] > duration / 2  # the chunks cover the whole file
    chars = asr(str(path), chunk_length_s=4.0, return_timestamps="char")["chunks"]
    assert all(len(c["text"]) == 1 for c in chars)
    assert [c["timestamp"][0] for c in chars] == sorted(c["timestamp"][0] for c in chars)


@pytest.mark.parametrize("generation", ["wav2vec2", "wav2vec"])
def test_padded_batches_give_the_one_by_one_transcripts(ctc_folders, dev_files, generation):
    folder = ctc_folders[generation]
    model = AutoModelForCTC.from_pretrained(folder).eval()
    processor = AutoProcessor.from_pretrained(folder)
    waveforms = [sf.read(path, dtype="float32")[0] for path in dev_files]
    assert len({len(w) for w in waveforms}) == len(waveforms)  # every batch below is padded
    alone = transcribe_arrays(model, processor, waveforms, batch_size=1)
    assert transcribe_arrays(model, processor, waveforms, batch_size=4) == alone
    asr = pipeline("automatic-speech-recognition", model=str(folder))
    batched = asr([{"raw": w, "sampling_rate": 16000} for w in waveforms], batch_size=4)
    assert [" ".join(item["text"].split()) for item in batched] == alone


def test_group_norm_models_get_no_attention_mask_and_padding_would_change_them(ctc_folders, dev_files):
    """Why the batched path exists: zero padding changes a group-norm model's output."""
    folder = ctc_folders["wav2vec2"]
    model = AutoModelForCTC.from_pretrained(folder).eval()
    assert model.config.feat_extract_norm == "group"
    assert AutoProcessor.from_pretrained(folder).feature_extractor.return_attention_mask is False
    short, long = (torch.from_numpy(sf.read(path, dtype="float32")[0]) for path in dev_files[:2])
    short, long = sorted((short, long), key=len)
    padded = torch.zeros(2, len(long))
    padded[0, : len(short)], padded[1] = short, long
    with torch.no_grad():
        alone = model(short[None]).logits[0]
        naive = model(padded).logits[0, : alone.shape[0]]
    assert (naive - alone).abs().max() > 1e-3


def test_non_audio_input_is_refused_with_the_file_named(ctc_folders, tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    asr = pipeline("automatic-speech-recognition", model=str(ctc_folders["wav2vec2"]))
    with pytest.raises(AudioError, match=r"notes\.wav: cannot decode this audio .*the file is corrupt"):
        asr(str(bad))  # a WAV by its name that libsndfile cannot decode: corrupt, not ffmpeg's turn
    other = tmp_path / "notes.m4a"
    other.write_text("not audio")
    with pytest.raises(
        AssertionError, match="ffmpeg_read"
    ):  # a format libsndfile does not read: ffmpeg's turn
        asr(str(other))
    with pytest.raises(ValueError, match=r"missing\.flac"):
        asr(str(tmp_path / "missing.flac"))
    silence = asr({"raw": np.zeros(8000, np.float32), "sampling_rate": 8000})
    assert isinstance(silence["text"], str)
