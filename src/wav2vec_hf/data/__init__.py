"""Audio data layer: load, validate, batch.

Path of the data: ``open_audio_source`` (manifests, tables, folders, ``datasets`` objects) ->
``AudioSet`` of validated ``AudioRecord``s (or an ``AudioStream``) -> ``AudioDataset`` /
``StreamingAudioDataset`` (decode with ``load_audio``: mono, 16 kHz, float32) ->
``LengthBatchSampler`` (batches bounded by total samples) -> ``AudioCollator`` (padding, mask).

Modules: ``audio`` (the one loader), ``records`` (manifest parsing), ``validation`` (checks and
``SkipReport``), ``bad_files`` (every bad file to a table, a short summary on screen), ``huggingface`` (``datasets`` adapter), ``sources`` (``open_audio_source``),
``datasets`` (torch datasets), ``batching`` (sampler, crops), ``collators``.
"""

from wav2vec_hf.data.audio import (
    DEFAULT_SAMPLE_RATE,
    AudioError,
    AudioInfo,
    DecodedAudio,
    load_audio,
    normalize_waveform,
    read_audio_info,
    resample,
    resampled_length,
)
from wav2vec_hf.data.batching import LengthBatchSampler, crop_offset
from wav2vec_hf.data.collators import AudioCollator
from wav2vec_hf.data.datasets import AudioDataset, StreamingAudioDataset
from wav2vec_hf.data.records import AudioRecord, ManifestEntry, ManifestError
from wav2vec_hf.data.sources import AudioSet, AudioStream, open_audio_source
from wav2vec_hf.data.validation import DataValidationError, SkipReport, ValidationRules

__all__ = [
    "DEFAULT_SAMPLE_RATE",
    "AudioCollator",
    "AudioDataset",
    "AudioError",
    "AudioInfo",
    "AudioRecord",
    "AudioSet",
    "AudioStream",
    "DataValidationError",
    "DecodedAudio",
    "LengthBatchSampler",
    "ManifestEntry",
    "ManifestError",
    "SkipReport",
    "StreamingAudioDataset",
    "ValidationRules",
    "crop_offset",
    "load_audio",
    "normalize_waveform",
    "open_audio_source",
    "read_audio_info",
    "resample",
    "resampled_length",
]
