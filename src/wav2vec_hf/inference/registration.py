"""Route transformers' ``"automatic-speech-recognition"`` task through ``RoutedSpeechRecognitionPipeline``.

The registered class (``inference.routing``) builds ``SpeechRecognitionPipeline`` for this package's
models only; every other model gets exactly the class that was registered before (transformers'
``AutomaticSpeechRecognitionPipeline``), so importing ``wav2vec_hf`` changes nothing for Whisper,
stock wav2vec 2.0 checkpoints or any other model.

Registration stores the class as a dotted path, which transformers resolves only when a pipeline
is built, so importing ``wav2vec_hf`` stays cheap.
"""

from __future__ import annotations

import importlib

TASK = "automatic-speech-recognition"
ROUTER_PATH = "wav2vec_hf.inference.routing.RoutedSpeechRecognitionPipeline"

_previous_impl: object | None = None


def register_speech_recognition_pipeline() -> None:
    """Route ``pipeline("automatic-speech-recognition", ...)`` through ``inference.routing`` (idempotent)."""
    global _previous_impl
    from transformers.pipelines import PIPELINE_REGISTRY

    task = PIPELINE_REGISTRY.supported_tasks[TASK]
    if task["impl"] == ROUTER_PATH:
        return
    _previous_impl = task["impl"]
    PIPELINE_REGISTRY.supported_tasks[TASK] = {**task, "impl": ROUTER_PATH}


def unregister_speech_recognition_pipeline() -> None:
    """Restore the ASR pipeline class registered before ours (transformers' own)."""
    global _previous_impl
    from transformers.pipelines import PIPELINE_REGISTRY

    if _previous_impl is not None:
        task = PIPELINE_REGISTRY.supported_tasks[TASK]
        PIPELINE_REGISTRY.supported_tasks[TASK] = {**task, "impl": _previous_impl}
        _previous_impl = None


def previous_pipeline_class() -> type | None:
    """The class registered for the task before ours (``None`` when ours is not registered)."""
    impl = _previous_impl
    if isinstance(impl, str):
        module, name = impl.rsplit(".", 1)
        impl = getattr(importlib.import_module(module), name)
    return impl


__all__ = [
    "ROUTER_PATH",
    "previous_pipeline_class",
    "register_speech_recognition_pipeline",
    "unregister_speech_recognition_pipeline",
]
