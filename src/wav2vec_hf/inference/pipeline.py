"""``SpeechRecognitionPipeline``: transformers' ASR pipeline with this package's audio decoding.

The stock pipeline hands file paths and bytes to the ``ffmpeg`` binary and resamples arrays with
torchaudio; neither is needed here. ``pipeline("automatic-speech-recognition", model=DIR)`` builds this
subclass for the package's own models (``inference.routing``; other models keep the stock class);
``pipeline(..., pipeline_class=SpeechRecognitionPipeline)`` asks for it with any CTC model. It accepts:

* a file path (or ``os.PathLike``) or the encoded bytes of a file: decoded with
  ``wav2vec_hf.data.load_audio`` (libsndfile: WAV, FLAC, OGG, MP3, ...; channels averaged to mono;
  soxr resampling to the model's rate). A file of a container libsndfile reads (WAV, FLAC, OGG, ...:
  by its first bytes or its extension) that does not decode is an ``AudioError`` saying the file is
  corrupt, as are a missing file or one this user may not read; only formats libsndfile does not read
  (m4a, mp4, webm, ...) fall back to the stock ``ffmpeg`` path;
* ``{"raw" | "array": ndarray, "sampling_rate": int}``: mono mixdown (``(channels, samples)`` or
  ``(samples, channels)``) and soxr resampling; a ``"stride"`` entry is rescaled with the audio;
* a numpy array (or torch tensor) at the model's rate (as in the stock pipeline; channels averaged);
* a list of any of these (``batch_size=`` batches them).

Every array goes through ``wav2vec_hf.data.prepare_waveform``, so the rules of the loader hold:
integer arrays are PCM and are scaled to [-1, 1) (``int16 / 32768``, ``int32 / 2 ** 31``, ``uint8``
centred on 128); an array holding NaN or inf, or no sample at all, is refused with an ``AudioError``
(a ``ValueError``) that says so. Audio shorter than the model's receptive field (400 samples for
wav2vec 2.0) is padded with silence to it (``decoding.logits.min_input_samples``) and usually
transcribes as ``""``. A WAV whose header declares more frames than the file holds is transcribed
as far as it goes, with a warning logged.

Long audio:

* unchunked, one forward pass over the whole input costs memory quadratic in its length (self
  attention): on CPU an input longer than ``max_unchunked_seconds`` (300 s; set the attribute to
  ``None`` to lift it) is refused with a ``ValueError`` that says to pass ``chunk_length_s``
  (``wav2vec-hf transcribe`` chunks such files itself and says so);
* with an LM, the beam search runs over the logits of the whole input; a decoder's state grows
  faster than linearly with the length (pyctcdecode: 2.6 GB for 30 minutes of dense speech), so
  logits longer than ``lm_segment_seconds`` (60 s) are decoded in segments cut at the longest blank /
  word-delimiter run near each segment end, and the texts (and word timestamps) are joined. Memory
  stays that of one segment (docs/reliability.md has the measurements).

LM decoding is the package's own (``decoding.CTCBeamSearchDecoder``, the decoder ``tune-lm``,
``evaluate`` and self-training use, with the weights of the folder's ``attrs.json``): when the model
folder holds ``alphabet.json`` + ``language_model/``, the pipeline decodes with it, whatever class the
folder's ``processor_class`` names. ``decoder=`` takes one of ours (a ``CTCBeamSearchDecoder`` or a
``CTCProcessorWithLanguageModel``) instead; a pyctcdecode decoder that transformers' loader
side-loads from a stock folder is replaced by ours from the same files. A pyctcdecode decoder is
used only for a folder without LM files, when passed explicitly (transformers' deprecated path).
Neither pyctcdecode nor ``Wav2Vec2ProcessorWithLM`` is imported here.

``chunk_length_s`` / ``stride_length_s`` and ``return_timestamps="word"`` / ``"char"`` work as in the
stock pipeline (CTC chunking with overlapping strides). CTC logits come from ``decoding.logits.ctc_logits``:
a padded batch (``batch_size > 1``) gives every input the transcript it gets alone, also for
wav2vec 2.0 group-norm BASE models, which never receive an attention mask.
"""

from __future__ import annotations

import itertools
import logging
import os

import numpy as np
import torch
from transformers.pipelines.automatic_speech_recognition import (
    AutomaticSpeechRecognitionPipeline,
    rescale_stride,
)

from wav2vec_hf.data.audio import (
    UNREADABLE,
    AudioError,
    load_audio,
    prepare_waveform,
    read_audio_info,
    truncation_message,
)
from wav2vec_hf.decoding.logits import ctc_logits, greedy_ids

logger = logging.getLogger(__name__)

MAX_UNCHUNKED_SECONDS = 300.0
"""On CPU, longer inputs need ``chunk_length_s`` (one forward pass would take minutes and gigabytes)."""
LM_SEGMENT_SECONDS = 60.0
"""Logits longer than this are beam-searched in segments (bounded decoder memory)."""


