"""Which ASR pipeline class serves a model: ours for this package's models, transformers' for all others.

``import wav2vec_hf`` registers ``RoutedSpeechRecognitionPipeline`` for the
``"automatic-speech-recognition"`` task (``inference.registration``). No object of that class is
ever made: ``pipeline()`` loads the model first and then calls the class, and the call returns

* a ``SpeechRecognitionPipeline`` (``inference.pipeline``: files through our loader, no ``ffmpeg``;
  group-norm batching; segmented LM decoding) when the model is one of this package's, and
* otherwise an object of exactly the class registered before (transformers'
  ``AutomaticSpeechRecognitionPipeline``), built with the same arguments: Whisper, stock wav2vec 2.0
  checkpoints and every other model behave as if the package had not been imported.

A model is this package's (``is_wav2vec_hf_model``) when

* its config's ``model_type`` is ``"wav2vec"`` or ``"vq-wav2vec"`` (the families transformers does
  not ship), or
* it was loaded from a local folder holding a file only this package writes: ``text_normalizer.json``
  (fine-tuning) or ``conversion.json`` (``convert-fairseq``), or whose ``processor_config.json`` names
  this package's ``CTCProcessorWithLanguageModel`` (an LM attached here). That is how a fine-tuned
  stock ``Wav2Vec2ForCTC`` is told apart; a Hub repository id is never looked up (no network request).

Any other model gets our class on request: ``pipeline(..., pipeline_class=SpeechRecognitionPipeline)``,
as ``inference.transcribe.load_pipeline`` (``wav2vec-hf transcribe``) does.
"""

from __future__ import annotations

import json
import os

from transformers.pipelines.automatic_speech_recognition import AutomaticSpeechRecognitionPipeline


def _our_model_types() -> frozenset[str]:
    from wav2vec_hf.models.wav2vec import VQWav2VecConfig, Wav2VecConfig

    return frozenset({Wav2VecConfig.model_type, VQWav2VecConfig.model_type})


def _marker_files() -> tuple[str, ...]:
    """Files only this package writes into a model folder."""
    from wav2vec_hf.convert.fairseq import CONVERSION_INFO_FILE
    from wav2vec_hf.finetuning.vocabulary import NORMALIZER_FILE

    return (NORMALIZER_FILE, CONVERSION_INFO_FILE)


def is_wav2vec_hf_model(model) -> bool:
    """Whether ``model`` (a loaded ``PreTrainedModel``) is one of this package's (see the module docstring)."""
    config = getattr(model, "config", None)
    if getattr(config, "model_type", None) in _our_model_types():
        return True
    folder = getattr(model, "name_or_path", None) or getattr(config, "_name_or_path", None)
    if not isinstance(folder, (str, os.PathLike)) or not os.path.isdir(folder):
        return False
    if any(os.path.isfile(os.path.join(folder, name)) for name in _marker_files()):
        return True
    return _names_our_processor(folder)


def _names_our_processor(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder``'s ``processor_config.json`` names ``CTCProcessorWithLanguageModel``."""
    from wav2vec_hf.decoding.processor import PROCESSOR_CLASS

    path = os.path.join(folder, "processor_config.json")
    try:
        with open(path, encoding="utf-8") as handle:
            config = json.load(handle)
    except (OSError, ValueError):
        return False  # no such file or not JSON: the processor's own loader names a broken one
    return isinstance(config, dict) and config.get("processor_class") == PROCESSOR_CLASS


class RoutedSpeechRecognitionPipeline(AutomaticSpeechRecognitionPipeline):
    """The registered ASR class: calling it builds ``SpeechRecognitionPipeline`` or the stock class.

    It subclasses ``AutomaticSpeechRecognitionPipeline`` only so that ``pipeline()`` reads the stock
    class's loading flags (``_load_tokenizer``, ``_load_feature_extractor``, ...) from it; the object
    returned is never an instance of this class, so its ``__init__`` never runs.
    """

    def __new__(cls, *args, **kwargs):
        from wav2vec_hf.inference.pipeline import SpeechRecognitionPipeline
        from wav2vec_hf.inference.registration import previous_pipeline_class

        model = kwargs["model"] if "model" in kwargs else (args[0] if args else None)
        if is_wav2vec_hf_model(model):
            return SpeechRecognitionPipeline(*args, **kwargs)
        other = previous_pipeline_class()
        if other is None or issubclass(other, cls):  # never route back to this class
            other = AutomaticSpeechRecognitionPipeline
        return other(*args, **kwargs)


__all__ = ["RoutedSpeechRecognitionPipeline", "is_wav2vec_hf_model"]
