"""Model families of wav2vec-hf that transformers does not ship (wav2vec 2.0 uses stock transformers).

``register_auto_classes()`` makes ``AutoConfig``, ``AutoModel``, ``AutoModelForPreTraining`` and
``AutoModelForCTC`` resolve the ``"wav2vec"`` and ``"vq-wav2vec"`` model types. The models import
nothing from the layers above them: ``wav2vec_hf.registration`` calls this together with the
pipeline and processor registrations of the inference and decoding layers.
"""

from __future__ import annotations

_registered = False


def register_auto_classes() -> None:
    """Register wav2vec / vq-wav2vec with transformers' Auto model and config classes (idempotent)."""
    global _registered
    if _registered:
        return
    from transformers import AutoConfig, AutoModel, AutoModelForCTC, AutoModelForPreTraining

    from wav2vec_hf.models.wav2vec import (
        VQWav2VecConfig,
        VQWav2VecForCTC,
        VQWav2VecForPreTraining,
        VQWav2VecModel,
        Wav2VecConfig,
        Wav2VecForCTC,
        Wav2VecForPreTraining,
        Wav2VecModel,
    )

    AutoConfig.register(Wav2VecConfig.model_type, Wav2VecConfig, exist_ok=True)
    AutoConfig.register(VQWav2VecConfig.model_type, VQWav2VecConfig, exist_ok=True)
    AutoModel.register(Wav2VecConfig, Wav2VecModel, exist_ok=True)
    AutoModel.register(VQWav2VecConfig, VQWav2VecModel, exist_ok=True)
    AutoModelForPreTraining.register(Wav2VecConfig, Wav2VecForPreTraining, exist_ok=True)
    AutoModelForPreTraining.register(VQWav2VecConfig, VQWav2VecForPreTraining, exist_ok=True)
    AutoModelForCTC.register(Wav2VecConfig, Wav2VecForCTC, exist_ok=True)
    AutoModelForCTC.register(VQWav2VecConfig, VQWav2VecForCTC, exist_ok=True)
    _registered = True


__all__ = ["register_auto_classes"]
