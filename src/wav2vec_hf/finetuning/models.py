"""Turn a pretrained folder (or a preset, for training from scratch) into a CTC model and its feature extractor.

* wav2vec 2.0 (``model_type == "wav2vec2"``): stock ``Wav2Vec2ForCTC`` with a new linear CTC layer
  (``lm_head``), the paper's fine-tuning settings in its config (time and channel masking,
  LayerDrop, ``ctc_zero_infinity``) and the feature encoder frozen when its weights are pretrained
  (random conv features are trained: freezing them cripples a model trained from scratch).
* wav2vec / vq-wav2vec: ``Wav2VecForCTC`` / ``VQWav2VecForCTC`` (wav2letter-style acoustic model on
  the frozen context network, as in the papers).

``head_parameter_names`` tells the recipe which parameters are new (trained first, alone) and
``body_parameter_names`` which pretrained ones join later.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path

from transformers import AutoConfig, AutoModelForCTC, PretrainedConfig, Wav2Vec2FeatureExtractor

from wav2vec_hf.finetuning.vocabulary import Vocabulary

logger = logging.getLogger(__name__)

WAV2VEC2_HEAD = "lm_head."
WAV2VEC_HEAD = "acoustic_model."
# "sentence": fairseq's sentence_avg. The model sums (config "sum"); CTCTrainer divides by the utterances.
CTC_REDUCTIONS = ("mean", "sum", "sentence")


@dataclass
class CTCModelOptions:
    """What the fine-tuning recipe sets in the model's config (``None``: keep the pretrained value).

    Attributes:
        from_scratch: random initial weights (same architecture) instead of the pretrained ones.
        freeze_feature_encoder: wav2vec 2.0: never train the conv feature encoder (the paper). ``None``
            (the default): frozen when its weights are pretrained, trained when they are random
            (``from_scratch`` or a preset name); ``resolved`` settles it.
        freeze_pretrained: wav2vec / vq-wav2vec: keep the pretrained network fixed (the papers).
        mask_time_prob, mask_time_length: wav2vec 2.0 time masking (span starts per frame, span frames).
        mask_time_min_masks: the fewest time-mask spans per utterance. 0 by default: pretraining configs
            say 2, which on a 0.4 s utterance (20 frames) masks nearly all of it.
        mask_feature_prob, mask_feature_length: wav2vec 2.0 channel masking.
        layerdrop: wav2vec 2.0 LayerDrop probability.
        final_dropout: wav2vec 2.0 dropout before the CTC layer.
        hidden_dropout, attention_dropout, activation_dropout, feat_proj_dropout: wav2vec 2.0
            Transformer / attention / FFN-activation / feature-projection dropouts (fairseq's dropout,
            attention_dropout, activation_dropout, dropout_input). ``None``: the pretrained config's.
        head_layers: wav2vec / vq-wav2vec acoustic model as ``[(channels, kernel), ...]``.
        head_activation, head_dropout: its activation and dropout.
        ctc_loss_reduction: ``"mean"`` (per label, then per utterance), ``"sum"``, or ``"sentence"``
            (summed, divided by the utterances of the batch: fairseq's ``sentence_avg``; the model's
            config says ``"sum"`` and ``CTCTrainer`` divides).
        ctc_zero_infinity: zero the loss of infeasible alignments instead of inf (never NaN/inf).
    """

    from_scratch: bool = False
    freeze_feature_encoder: bool | None = None
    freeze_pretrained: bool = True
    mask_time_prob: float | None = 0.05
    mask_time_length: int | None = 10
    mask_time_min_masks: int | None = 0
    mask_feature_prob: float | None = 0.0
    mask_feature_length: int | None = 10
    layerdrop: float | None = 0.05
    final_dropout: float | None = 0.0
    hidden_dropout: float | None = None
    attention_dropout: float | None = None
    activation_dropout: float | None = None
    feat_proj_dropout: float | None = None
    head_layers: list | tuple | None = None
    head_activation: str | None = None
    head_dropout: float | None = None
    ctc_loss_reduction: str = "mean"
    ctc_zero_infinity: bool = True

    def resolved(self, model: str | os.PathLike) -> CTCModelOptions:
        """These options with ``freeze_feature_encoder`` decided for ``model`` (a folder or a preset name)."""
        if self.freeze_feature_encoder is not None:
            return self
        random_weights = self.from_scratch or not Path(model).is_dir()
        return replace(self, freeze_feature_encoder=not random_weights)


def is_wav2vec2(config: PretrainedConfig) -> bool:
    """True for a wav2vec 2.0 config (stock transformers), False for wav2vec / vq-wav2vec."""
    return config.model_type == "wav2vec2"


def _config_source(model: str | os.PathLike) -> tuple[PretrainedConfig, bool]:
    """The config of a folder, or of a preset name (then the weights are necessarily random)."""
    path = Path(model)
    if path.is_dir():
        from wav2vec_hf.model_folders import check_model_weights

        check_model_weights(path)  # a damaged weights file, named, before transformers reads it
        return AutoConfig.from_pretrained(path), False
    from wav2vec_hf.presets import get_preset, list_presets

    if str(model) in list_presets():
        return get_preset(str(model)), True
    raise FileNotFoundError(
        f"{model}: neither a model folder (save_pretrained / convert-fairseq output) nor a preset name "
        f"({', '.join(list_presets())})."
    )


def feature_extractor_for(
    model: str | os.PathLike | None, config: PretrainedConfig
) -> Wav2Vec2FeatureExtractor:
    """The feature extractor of a pretrained folder (``None``: none), or the reference one for its architecture.

    wav2vec 2.0 group-norm (BASE) models take no attention mask (the reference pads them without
    one); layer-norm models (LARGE/LV60) take one and normalise each utterance. wav2vec /
    vq-wav2vec CTC models take the mask: ``Wav2VecForCTC`` uses it to encode each utterance at its
    own length, so padding never changes a transcript.
    """
    extractor = None
    path = Path(model) if model is not None else None
    if (
        path is not None
        and path.is_dir()
        and any((path / name).is_file() for name in ("preprocessor_config.json", "processor_config.json"))
    ):
        from transformers import AutoFeatureExtractor

        extractor = AutoFeatureExtractor.from_pretrained(path)
    if extractor is None:
        layer_norm = is_wav2vec2(config) and config.feat_extract_norm == "layer"
        extractor = Wav2Vec2FeatureExtractor(
            feature_size=1,
            sampling_rate=int(getattr(config, "sampling_rate", 16000)),
            padding_value=0.0,
            do_normalize=layer_norm,
            return_attention_mask=layer_norm,
        )
    if not is_wav2vec2(config):
        extractor.return_attention_mask = True
    return extractor


def _ctc_overrides(config: PretrainedConfig, vocabulary: Vocabulary, options: CTCModelOptions) -> dict:
    overrides = {
        "vocab_size": len(vocabulary),
        "pad_token_id": vocabulary.blank_id,
        "ctc_loss_reduction": "sum"
        if options.ctc_loss_reduction == "sentence"
        else options.ctc_loss_reduction,
        "ctc_zero_infinity": options.ctc_zero_infinity,
    }
    if is_wav2vec2(config):
        wanted = {
            "mask_time_prob": options.mask_time_prob,
            "mask_time_length": options.mask_time_length,
            "mask_time_min_masks": options.mask_time_min_masks,
            "mask_feature_prob": options.mask_feature_prob,
            "mask_feature_length": options.mask_feature_length,
            "layerdrop": options.layerdrop,
            "final_dropout": options.final_dropout,
            "hidden_dropout": options.hidden_dropout,
            "attention_dropout": options.attention_dropout,
            "activation_dropout": options.activation_dropout,
            "feat_proj_dropout": options.feat_proj_dropout,
        }
        overrides.update({"bos_token_id": None, "eos_token_id": None})
    else:
        wanted = {
            "ctc_head_layers": options.head_layers,
            "ctc_head_activation": options.head_activation,
            "ctc_head_dropout": options.head_dropout,
            "freeze_pretrained": options.freeze_pretrained,
        }
    overrides.update({key: value for key, value in wanted.items() if value is not None})
    return overrides


def build_ctc_model(
    model: str | os.PathLike, vocabulary: Vocabulary, options: CTCModelOptions | None = None
) -> tuple:
    """A CTC model for ``vocabulary`` from a pretrained folder or a preset, and its feature extractor.

    Args:
        model: a folder written by pretraining, ``convert-fairseq`` or an earlier fine-tuning, or a
            preset name (random weights).
        vocabulary: sets the CTC layer's size and the blank id.
        options: the recipe's model settings.

    Returns:
        ``(model, feature_extractor)``; the model is in training mode.
    """
    options = (options or CTCModelOptions()).resolved(model)
    config, preset_only = _config_source(model)
    for key, value in _ctc_overrides(config, vocabulary, options).items():
        setattr(config, key, value)
    if is_wav2vec2(config):
        config.architectures = ["Wav2Vec2ForCTC"]
    if options.from_scratch or preset_only:
        ctc_model = AutoModelForCTC.from_config(config)
    else:
        # A folder that is already a CTC model with another vocabulary has a differently shaped head:
        # that head is replaced (it is new, like any CTC layer here), the rest is loaded.
        ctc_model = AutoModelForCTC.from_pretrained(model, config=config, ignore_mismatched_sizes=True)
    if is_wav2vec2(config) and options.freeze_feature_encoder:
        ctc_model.freeze_feature_encoder()
    if not is_wav2vec2(config):
        if options.freeze_pretrained:
            ctc_model.freeze_pretrained()
        else:
            ctc_model.unfreeze_pretrained()
    return ctc_model.train(), feature_extractor_for(None if preset_only else model, config)


def head_parameter_names(model) -> list[str]:
    """Names of the newly initialised parameters (the CTC layer, or the whole acoustic model)."""
    prefix = WAV2VEC2_HEAD if is_wav2vec2(model.config) else WAV2VEC_HEAD
    return [name for name, _ in model.named_parameters() if name.startswith(prefix)]


def body_parameter_names(model, options: CTCModelOptions | None = None) -> list[str]:
    """Pretrained parameters the recipe trains after the head-only phase.

    wav2vec 2.0: everything but the CTC layer and (when frozen) the conv feature encoder.
    wav2vec / vq-wav2vec: the pretrained network unless it is frozen (the default), else nothing.
    ``options`` must be resolved (``CTCModelOptions.resolved``); unresolved means frozen.
    """
    options = options or CTCModelOptions(freeze_feature_encoder=True)
    head = set(head_parameter_names(model))
    names = []
    for name, _ in model.named_parameters():
        if name in head:
            continue
        if is_wav2vec2(model.config):
            if options.freeze_feature_encoder and name.startswith("wav2vec2.feature_extractor."):
                continue
            names.append(name)
        elif not options.freeze_pretrained:
            names.append(name)
    return names


def count_parameters(model) -> int:
    """All parameters of ``model``."""
    return sum(parameter.numel() for parameter in model.parameters())


__all__ = [
    "CTC_REDUCTIONS",
    "CTCModelOptions",
    "body_parameter_names",
    "build_ctc_model",
    "count_parameters",
    "feature_extractor_for",
    "head_parameter_names",
    "is_wav2vec2",
]
