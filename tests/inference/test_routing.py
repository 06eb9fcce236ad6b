"""``import wav2vec_hf`` gives our ASR pipeline to our models only: other models keep transformers' class.

Stock models are tiny, randomly initialised and saved to ``tmp_path`` (no Hub download). "Exactly as
without the package" is checked against pipelines built while transformers' own class is registered.
"""

from __future__ import annotations

import contextlib
import json
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import (
    WhisperConfig,
    WhisperFeatureExtractor,
    WhisperForConditionalGeneration,
    WhisperProcessor,
    WhisperTokenizer,
    pipeline,
)
from transformers.pipelines import PIPELINE_REGISTRY
from transformers.pipelines import automatic_speech_recognition as stock_asr
from transformers.pipelines.automatic_speech_recognition import AutomaticSpeechRecognitionPipeline

import wav2vec_hf  # noqa: F401  (registers the routing class, as any user's import does)
from tests.decoding.support import make_model_folder
from wav2vec_hf.data.normalization import TextNormalizer
from wav2vec_hf.inference import registration
from wav2vec_hf.inference.pipeline import SpeechRecognitionPipeline
from wav2vec_hf.inference.routing import is_wav2vec_hf_model
from wav2vec_hf.inference.transcribe import load_pipeline
from wav2vec_hf.models.wav2vec import VQWav2VecConfig, Wav2VecConfig

TASK = "automatic-speech-recognition"
RATE = 16000


@contextlib.contextmanager
def transformers_own_class():
    """The registry as it is without ``wav2vec_hf`` (transformers' class), restored afterwards."""
    registration.unregister_speech_recognition_pipeline()
    try:
        assert PIPELINE_REGISTRY.supported_tasks[TASK]["impl"] != registration.ROUTER_PATH
        yield
    finally:
        registration.register_speech_recognition_pipeline()


@pytest.fixture
def ffmpeg_calls(monkeypatch):
    """Stands in for the ``ffmpeg`` binary (decodes with soundfile) and records each call."""
    calls = []

    def fake_ffmpeg_read(payload: bytes, sampling_rate: int) -> np.ndarray:
        calls.append(len(payload))
        import io

        audio, rate = sf.read(io.BytesIO(payload), dtype="float32")
        assert rate == sampling_rate
        return audio

    monkeypatch.setattr(stock_asr, "ffmpeg_read", fake_ffmpeg_read)
    return calls


@pytest.fixture(scope="module")
def stock_ctc_dir(tmp_path_factory):
    """A tiny stock Wav2Vec2ForCTC folder with its processor: no file of this package in it."""
    folder = tmp_path_factory.mktemp("stock-wav2vec2")
    make_model_folder(folder)
    assert not (folder / "text_normalizer.json").exists()
    return folder


@pytest.fixture(scope="module")
def whisper_dir(tmp_path_factory):
    """A tiny random WhisperForConditionalGeneration with a 20-token tokenizer and 8 mel bins."""
    folder = tmp_path_factory.mktemp("whisper")
    vocab = {c: i for i, c in enumerate("abcdefghij")} | {"Ġ": 10}
    for token in ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>"]:
        vocab[token] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    end = "<|endoftext|>"
    tokenizer = WhisperTokenizer(
        str(folder / "vocab.json"),
        str(folder / "merges.txt"),
        unk_token=end,
        bos_token=end,
        eos_token=end,
        pad_token=end,
    )
    processor = WhisperProcessor(
        feature_extractor=WhisperFeatureExtractor(feature_size=8), tokenizer=tokenizer
    )
    processor.save_pretrained(folder)
    config = WhisperConfig(vocab_size=len(vocab), num_mel_bins=8, d_model=16, encoder_layers=1, decoder_layers=1,
                           encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=16,
                           decoder_ffn_dim=16, max_target_positions=32, pad_token_id=vocab[end],
                           bos_token_id=vocab[end], eos_token_id=vocab[end],
                           decoder_start_token_id=vocab["<|startoftranscript|>"])  # fmt: skip
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(config)
    model.generation_config.max_length = 6
    model.save_pretrained(folder)
    return folder


def noise(samples: int, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(samples)).astype(np.float32)


