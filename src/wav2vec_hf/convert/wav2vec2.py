"""fairseq wav2vec 2.0 checkpoints -> stock ``transformers`` Wav2Vec2 classes, numerically equal.

Two kinds of checkpoint are handled:

* pretraining (``cfg.model._name == "wav2vec2"``) -> ``Wav2Vec2ForPreTraining``, keeping the
  quantiser (``codevectors``, ``weight_proj``), ``project_q``, ``project_hid`` (fairseq's
  ``final_proj``) and ``masked_spec_embed`` (``mask_emb``), so pretraining can continue;
* CTC fine-tuning (``cfg.model._name == "wav2vec_ctc"``: ``w2v_encoder.w2v_model.*`` plus
  ``w2v_encoder.proj``) -> ``Wav2Vec2ForCTC``.

Parameters are renamed with one table (``KEY_TABLE``, a ``key_mapping.KeyTable``). A fairseq key the table does not know, a
transformers parameter no fairseq key fills, or a shape that differs is a ``CheckpointError``
listing every offending name: nothing is dropped or left at its random initial value silently.
The only parameters not copied one to one are documented in ``options_not_in_transformers``:
the identity ``post_extract_proj`` when fairseq has none (C == D), and ``mask_emb`` when the
checkpoint never masks (transformers then has no ``masked_spec_embed``).

How fairseq's inference quirks line up with transformers (checked by the parity tests):

* ``required_seq_len_multiple=2``: fairseq pads odd frame counts by one key-masked frame and
  cuts it off again; a masked key changes nothing, so transformers needs no equivalent.
* ``SamePad`` (drop the last output frame of the even-kernel positional conv), the weight norm
  over ``dim=2`` of ``pos_conv`` and its GELU are what ``Wav2Vec2PositionalConvEmbedding`` does.
* ``layer_norm_first=False`` (BASE): encoder LayerNorm after adding the positional conv, post-LN
  layers = transformers' ``do_stable_layer_norm=False``; ``True`` (LARGE) = pre-LN layers and the
  encoder LayerNorm after the last layer = ``do_stable_layer_norm=True``.
* The quantiser reads the layer-normed conv features before ``post_extract_proj``, as
  ``Wav2Vec2ForPreTraining`` does with ``extract_features``.
* Padded batches: fairseq zeroes padded frames before the positional conv and masks them as
  attention keys, while the conv feature extractor sees the zero padding; transformers does the
  same when given ``attention_mask``. For group-norm (BASE) models the padding still changes the
  group-norm statistics in both, which is why the feature extractor of a group-norm model keeps
  transformers' ``return_attention_mask=False`` default (and users pad batches by length).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from transformers import (
    PreTrainedModel,
    Wav2Vec2Config,
    Wav2Vec2FeatureExtractor,
    Wav2Vec2ForCTC,
    Wav2Vec2ForPreTraining,
)

from wav2vec_hf.convert.checkpoint import CheckpointError, FairseqCheckpoint, parse_python_literal
from wav2vec_hf.convert.key_mapping import KeyTable, map_state_dict, require_complete

# fairseq's own defaults (``Wav2Vec2Config`` dataclass) for options an older checkpoint may lack.
# fairseq fills missing options from these same defaults when it loads such a checkpoint.
_FAIRSEQ_DEFAULTS: dict[str, Any] = {
    "extractor_mode": "default",
    "encoder_layers": 12,
    "encoder_embed_dim": 768,
    "encoder_ffn_embed_dim": 3072,
    "encoder_attention_heads": 12,
    "activation_fn": "gelu",
    "layer_type": "transformer",
    "dropout": 0.1,
    "attention_dropout": 0.1,
    "activation_dropout": 0.0,
    "encoder_layerdrop": 0.0,
    "dropout_input": 0.0,
    "dropout_features": 0.0,
    "final_dim": 0,
    "layer_norm_first": False,
    "conv_feature_layers": "[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] + [(512,2,2)]",
    "conv_bias": False,
    "logit_temp": 0.1,
    "quantize_targets": False,
    "quantize_input": False,
    "target_glu": False,
    "feature_grad_mult": 1.0,
    "quantizer_depth": 1,
    "latent_vars": 320,
    "latent_groups": 2,
    "latent_dim": 0,
    "mask_length": 10,
    "mask_prob": 0.65,
    "mask_selection": "static",
    "mask_channel_length": 10,
    "mask_channel_prob": 0.0,
    "mask_channel_selection": "static",
    "num_negatives": 100,
    "negatives_from_everywhere": False,
    "cross_sample_negatives": 0,
    "codebook_negatives": 0,
    "conv_pos": 128,
    "conv_pos_groups": 16,
    "pos_conv_depth": 1,
    "latent_temp": (2.0, 0.5, 0.999995),
    "required_seq_len_multiple": 2,
    "crop_seq_to_multiple": 1,
    "pos_enc_type": "abs",
}

# fairseq activation names -> transformers ACT2FN names with the same function.
_ACTIVATIONS = {
    "gelu": "gelu",
    "relu": "relu",
    "gelu_accurate": "gelu_pytorch_tanh",
    "gelu_fast": "gelu_pytorch_tanh",
    "tanh": "tanh",
    "linear": "linear",
    "swish": "silu",
}

# The fairseq options whose values decide what the converted model computes; conversion.json keeps them.
SUMMARY_KEYS = (
    "extractor_mode",
    "conv_feature_layers",
    "conv_bias",
    "encoder_layers",
    "encoder_embed_dim",
    "encoder_ffn_embed_dim",
    "encoder_attention_heads",
    "activation_fn",
    "layer_type",
    "layer_norm_first",
    "final_dim",
    "quantize_targets",
    "latent_vars",
    "latent_groups",
    "latent_dim",
    "latent_temp",
    "conv_pos",
    "conv_pos_groups",
    "pos_conv_depth",
    "required_seq_len_multiple",
    "crop_seq_to_multiple",
    "feature_grad_mult",
    "dropout",
    "attention_dropout",
    "activation_dropout",
    "dropout_input",
    "dropout_features",
    "encoder_layerdrop",
    "logit_temp",
    "num_negatives",
    "mask_prob",
    "mask_length",
    "mask_channel_prob",
    "mask_channel_length",
)

# fairseq key (regular expression, whole key) -> transformers key (``re`` template, \1 the first group).
# "<WN_G>" / "<WN_V>" stand for the weight-norm parameter names of the transformers model at hand
# (``parametrizations.weight.original0/1`` with today's torch, ``weight_g/weight_v`` with old ones).
KEY_TABLE = KeyTable(
    (
        (r"mask_emb", "wav2vec2.masked_spec_embed"),
        # conv block = Sequential(conv, dropout, norm, GELU); the layer-norm mode wraps the norm in
        # Sequential(TransposeLast, LayerNorm, TransposeLast), hence ".2.1".
        (
            r"feature_extractor\.conv_layers\.(\d+)\.0\.(weight|bias)",
            r"wav2vec2.feature_extractor.conv_layers.\1.conv.\2",
        ),
        (
            r"feature_extractor\.conv_layers\.(\d+)\.2\.(weight|bias)",
            r"wav2vec2.feature_extractor.conv_layers.\1.layer_norm.\2",
        ),
        (
            r"feature_extractor\.conv_layers\.(\d+)\.2\.1\.(weight|bias)",
            r"wav2vec2.feature_extractor.conv_layers.\1.layer_norm.\2",
        ),
        (r"layer_norm\.(weight|bias)", r"wav2vec2.feature_projection.layer_norm.\1"),
        (r"post_extract_proj\.(weight|bias)", r"wav2vec2.feature_projection.projection.\1"),
        (r"encoder\.pos_conv\.0\.bias", "wav2vec2.encoder.pos_conv_embed.conv.bias"),
        (r"encoder\.pos_conv\.0\.weight_g", "wav2vec2.encoder.pos_conv_embed.conv.<WN_G>"),
        (r"encoder\.pos_conv\.0\.weight_v", "wav2vec2.encoder.pos_conv_embed.conv.<WN_V>"),
        (
            r"encoder\.pos_conv\.0\.parametrizations\.weight\.original0",
            "wav2vec2.encoder.pos_conv_embed.conv.<WN_G>",
        ),
        (
            r"encoder\.pos_conv\.0\.parametrizations\.weight\.original1",
            "wav2vec2.encoder.pos_conv_embed.conv.<WN_V>",
        ),
        (
            r"encoder\.layers\.(\d+)\.self_attn\.(q|k|v|out)_proj\.(weight|bias)",
            r"wav2vec2.encoder.layers.\1.attention.\2_proj.\3",
        ),
        (
            r"encoder\.layers\.(\d+)\.self_attn_layer_norm\.(weight|bias)",
            r"wav2vec2.encoder.layers.\1.layer_norm.\2",
        ),
        (
            r"encoder\.layers\.(\d+)\.fc1\.(weight|bias)",
            r"wav2vec2.encoder.layers.\1.feed_forward.intermediate_dense.\2",
        ),
        (
            r"encoder\.layers\.(\d+)\.fc2\.(weight|bias)",
            r"wav2vec2.encoder.layers.\1.feed_forward.output_dense.\2",
        ),
        (
            r"encoder\.layers\.(\d+)\.final_layer_norm\.(weight|bias)",
            r"wav2vec2.encoder.layers.\1.final_layer_norm.\2",
        ),
        (r"encoder\.layer_norm\.(weight|bias)", r"wav2vec2.encoder.layer_norm.\1"),
        (r"quantizer\.vars", "quantizer.codevectors"),
        (r"quantizer\.weight_proj\.(weight|bias)", r"quantizer.weight_proj.\1"),
        (r"project_q\.(weight|bias)", r"project_q.\1"),
        (r"final_proj\.(weight|bias)", r"project_hid.\1"),
        # CTC fine-tuning head (keys outside the w2v_model prefix).
        (r"w2v_encoder\.proj\.(weight|bias)", r"lm_head.\1"),
    )
)

_CTC_BODY_PREFIX = "w2v_encoder.w2v_model."


def fairseq_model_options(checkpoint: FairseqCheckpoint) -> dict[str, Any]:
    """The wav2vec 2.0 model options of a checkpoint, with fairseq's defaults for absent ones.

    For a CTC checkpoint these are the options of the pretrained body (``w2v_args``) with the
    fine-tuning overrides fairseq applies when it builds ``Wav2VecEncoder`` (dropouts, masking,
    layerdrop, feature_grad_mult).
    """
    options = dict(checkpoint.model_config)
    if _is_ctc(options):
        options = _ctc_body_options(checkpoint, options)
    merged = dict(_FAIRSEQ_DEFAULTS)
    merged.update({key: value for key, value in options.items() if value is not None or key not in merged})
    return merged


def fairseq_criterion_options(checkpoint: FairseqCheckpoint) -> dict[str, Any]:
    """The criterion options (``loss_weights``...): ``cfg.criterion``, or ``args`` for 2020 checkpoints.

    ``loss_weights`` comes back as a list of floats (2020 ``args`` may hold it as an expression string).
    """
    criterion = dict(
        checkpoint.args if checkpoint.args is not None else (checkpoint.cfg or {}).get("criterion") or {}
    )
    if criterion.get("loss_weights") is not None:
        weights = parse_python_literal(criterion["loss_weights"], field="criterion.loss_weights")
        criterion["loss_weights"] = [
            float(w) for w in (weights if isinstance(weights, (list, tuple)) else [weights])
        ]
    return criterion


def wav2vec2_config_from_fairseq(
    options: Mapping[str, Any], criterion: Mapping[str, Any] | None = None, *, path: str = "<checkpoint>"
) -> Wav2Vec2Config:
    """A ``Wav2Vec2Config`` computing what fairseq's ``Wav2Vec2Model`` with ``options`` computes.

    Args:
        options: fairseq model options (``fairseq_model_options``).
        criterion: ``cfg.criterion``; its ``loss_weights`` give the diversity weight (first) and
            the feature penalty weight (second).
        path: the checkpoint path, for error messages.

    Options transformers has no field for are kept as extra config attributes (for information):
    ``feature_grad_mult``, ``feature_penalty_weight``, ``max_gumbel_temperature``,
    ``min_gumbel_temperature``, ``gumbel_temperature_decay``. Pretraining reads them from the
    converted folder's ``pretraining_state.json`` (``fairseq_training_recipe``) instead.

    Raises:
        CheckpointError: an option selects an architecture stock transformers cannot express.
    """
    _refuse_unsupported(options, path)
    conv_layers = parse_python_literal(options["conv_feature_layers"], field="model.conv_feature_layers")
    try:
        conv_dim, conv_kernel, conv_stride = (list(column) for column in zip(*conv_layers))
    except (TypeError, ValueError) as error:
        raise CheckpointError(
            f"{path}: model.conv_feature_layers={options['conv_feature_layers']!r} is not a list of "
            "(channels, kernel, stride) triples."
        ) from error
    hidden_size = int(options["encoder_embed_dim"])
    final_dim = int(options["final_dim"]) or hidden_size
    latent_dim = int(options["latent_dim"]) or final_dim
    start_temp, end_temp, temp_decay = _latent_temperature(options["latent_temp"], path)
    loss_weights = list((criterion or {}).get("loss_weights") or [])
    diversity_weight = float(loss_weights[0]) if loss_weights else 0.1
    feature_penalty_weight = float(loss_weights[1]) if len(loss_weights) > 1 else 0.0

    config = Wav2Vec2Config(
        hidden_size=hidden_size,
        num_hidden_layers=int(options["encoder_layers"]),
        num_attention_heads=int(options["encoder_attention_heads"]),
        intermediate_size=int(options["encoder_ffn_embed_dim"]),
        hidden_act=_ACTIVATIONS[str(options["activation_fn"])],
        hidden_dropout=float(options["dropout"]),
        attention_dropout=float(options["attention_dropout"]),
        activation_dropout=float(options["activation_dropout"]),
        feat_proj_dropout=float(options["dropout_input"]),
        feat_quantizer_dropout=float(options["dropout_features"]),
        final_dropout=float(options.get("final_dropout", 0.0) or 0.0),
        layerdrop=float(options["encoder_layerdrop"]),
        layer_norm_eps=1e-5,  # fairseq's LayerNorm, Fp32LayerNorm and Fp32GroupNorm all use 1e-5
        feat_extract_norm="layer" if options["extractor_mode"] == "layer_norm" else "group",
        feat_extract_activation="gelu",  # fairseq's conv blocks always use nn.GELU
        conv_dim=[int(d) for d in conv_dim],
        conv_kernel=[int(k) for k in conv_kernel],
        conv_stride=[int(s) for s in conv_stride],
        conv_bias=bool(options["conv_bias"]),
        num_conv_pos_embeddings=int(options["conv_pos"]),
        num_conv_pos_embedding_groups=int(options["conv_pos_groups"]),
        do_stable_layer_norm=bool(options["layer_norm_first"]),
        apply_spec_augment=True,
        # fairseq's mask_prob is the same quantity as transformers' mask_time_prob: both draw
        # int(prob * frames / length + rand) spans, with at least 2 spans (fairseq min_masks=2).
        mask_time_prob=float(options["mask_prob"]),
        mask_time_length=int(options["mask_length"]),
        mask_time_min_masks=2,
        mask_feature_prob=float(options["mask_channel_prob"]),
        mask_feature_length=int(options["mask_channel_length"]),
        num_codevectors_per_group=int(options["latent_vars"]),
        num_codevector_groups=int(options["latent_groups"]),
        codevector_dim=latent_dim,
        proj_codevector_dim=final_dim,
        contrastive_logits_temperature=float(options["logit_temp"]),
        num_negatives=int(options["num_negatives"]),
        diversity_loss_weight=diversity_weight,
    )
    # Training options without a transformers field (read by wav2vec_hf.pretraining).
    config.feature_grad_mult = float(options["feature_grad_mult"])
    config.feature_penalty_weight = feature_penalty_weight
    config.max_gumbel_temperature = start_temp
    config.min_gumbel_temperature = end_temp
    config.gumbel_temperature_decay = temp_decay
    return config


def feature_extractor_from_fairseq(
    task: Mapping[str, Any], config: Wav2Vec2Config
) -> Wav2Vec2FeatureExtractor:
    """The feature extractor matching fairseq's data pipeline for this model.

    ``do_normalize`` is fairseq's ``task.normalize`` (per-utterance zero mean, unit variance,
    done by fairseq's data loader). ``return_attention_mask`` is True only for layer-norm
    feature extractors: group-norm (BASE) models normalise over time, so padding changes their
    features whether or not a mask is passed, and transformers' convention is to pad them
    without a mask.
    """
    return Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=int(task.get("sample_rate") or 16000),
        padding_value=0.0,
        do_normalize=bool(task.get("normalize", False)),
        return_attention_mask=config.feat_extract_norm == "layer",
    )


def options_not_in_transformers(
    options: Mapping[str, Any], criterion: Mapping[str, Any] | None
) -> dict[str, Any]:
    """fairseq options that stock transformers does not implement, with what happens to each.

    These change training only (or, for ``crop_seq_to_multiple``, which trailing frames fairseq
    keeps); the converted weights compute the same outputs. conversion.json records this dict.
    """
    notes: dict[str, Any] = {
        "feature_grad_mult": {
            "value": options["feature_grad_mult"],
            "kept_as": "config.feature_grad_mult; pretraining_state.json recipe.feature_grad_mult (used by --init_from)",
        },
        "latent_temp": {
            "value": list(_latent_temperature(options["latent_temp"], "<checkpoint>")),
            "kept_as": "config.max_gumbel_temperature / min_gumbel_temperature / gumbel_temperature_decay; "
            "pretraining_state.json recipe.gumbel_temperature (used by --init_from)",
        },
    }
    loss_weights = list((criterion or {}).get("loss_weights") or [])
    if len(loss_weights) > 1:
        notes["feature_penalty_weight"] = {
            "value": loss_weights[1],
            "kept_as": "config.feature_penalty_weight (criterion.loss_weights[1]); pretraining_state.json "
            "recipe.feature_penalty_weight (used by --init_from)",
        }
    for key, default in (
        ("mask_selection", "static"),
        ("mask_channel_selection", "static"),
        ("negatives_from_everywhere", False),
        ("cross_sample_negatives", 0),
        ("codebook_negatives", 0),
        ("crop_seq_to_multiple", 1),
    ):
        if options.get(key, default) != default:
            notes[key] = {"value": options[key], "kept_as": None, "note": "not implemented by transformers"}
    if _drops_mask_embedding(options):
        notes["mask_emb"] = {
            "value": "dropped",
            "kept_as": None,
            "note": "masking is off (mask_prob = mask_channel_prob = 0), so transformers has no masked_spec_embed",
        }
    return notes


def fairseq_training_recipe(checkpoint: FairseqCheckpoint) -> tuple[dict[str, Any], dict[str, Any]]:
    """The training settings of a wav2vec 2.0 pretraining checkpoint, as a recipe record.

    Returns ``(recipe, notes)``: ``recipe`` maps ``PretrainingRecipe`` fields to the checkpoint's values
    (``pretraining_state.json``, see ``wav2vec_hf.pretraining.pretraining_state``); ``notes`` says what
    could not be carried over. Read from ``cfg`` (hydra checkpoints) or ``args`` (2020 checkpoints):

    * ``optimization.lr[0]``, ``lr_scheduler`` ``polynomial_decay`` (power 1: ``warmup_updates``,
      ``end_learning_rate``; warm-up from 0) -> learning_rate, lr_scheduler, warmup_steps,
      warmup_init_lr, end_learning_rate; other schedulers are left to the preset / default recipe;
    * ``optimization.max_update`` -> max_steps (the total; fairseq's ``total_num_update`` follows it);
      ``optimization.clip_norm`` -> max_grad_norm;
    * ``optimizer`` adam: ``adam_betas``, ``adam_eps``, ``weight_decay`` (fairseq's Adam decays weights
      decoupled, as AdamW);
    * ``model.feature_grad_mult``, ``criterion.loss_weights[1]`` (feature penalty; 0 without it),
      ``model.latent_temp``, ``model.require_same_masks``;
    * ``task.normalize``, ``task.max_sample_size`` / ``min_sample_size``, ``task.enable_padding``,
      ``dataset.max_tokens`` / ``batch_size`` -> normalize, crop_samples, min_samples,
      crop_to_shortest, max_batch_samples, max_batch_size.

    fairseq's ``update_freq`` and GPU count are not a recipe value here (``--update_freq`` is per
    process): they are kept in ``notes["fairseq_batch"]``.
    """
    from wav2vec_hf.pretraining.pretraining_state import RECORD_FIELDS

    if checkpoint.args is not None:
        flat = checkpoint.args

        def get(section: str, key: str, default: Any = None) -> Any:
            value = flat.get(key)
            return default if value is None else value

        def name_of(section: str) -> Any:
            return flat.get(section)

    else:
        cfg = checkpoint.cfg or {}

        def get(section: str, key: str, default: Any = None) -> Any:
            value = (cfg.get(section) or {}).get(key)
            return default if value is None else value

        def name_of(section: str) -> Any:
            return (cfg.get(section) or {}).get("_name")

    options = fairseq_model_options(checkpoint)
    criterion = fairseq_criterion_options(checkpoint)
    recipe: dict[str, Any] = {}
    notes: dict[str, Any] = {}

    max_update = int(get("optimization", "max_update", 0) or 0)
    if max_update > 0:
        recipe["max_steps"] = max_update
    else:
        notes["max_update"] = (
            "0 (the run was bounded by epochs): max_steps comes from the recipe or --max_steps"
        )
    lr = get("optimization", "lr")
    peak = float(lr[0] if isinstance(lr, (list, tuple)) else lr) if lr is not None else None
    scheduler = name_of("lr_scheduler")
    power = float(get("lr_scheduler", "power", 1.0))
    if scheduler == "polynomial_decay" and power == 1.0 and peak is not None:
        recipe.update(
            learning_rate=peak,
            lr_scheduler="polynomial",
            warmup_steps=int(get("lr_scheduler", "warmup_updates", 0)),
            warmup_init_lr=0.0,
            end_learning_rate=float(get("lr_scheduler", "end_learning_rate", 0.0)),
        )
        total = float(get("lr_scheduler", "total_num_update", max_update) or max_update)
        if max_update > 0 and total != max_update:
            notes["total_num_update"] = (
                f"{total:g} differs from max_update {max_update}: the learning rate decays over max_steps"
            )
    else:
        notes["lr_scheduler"] = (
            f"{scheduler!r} (power {power:g}) has no wav2vec-hf equivalent: learning rate and schedule come "
            "from the recipe or the command line"
        )
    if name_of("optimizer") == "adam":
        betas = parse_python_literal(
            get("optimizer", "adam_betas", "(0.9, 0.999)"), field="optimizer.adam_betas"
        )
        recipe["adam_betas"] = tuple(float(beta) for beta in betas)
        recipe["adam_epsilon"] = float(get("optimizer", "adam_eps", 1e-8))
        recipe["weight_decay"] = float(get("optimizer", "weight_decay", 0.0))
    else:
        notes["optimizer"] = f"{name_of('optimizer')!r}: AdamW settings come from the recipe"
    recipe["max_grad_norm"] = float(get("optimization", "clip_norm", 0.0))
    recipe["feature_grad_mult"] = float(options["feature_grad_mult"])
    loss_weights = list(criterion.get("loss_weights") or [])
    recipe["feature_penalty_weight"] = float(loss_weights[1]) if len(loss_weights) > 1 else 0.0
    recipe["gumbel_temperature"] = _latent_temperature(options["latent_temp"], checkpoint.path)
    recipe["gumbel_floor_fraction"] = None
    recipe["require_same_masks"] = bool(options.get("require_same_masks", True))
    recipe["normalize"] = bool(get("task", "normalize", False))
    max_sample_size = get("task", "max_sample_size")
    recipe["crop_samples"] = int(max_sample_size) if max_sample_size else None
    min_sample_size = get("task", "min_sample_size")
    recipe["min_samples"] = int(min_sample_size) if min_sample_size else None
    recipe["crop_to_shortest"] = not bool(get("task", "enable_padding", False))
    if get("dataset", "max_tokens"):
        recipe["max_batch_samples"] = int(get("dataset", "max_tokens"))
    batch_size = get("dataset", "batch_size") or get("dataset", "max_sentences")
    if batch_size:
        recipe["max_batch_size"] = int(batch_size)
    update_freq = get("optimization", "update_freq", [1])
    notes["fairseq_batch"] = {
        "distributed_world_size": get("distributed_training", "distributed_world_size"),
        "update_freq": update_freq[0] if isinstance(update_freq, (list, tuple)) else update_freq,
        "max_tokens": get("dataset", "max_tokens"),
        "note": "one fairseq update summed distributed_world_size x update_freq micro-batches; "
        "--update_freq here counts micro-batches per process",
    }
    return {key: value for key, value in recipe.items() if key in RECORD_FIELDS}, notes


def convert_wav2vec2_checkpoint(
    checkpoint: FairseqCheckpoint,
) -> tuple[Wav2Vec2ForPreTraining, Wav2Vec2FeatureExtractor]:
    """Convert a fairseq wav2vec 2.0 pretraining checkpoint.

    Returns:
        ``(model, feature_extractor)``: a stock ``Wav2Vec2ForPreTraining`` in eval mode (float32)
        with every fairseq parameter, and the matching ``Wav2Vec2FeatureExtractor``.

    Raises:
        CheckpointError: not a wav2vec 2.0 pretraining checkpoint, an architecture stock
            transformers cannot express, or keys the mapping does not account for.
    """
    if _is_ctc(checkpoint.model_config):
        raise CheckpointError(
            f"{checkpoint.path}: this is a fine-tuned CTC checkpoint; use convert_wav2vec2_ctc_checkpoint."
        )
    options = fairseq_model_options(checkpoint)
    if not options["quantize_targets"]:
        raise CheckpointError(
            f"{checkpoint.path}: model.quantize_targets=False (targets are the unquantised features "
            "through project_q); transformers' Wav2Vec2ForPreTraining always quantises its targets."
        )
    config = wav2vec2_config_from_fairseq(
        options, fairseq_criterion_options(checkpoint), path=checkpoint.path
    )
    config.architectures = ["Wav2Vec2ForPreTraining"]
    model = Wav2Vec2ForPreTraining(config)
    _load_fairseq_weights(model, checkpoint.model, options, path=checkpoint.path)
    return model.eval(), feature_extractor_from_fairseq(checkpoint.task_config, config)


def convert_wav2vec2_ctc_checkpoint(
    checkpoint: FairseqCheckpoint,
) -> tuple[Wav2Vec2ForCTC, Wav2Vec2FeatureExtractor]:
    """Convert a fairseq CTC fine-tuned wav2vec 2.0 checkpoint (``wav2vec_ctc``).

    The body comes from ``w2v_encoder.w2v_model.*``, the output layer from ``w2v_encoder.proj``
    (its row count is the vocabulary size). fairseq's dictionary is not inside the checkpoint
    (``dict.ltr.txt``), so no tokenizer is written; the token ids follow fairseq's dictionary:
    0 = ``<s>`` (the CTC blank, transformers' ``pad_token_id``), 1 = ``<pad>``, 2 = ``</s>``, 3 = ``<unk>``.

    Returns:
        ``(model, feature_extractor)``: a stock ``Wav2Vec2ForCTC`` in eval mode and its feature extractor.
    """
    top = checkpoint.model_config
    if not _is_ctc(top):
        raise CheckpointError(
            f"{checkpoint.path}: not a CTC fine-tuned checkpoint (model._name={top.get('_name')!r})."
        )
    options = fairseq_model_options(checkpoint)
    options["final_dropout"] = float(top.get("final_dropout", 0.0) or 0.0)
    head = checkpoint.model.get("w2v_encoder.proj.weight")
    if head is None:
        raise CheckpointError(
            f"{checkpoint.path}: no 'w2v_encoder.proj.weight' (the CTC output layer); "
            f"keys start with {sorted(checkpoint.model)[:5]}."
        )
    config = wav2vec2_config_from_fairseq(options, None, path=checkpoint.path)
    config.vocab_size = int(head.shape[0])
    config.pad_token_id, config.bos_token_id, config.eos_token_id = 0, 1, 2
    config.ctc_loss_reduction = "sum"  # fairseq's ctc criterion sums over the batch
    config.ctc_zero_infinity = bool(
        ((checkpoint.cfg or {}).get("criterion") or {}).get("zero_infinity", False)
    )
    config.architectures = ["Wav2Vec2ForCTC"]
    model = Wav2Vec2ForCTC(config)
    state = {}
    for key, value in checkpoint.model.items():
        state[key[len(_CTC_BODY_PREFIX) :] if key.startswith(_CTC_BODY_PREFIX) else key] = value
    _load_fairseq_weights(model, state, options, path=checkpoint.path)
    return model.eval(), feature_extractor_from_fairseq(checkpoint.task_config, config)


def _load_fairseq_weights(
    model: PreTrainedModel,
    fairseq_state: Mapping[str, torch.Tensor],
    options: Mapping[str, Any],
    *,
    path: str,
) -> None:
    """Copy fairseq weights into ``model``; every transformers parameter must be accounted for."""
    target_state = model.state_dict()
    norm_g, norm_v = _weight_norm_names(target_state)
    renamed = map_state_dict(
        _without_unused_mask_embedding(fairseq_state, options),
        target_state,
        KEY_TABLE,
        path=path,
        family="wav2vec 2.0",
        placeholders={"<WN_G>": norm_g, "<WN_V>": norm_v},
    )
    projection = "wav2vec2.feature_projection.projection"
    if "post_extract_proj.weight" not in fairseq_state and f"{projection}.weight" in target_state:
        # fairseq builds post_extract_proj only when conv channels != encoder dim; without it the
        # features go in unchanged, which is an identity projection in transformers.
        weight = target_state[f"{projection}.weight"]
        if weight.shape[0] != weight.shape[1]:
            raise CheckpointError(
                f"{path}: no post_extract_proj although conv channels ({weight.shape[1]}) != "
                f"encoder_embed_dim ({weight.shape[0]})."
            )
        renamed[f"{projection}.weight"] = torch.eye(weight.shape[0])
        renamed[f"{projection}.bias"] = torch.zeros(weight.shape[0])
    require_complete(renamed, target_state, path=path)
    with torch.no_grad():
        model.load_state_dict(renamed, strict=True)


def _weight_norm_names(target_state: Mapping[str, torch.Tensor]) -> tuple[str, str]:
    """The weight-norm parameter names the installed torch gives the positional conv."""
    if "wav2vec2.encoder.pos_conv_embed.conv.parametrizations.weight.original0" in target_state:
        return "parametrizations.weight.original0", "parametrizations.weight.original1"
    return "weight_g", "weight_v"


def _drops_mask_embedding(options: Mapping[str, Any]) -> bool:
    return float(options["mask_prob"]) <= 0.0 and float(options["mask_channel_prob"]) <= 0.0


def _without_unused_mask_embedding(
    state: Mapping[str, torch.Tensor], options: Mapping[str, Any]
) -> Mapping[str, torch.Tensor]:
    if _drops_mask_embedding(options) and "mask_emb" in state:
        return {key: value for key, value in state.items() if key != "mask_emb"}
    return state


def _latent_temperature(value: Any, path: str) -> tuple[float, float, float]:
    parsed = parse_python_literal(value, field="model.latent_temp")
    try:
        start, end, decay = (float(v) for v in parsed)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: model.latent_temp={value!r} is not (start, end, decay).") from error
    return start, end, decay


def _refuse_unsupported(options: Mapping[str, Any], path: str) -> None:
    """Raise for options that change the architecture beyond what stock Wav2Vec2 implements."""
    checks = (
        (
            "layer_type",
            "transformer",
            "only the plain Transformer encoder exists in Wav2Vec2 (conformer: Wav2Vec2Conformer)",
        ),
        ("pos_enc_type", "abs", "only the convolutional positional embedding exists in Wav2Vec2"),
        ("pos_conv_depth", 1, "Wav2Vec2 has a single positional conv layer"),
        ("quantize_input", False, "Wav2Vec2 has no input quantiser"),
        ("target_glu", False, "Wav2Vec2ForPreTraining has no GLU on the targets"),
        ("quantizer_depth", 1, "Wav2Vec2's quantiser projection is a single Linear layer"),
    )
    for key, wanted, why in checks:
        if options.get(key, wanted) != wanted:
            raise CheckpointError(f"{path}: model.{key}={options[key]!r} is not supported: {why}.")
    if options["extractor_mode"] not in ("default", "layer_norm"):
        raise CheckpointError(
            f"{path}: model.extractor_mode={options['extractor_mode']!r}; expected 'default' or 'layer_norm'."
        )
    if str(options["activation_fn"]) not in _ACTIVATIONS:
        raise CheckpointError(
            f"{path}: model.activation_fn={options['activation_fn']!r} has no transformers equivalent "
            f"(known: {sorted(_ACTIVATIONS)})."
        )


def _is_ctc(options: Mapping[str, Any]) -> bool:
    return str(options.get("_name", "")) in ("wav2vec_ctc", "wav2vec2_ctc") or "w2v_args" in options


def _ctc_body_options(checkpoint: FairseqCheckpoint, top: Mapping[str, Any]) -> dict[str, Any]:
    """The pretrained body's options with the fine-tuning overrides of fairseq's Wav2VecEncoder."""
    w2v_args = top.get("w2v_args")
    if w2v_args is None:
        raise CheckpointError(
            f"{checkpoint.path}: model.w2v_args is empty (the body's config lives only in "
            f"{top.get('w2v_path')!r}); this converter needs it inside the checkpoint."
        )
    if not isinstance(w2v_args, Mapping):
        w2v_args = dict(vars(w2v_args))
    body = dict(w2v_args.get("model") or {}) if "model" in w2v_args else dict(w2v_args)
    overrides = {
        "dropout": "dropout",
        "activation_dropout": "activation_dropout",
        "attention_dropout": "attention_dropout",
        "dropout_input": "dropout_input",
        "encoder_layerdrop": "layerdrop",
        "feature_grad_mult": "feature_grad_mult",
        "mask_length": "mask_length",
        "mask_prob": "mask_prob",
        "mask_selection": "mask_selection",
        "mask_channel_length": "mask_channel_length",
        "mask_channel_prob": "mask_channel_prob",
        "mask_channel_selection": "mask_channel_selection",
    }
    for body_key, top_key in overrides.items():
        if top.get(top_key) is not None:
            body[body_key] = top[top_key]
    if top.get("apply_mask") is False:
        body["mask_prob"] = 0.0
        body["mask_channel_prob"] = 0.0
    return body