class SpeechRecognitionPipeline(AutomaticSpeechRecognitionPipeline):
    """``AutomaticSpeechRecognitionPipeline`` that decodes inputs with ``wav2vec_hf.data`` (see module docstring).

    Attributes:
        max_unchunked_seconds: on CPU, the longest input run without ``chunk_length_s`` (``None``: no limit).
        lm_segment_seconds: with an LM, logits longer than this are beam-searched in segments.
    """

    max_unchunked_seconds: float | None = MAX_UNCHUNKED_SECONDS
    lm_segment_seconds: float = LM_SEGMENT_SECONDS

    def __init__(self, model, feature_extractor=None, tokenizer=None, decoder=None, device=None, **kwargs):
        ours = _our_lm_decoder(model, decoder)
        super().__init__(
            model,
            feature_extractor=feature_extractor,
            tokenizer=tokenizer,
            decoder=None if ours is not None else decoder,
            device=device,
            **kwargs,
        )
        if ours is not None and self.type == "ctc":
            from wav2vec_hf.decoding.alphabet import check_alphabet_matches

            check_alphabet_matches(
                ours.labels, self.tokenizer.get_vocab(), f"{_model_folder(model)}/alphabet.json"
            )
            self.decoder = ours
            self.type = "ctc_with_lm"

    def _decode_file(self, source, name: str):
        rate = int(self.feature_extractor.sampling_rate)
        try:
            waveform = load_audio(source, rate, name=name)
        except AudioError as error:
            if error.reason != UNREADABLE or error.known_format is not None:
                raise  # missing, permission denied, empty, NaN, ... or a corrupt WAV / FLAC / OGG file
            # A container libsndfile does not read (e.g. m4a, mp4): the stock ffmpeg path may.
            return None
        info = read_audio_info(source, name=name) if not hasattr(source, "read") else None
        if info is not None and info.truncated:
            logger.warning(
                "%s: %s; transcribing the %.2f s it holds.",
                name,
                truncation_message(info),
                info.frames / info.sample_rate,
            )
        return waveform

    def _check_length(self, waveform: np.ndarray, chunk_length_s) -> None:
        """Refuse an unchunked CPU input longer than ``max_unchunked_seconds`` (see the module docstring)."""
        limit = self.max_unchunked_seconds
        if chunk_length_s or limit is None or self.device.type != "cpu":
            return
        seconds = waveform.shape[0] / int(self.feature_extractor.sampling_rate)
        if seconds > limit:
            raise ValueError(
                f"{seconds / 60:.1f} minutes of audio in one forward pass (more than max_unchunked_seconds="
                f"{limit:g} on CPU): its memory grows with the square of the length. Pass chunk_length_s=30 "
                "(and stride_length_s=5), as `wav2vec-hf transcribe` does for long files, or set "
                "max_unchunked_seconds=None on the pipeline to run it whole."
            )

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
        waveform = prepare_waveform(array, source_rate, target_rate, name="<array input>")
        stride = inputs.pop("stride", None)
        if stride is not None:
            ratio = target_rate / source_rate
            stride = (round(stride[0] * ratio), round(stride[1] * ratio))
            inputs["stride"] = stride
        return {"raw": waveform, "sampling_rate": target_rate, **inputs}

    def preprocess(self, inputs, chunk_length_s=0, stride_length_s=None):
        rate = int(self.feature_extractor.sampling_rate)
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
        elif isinstance(inputs, (np.ndarray, torch.Tensor)):
            # At the model's rate (as in the stock pipeline): scaled, mono, finite, non-empty.
            inputs = prepare_waveform(inputs, rate, rate, name="<array input>")
        if isinstance(inputs, np.ndarray):
            self._check_length(inputs, chunk_length_s)
        elif isinstance(inputs, dict) and isinstance(inputs.get("raw"), np.ndarray):
            self._check_length(inputs["raw"], chunk_length_s)
        yield from super().preprocess(inputs, chunk_length_s=chunk_length_s, stride_length_s=stride_length_s)

    def postprocess(self, model_outputs, decoder_kwargs=None, return_timestamps=None, return_language=None):
        if self.type != "ctc_with_lm" or self.decoder is None:
            return super().postprocess(
                model_outputs, decoder_kwargs=decoder_kwargs, return_timestamps=return_timestamps,
                return_language=return_language,
            )  # fmt: skip
        frames_per_second = int(self.feature_extractor.sampling_rate) / self._align_to
        decoder = self.decoder
        self.decoder = SegmentedBeamSearch(
            decoder,
            max_frames=max(1, round(self.lm_segment_seconds * frames_per_second)),
            blank_id=self.tokenizer.pad_token_id,
            delimiter_id=_token_id(self.tokenizer, getattr(self.tokenizer, "word_delimiter_token", None)),
        )
        try:
            return super().postprocess(
                model_outputs, decoder_kwargs=decoder_kwargs, return_timestamps=return_timestamps,
                return_language=return_language,
            )  # fmt: skip
        finally:
            self.decoder = decoder

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