def _outputs(asr, wav_path: str) -> list:
    """What a user sees from ``asr`` on an array, a dict with its rate, a batch and a file path."""
    return [
        asr(noise(RATE))["text"],
        asr({"raw": noise(RATE // 2, 1), "sampling_rate": RATE})["text"],
        [item["text"] for item in asr([noise(RATE, 2), noise(RATE // 3, 3)], batch_size=2)],
        asr(wav_path)["text"],
    ]


@pytest.mark.parametrize("kind", ["wav2vec2", "whisper"])
def test_stock_models_get_transformers_class_and_its_exact_behaviour(
    kind, stock_ctc_dir, whisper_dir, ffmpeg_calls, tmp_path
):
    folder = str(stock_ctc_dir if kind == "wav2vec2" else whisper_dir)
    wav = tmp_path / "noise.wav"
    sf.write(wav, noise(RATE, 4), RATE)

    routed = pipeline(TASK, model=folder)
    assert type(routed) is AutomaticSpeechRecognitionPipeline  # the stock class itself, no subclass
    routed_outputs = _outputs(routed, str(wav))
    assert len(ffmpeg_calls) == 1  # a file path goes to ffmpeg, as in transformers

    with transformers_own_class():
        stock = pipeline(TASK, model=folder)
        assert type(stock) is AutomaticSpeechRecognitionPipeline
        assert _outputs(stock, str(wav)) == routed_outputs
    assert len(ffmpeg_calls) == 2
    assert routed.type == stock.type == ("ctc" if kind == "wav2vec2" else "seq2seq_whisper")


def test_our_models_get_our_pipeline_and_a_stock_model_can_ask_for_it(stock_ctc_dir, ffmpeg_calls, tmp_path):
    wav = tmp_path / "noise.wav"
    sf.write(wav, noise(RATE, 4), RATE)
    # Explicitly asked for: our class on any CTC model, files through our loader.
    ours = pipeline(TASK, model=str(stock_ctc_dir), pipeline_class=SpeechRecognitionPipeline)
    assert type(ours) is SpeechRecognitionPipeline and isinstance(ours(str(wav))["text"], str)
    assert type(load_pipeline(stock_ctc_dir)) is SpeechRecognitionPipeline  # `wav2vec-hf transcribe`
    # A fine-tuning run's folder (it writes text_normalizer.json): ours without asking.
    finetuned = tmp_path / "finetuned"
    make_model_folder(finetuned)
    TextNormalizer().save(finetuned)
    routed = pipeline(TASK, model=str(finetuned))
    assert type(routed) is SpeechRecognitionPipeline
    assert routed(str(wav))["text"] == ours(str(wav))["text"]
    assert ffmpeg_calls == []
    with pytest.raises(ValueError, match="NaN or infinite"):  # our input checks, not the stock ones
        routed(np.full(800, np.nan, np.float32))


def test_what_counts_as_ours(stock_ctc_dir, tmp_path):
    assert is_wav2vec_hf_model(SimpleNamespace(config=Wav2VecConfig()))
    assert is_wav2vec_hf_model(SimpleNamespace(config=VQWav2VecConfig()))
    stock = SimpleNamespace(config=SimpleNamespace(model_type="wav2vec2"), name_or_path=str(stock_ctc_dir))
    assert not is_wav2vec_hf_model(stock)
    assert not is_wav2vec_hf_model(
        SimpleNamespace(config=SimpleNamespace(model_type="wav2vec2"), name_or_path="")
    )
    assert not is_wav2vec_hf_model(  # a Hub id is not looked up
        SimpleNamespace(
            config=SimpleNamespace(model_type="wav2vec2"), name_or_path="facebook/wav2vec2-base-960h"
        )
    )
    converted = tmp_path / "converted"
    converted.mkdir()
    (converted / "conversion.json").write_text("{}")
    assert is_wav2vec_hf_model(
        SimpleNamespace(config=SimpleNamespace(model_type="wav2vec2"), name_or_path=str(converted))
    )
    assert not is_wav2vec_hf_model("a string is not a model")


def test_registration_is_idempotent_and_keeps_the_class_it_replaced():
    registration.register_speech_recognition_pipeline()
    registration.register_speech_recognition_pipeline()
    assert PIPELINE_REGISTRY.supported_tasks[TASK]["impl"] == registration.ROUTER_PATH
    assert registration.previous_pipeline_class() is AutomaticSpeechRecognitionPipeline
    with transformers_own_class():
        assert registration.previous_pipeline_class() is None
        impl = PIPELINE_REGISTRY.supported_tasks[TASK]["impl"]  # transformers' own entry, as it was
        assert (
            impl == "transformers.pipelines.automatic_speech_recognition.AutomaticSpeechRecognitionPipeline"
        )
    assert registration.previous_pipeline_class() is AutomaticSpeechRecognitionPipeline
