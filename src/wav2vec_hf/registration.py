"""Everything ``import wav2vec_hf`` registers with transformers, in one call: ``register_with_transformers``.

* the wav2vec and vq-wav2vec model types with the Auto config and model classes (``models``);
* the ASR pipeline router (``inference.registration``): ``pipeline("automatic-speech-recognition")``
  builds ``SpeechRecognitionPipeline`` (files decoded with our loader, no ``ffmpeg``; LM decoding
  with the package's decoder) for the package's own models and transformers' own class for every
  other model;
* ``CTCProcessorWithLanguageModel`` with ``AutoProcessor`` (``decoding.processor``).

It sits above those layers so that none of them imports another to register: the package
``__init__`` runs it once transformers is imported (``import_hooks``).
"""

from __future__ import annotations


def register_with_transformers() -> None:
    """Register the models, the ASR pipeline router and the LM processor with transformers (idempotent)."""
    from wav2vec_hf.decoding.processor import register_with_auto_processor
    from wav2vec_hf.inference.registration import register_speech_recognition_pipeline
    from wav2vec_hf.models import register_auto_classes

    register_auto_classes()
    register_speech_recognition_pipeline()
    register_with_auto_processor()


__all__ = ["register_with_transformers"]
