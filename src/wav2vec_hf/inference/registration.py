"""Point transformers' ``"automatic-speech-recognition"`` task at ``SpeechRecognitionPipeline``.

Registration stores the class as a dotted path, which transformers resolves only when a pipeline
is built, so importing ``wav2vec_hf`` stays cheap. The subclass changes nothing but input
decoding (files through ``wav2vec_hf.data.load_audio``, arrays resampled with soxr) and the
attention mask of group-norm CTC models, so other ASR models keep working as before.
"""

from __future__ import annotations

TASK = "automatic-speech-recognition"
PIPELINE_PATH = "wav2vec_hf.inference.pipeline.SpeechRecognitionPipeline"

_original_impl: object | None = None


def register_speech_recognition_pipeline() -> None:
    """Make ``pipeline("automatic-speech-recognition", ...)`` build ``SpeechRecognitionPipeline`` (idempotent)."""
    global _original_impl
    from transformers.pipelines import PIPELINE_REGISTRY

    task = PIPELINE_REGISTRY.supported_tasks[TASK]
    if task["impl"] == PIPELINE_PATH:
        return
    _original_impl = task["impl"]
    PIPELINE_REGISTRY.supported_tasks[TASK] = {**task, "impl": PIPELINE_PATH}


def unregister_speech_recognition_pipeline() -> None:
    """Restore transformers' own ASR pipeline class."""
    global _original_impl
    from transformers.pipelines import PIPELINE_REGISTRY

    if _original_impl is not None:
        task = PIPELINE_REGISTRY.supported_tasks[TASK]
        PIPELINE_REGISTRY.supported_tasks[TASK] = {**task, "impl": _original_impl}
        _original_impl = None


__all__ = ["PIPELINE_PATH", "register_speech_recognition_pipeline", "unregister_speech_recognition_pipeline"]
