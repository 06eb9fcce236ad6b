"""wav2vec (2019) and vq-wav2vec (2020): configuration and models (self-contained, Hub remote-code ready)."""

from wav2vec_hf.models.wav2vec.configuration_wav2vec import VQWav2VecConfig, Wav2VecConfig
from wav2vec_hf.models.wav2vec.modeling_wav2vec import (
    GumbelVectorQuantizer,
    KmeansVectorQuantizer,
    VQWav2VecForCTC,
    VQWav2VecForPreTraining,
    VQWav2VecModel,
    Wav2LetterAcousticModel,
    Wav2VecForCTC,
    Wav2VecForCTCOutput,
    Wav2VecForPreTraining,
    Wav2VecForPreTrainingOutput,
    Wav2VecModel,
    Wav2VecModelOutput,
    Wav2VecPreTrainedModel,
    gumbel_temperature_at_step,
    sample_negative_indices,
)

__all__ = [
    "GumbelVectorQuantizer",
    "KmeansVectorQuantizer",
    "VQWav2VecConfig",
    "VQWav2VecForCTC",
    "VQWav2VecForPreTraining",
    "VQWav2VecModel",
    "Wav2LetterAcousticModel",
    "Wav2VecConfig",
    "Wav2VecForCTC",
    "Wav2VecForCTCOutput",
    "Wav2VecForPreTraining",
    "Wav2VecForPreTrainingOutput",
    "Wav2VecModel",
    "Wav2VecModelOutput",
    "Wav2VecPreTrainedModel",
    "gumbel_temperature_at_step",
    "sample_negative_indices",
]