class SegmentedBeamSearch:
    """A pyctcdecode-style decoder that beam-searches long logits in segments (bounded memory).

    ``decode_beams(logits)`` with at most ``max_frames`` frames is the wrapped decoder's own call.
    Longer logits are cut into segments of at most ``max_frames`` frames, each cut at the middle of
    the longest run of frames whose best token is the blank or the word delimiter within the last
    quarter of the segment (a pause between words: no word is split unless the speech has no pause
    at all); each segment is decoded alone, and the best hypotheses are joined: texts with a space,
    word frame offsets shifted to the whole input, scores summed. The LM context restarts at each
    cut (the first word of a segment is scored as a sentence start).

    Args:
        decoder: has ``decode_beams(logits, **kwargs)`` returning pyctcdecode's beam tuples
            ``(text, lm_state, word_frames, logit_score, lm_score)``.
        max_frames: longest segment, in frames.
        blank_id, delimiter_id: token ids of the CTC blank and of the word delimiter.
    """

    def __init__(self, decoder, *, max_frames: int, blank_id: int, delimiter_id: int | None) -> None:
        self.decoder = decoder
        self.max_frames = int(max_frames)
        self.pause_ids = [i for i in (blank_id, delimiter_id) if i is not None]

    def __getattr__(self, name):
        return getattr(self.decoder, name)

    def cut_points(self, logits: np.ndarray) -> list[int]:
        """Segment boundaries ``[0, ..., frames]`` of ``(frames, vocabulary)`` logits."""
        frames = logits.shape[0]
        pause = np.isin(logits.argmax(axis=-1), self.pause_ids)
        cuts, start = [0], 0
        while frames - start > self.max_frames:
            end = start + self.max_frames
            window_start = end - max(1, self.max_frames // 4)
            cut = _middle_of_longest_run(pause[window_start:end])
            cut = end if cut is None else window_start + cut
            cuts.append(max(cut, start + 1))
            start = cuts[-1]
        return [*cuts, frames]

    def decode_beams(self, logits, **kwargs):
        logits = np.asarray(logits)
        if logits.shape[0] == 0:  # an input shorter than one frame after chunk strides: nothing said
            return [("", None, [], 0.0, 0.0)]
        if logits.shape[0] <= self.max_frames:
            return self.decoder.decode_beams(logits, **kwargs)
        cuts = self.cut_points(logits)
        texts, offsets, logit_score, lm_score = [], [], 0.0, 0.0
        for start, stop in itertools.pairwise(cuts):
            best = self.decoder.decode_beams(logits[start:stop], **kwargs)[0]
            if best[0]:
                texts.append(best[0])
            offsets.extend((word, (begin + start, end + start)) for word, (begin, end) in best[2])
            logit_score += float(best[3])
            lm_score += float(best[4]) if len(best) > 4 else 0.0
        return [(" ".join(texts), None, offsets, logit_score, lm_score)]


def _model_folder(model) -> str | None:
    """The local folder ``model`` was loaded from, or ``None``."""
    folder = getattr(model, "name_or_path", None) or getattr(
        getattr(model, "config", None), "_name_or_path", None
    )
    return os.fspath(folder) if isinstance(folder, (str, os.PathLike)) and os.path.isdir(folder) else None


def _our_lm_decoder(model, decoder):
    """The package's LM decoder for the pipeline (see the module docstring), or ``None`` to decode without.

    Args:
        model: the loaded CTC model (its folder is looked at for LM files).
        decoder: what the caller (or transformers' loader) passed as ``decoder=``.
    """
    from wav2vec_hf.decoding.decoder import CTCBeamSearchDecoder
    from wav2vec_hf.decoding.processor import CTCProcessorWithLanguageModel, check_lm_files, load_lm_decoder

    if isinstance(decoder, CTCBeamSearchDecoder):
        return decoder
    if isinstance(decoder, CTCProcessorWithLanguageModel):
        return decoder.decoder
    if isinstance(decoder, (str, os.PathLike)):
        if check_lm_files(decoder) is None:
            raise ValueError(
                f"decoder={os.fspath(decoder)!r}: no language_model/ folder there; give a processor-with-LM "
                "folder (`wav2vec-hf build-lm --attach` writes one) or leave decoder= out"
            )
        return load_lm_decoder(decoder)
    folder = _model_folder(model)
    if folder is None or check_lm_files(folder) is None:
        return None
    return load_lm_decoder(folder)


def _token_id(tokenizer, token: str | None) -> int | None:
    """The id of ``token`` in ``tokenizer``'s vocabulary, or ``None``."""
    return tokenizer.get_vocab().get(token) if token is not None else None


def _middle_of_longest_run(flags: np.ndarray) -> int | None:
    """Index of the middle of the longest run of ``True`` in ``flags`` (``None`` when there is none)."""
    if not flags.any():
        return None
    padded = np.concatenate([[False], flags, [False]]).astype(np.int8)
    changes = np.flatnonzero(np.diff(padded))
    starts, ends = changes[0::2], changes[1::2]
    longest = int(np.argmax(ends - starts))
    return int((starts[longest] + ends[longest]) // 2)


__all__ = ["SegmentedBeamSearch", "SpeechRecognitionPipeline"]
