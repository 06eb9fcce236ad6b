"""``SpeechRecognitionPipeline``: transformers' ASR pipeline with this package's audio decoding.

The stock pipeline hands file paths and bytes to the ``ffmpeg`` binary and resamples arrays with
torchaudio; neither is needed here. This subclass, which ``import wav2vec_hf`` registers for
``pipeline("automatic-speech-recognition", model=DIR)``, accepts:

* a file path (or ``os.PathLike``) or the encoded bytes of a file: decoded with
  ``wav2vec_hf.data.load_audio`` (libsndfile: WAV, FLAC, OGG, MP3, ...; channels averaged to mono;
  soxr resampling to the model's rate). Formats libsndfile cannot read fall back to the stock
  ``ffmpeg`` path;
* ``{"raw" | "array": ndarray, "sampling_rate": int}``: mono mixdown (``(channels, samples)`` or
  ``(samples, channels)``) and soxr resampling; a ``"stride"`` entry is rescaled with the audio;
* a 1-D numpy array at the model's rate (as in the stock pipeline);
* a list of any of these (``batch_size=`` batches them).

``chunk_length_s`` / ``stride_length_s`` and ``return_timestamps="word"`` / ``"char"`` work as in the
stock pipeline (CTC chunking with overlapping strides). CTC logits come from ``inference.logits.ctc_logits``:
a padded batch (``batch_size > 1``) gives every input the transcript it gets alone, also for
wav2vec 2.0 group-norm BASE models, which never receive an attention mask.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from transformers.pipelines.automatic_speech_recognition import (
    AutomaticSpeechRecognitionPipeline,
    rescale_stride,
)

from wav2vec_hf.data.audio import AudioError, load_audio, prepare_waveform
from wav2vec_hf.inference.logits import ctc_logits, greedy_ids


class SpeechRecognitionPipeline(AutomaticSpeechRecognitionPipeline):
    """``AutomaticSpeechRecognitionPipeline`` that decodes inputs with ``wav2vec_hf.data`` (see module docstring)."""

    def _decode_file(self, source, name: str):
        rate = int(self.feature_extractor.sampling_rate)
        try:
            return load_audio(source, rate, name=name)
        except AudioError as error:
            if error.reason != "unreadable":
                raise
            # libsndfile cannot read this container (e.g. m4a): the stock ffmpeg path may.
            return None

    def _prepare_dict(self, inputs: dict) -> dict:
        """Mono mixdown and soxr resampling of ``{"raw"|"array", "sampling_rate", ["stride"]}`` inputs."""
        inputs = dict(inputs)
        if "sampling_rate" not in inputs or not ("raw" in inputs or "array" in inputs):
            return inputs  # let the stock pipeline explain what is missing
        array = inputs.pop("raw", None)
        if array is None:
            inputs.pop("path", None)
            array = inputs.pop("array")
        if hasattr(array, "detach"):
            array = array.detach().cpu().numpy()
        source_rate = int(inputs.pop("sampling_rate"))
        target_rate = int(self.feature_extractor.sampling_rate)
        waveform = prepare_waveform(
            np.asarray(array, dtype=np.float32), source_rate, target_rate, name="<array input>"
        )
        stride = inputs.pop("stride", None)
        if stride is not None:
            ratio = target_rate / source_rate
            stride = (round(stride[0] * ratio), round(stride[1] * ratio))
            inputs["stride"] = stride
        return {"raw": waveform, "sampling_rate": target_rate, **inputs}

    def preprocess(self, inputs, chunk_length_s=0, stride_length_s=None):
        if isinstance(inputs, os.PathLike) or (
            isinstance(inputs, str) and not inputs.startswith(("http://", "https://"))
        ):
            decoded = self._decode_file(inputs, os.fspath(inputs))
            if decoded is not None:
                inputs = decoded
        elif isinstance(inputs, (bytes, bytearray)):
            decoded = self._decode_file(bytes(inputs), f"<{len(inputs)} bytes of audio>")
            if decoded is not None:
                inputs = decoded
        elif isinstance(inputs, dict):
            inputs = self._prepare_dict(inputs)
        yield from super().preprocess(inputs, chunk_length_s=chunk_length_s, stride_length_s=stride_length_s)

    def _forward(self, model_inputs, return_timestamps=False, return_language=None, **generate_kwargs):
        if self.type not in {"ctc", "ctc_with_lm"}:
            return super()._forward(
                model_inputs,
                return_timestamps=return_timestamps,
                return_language=return_language,
                **generate_kwargs,
            )
        attention_mask = model_inputs.pop("attention_mask", None)
        stride = model_inputs.pop("stride", None)
        model_inputs.pop("num_frames", None)
        is_last = model_inputs.pop("is_last")
        input_values = model_inputs.pop(self.model.main_input_name)
        logits, frames = ctc_logits(self.model, input_values, attention_mask)
        if self.type == "ctc_with_lm":
            # Frames past an input's end: certain blank, so the beam search ignores them.
            padding = torch.arange(logits.shape[1], device=logits.device)[None, :] >= frames[:, None]
            blank = torch.full_like(logits, torch.finfo(logits.dtype).min)
            blank[..., self.tokenizer.pad_token_id] = 0.0
            out = {"logits": torch.where(padding[..., None], blank, logits)}
        else:
            out = {"tokens": greedy_ids(logits, frames, self.tokenizer.pad_token_id)}
        if stride is not None:
            ratio = 1 / self._align_to
            out["stride"] = (
                rescale_stride([stride], ratio)[0]
                if isinstance(stride, tuple)
                else rescale_stride(stride, ratio)
            )
        return {"is_last": is_last, **out, **model_inputs}


__all__ = ["SpeechRecognitionPipeline"]
