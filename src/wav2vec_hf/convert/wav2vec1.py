"""fairseq wav2vec (2019) and vq-wav2vec (2020) checkpoints -> ``Wav2VecForPreTraining`` models.

These checkpoints carry an ``argparse.Namespace`` (``args``) with the model options of their time
and a ``model`` state dict. The options map one to one onto ``Wav2VecConfig`` fields; options the
Namespace lacks get the values fairseq's ``base_wav2vec_architecture`` gave them then (not today's
dataclass defaults: ``log_compression`` and ``skip_connections_agg`` were False, the activation
ReLU, no quantiser). Parameters are renamed with the table below; a key no rule knows, a parameter
the model expects but the checkpoint lacks, or a shape mismatch is a ``CheckpointError`` naming
every offending key.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import torch

from wav2vec_hf.convert.checkpoint import CheckpointError, FairseqCheckpoint, parse_python_literal
from wav2vec_hf.convert.key_mapping import KeyTable, map_state_dict, require_complete
from wav2vec_hf.models.wav2vec.configuration_wav2vec import VQWav2VecConfig, Wav2VecConfig
from wav2vec_hf.models.wav2vec.modeling_wav2vec import VQWav2VecForPreTraining, Wav2VecForPreTraining

# fairseq's 2019/2020 defaults (``base_wav2vec_architecture`` + argparse), for keys a Namespace lacks.
FAIRSEQ_ARG_DEFAULTS: dict[str, Any] = {
    "conv_feature_layers": "[(512, 10, 5)] + [(512, 8, 4)] + [(512, 4, 2)] * 3",
    "conv_aggregator_layers": "[(512, 3, 1)] * 9",
    "prediction_steps": 12,
    "num_negatives": 1,
    "sample_distance": None,
    "cross_sample_negatives": 0,
    "dropout": 0.0,
    "dropout_features": 0.0,
    "dropout_agg": 0.0,
    "encoder": "cnn",
    "aggregator": "cnn",
    "skip_connections_feat": False,
    "skip_connections_agg": False,
    "residual_scale": 0.5,
    "gru_dim": 512,
    "no_conv_bias": False,
    "agg_zero_pad": False,
    "log_compression": False,
    "balanced_classes": False,
    "infonce": False,
    "project_features": "none",
    "non_affine_group_norm": False,
    "offset": "auto",
    "activation": "relu",
    "vq_type": "none",
    "vq_vars": 320,
    "vq_groups": 2,
    "vq_dim": 0,
    "vq_depth": 1,
    "combine_groups": False,
    "vq_temp": "(2.0, 0.5, 0.999995)",
    "vq_gamma": 0.25,
    "loss_weights": None,
    "sample_rate": 16000,
}

# Namespace keys copied unchanged into the config.
_SAME_NAME = (
    "prediction_steps",
    "num_negatives",
    "sample_distance",
    "dropout",
    "dropout_features",
    "dropout_agg",
    "aggregator",
    "gru_dim",
    "skip_connections_feat",
    "skip_connections_agg",
    "residual_scale",
    "agg_zero_pad",
    "log_compression",
    "balanced_classes",
    "infonce",
    "project_features",
    "non_affine_group_norm",
    "activation",
    "vq_type",
    "vq_vars",
    "vq_groups",
    "vq_dim",
    "vq_depth",
    "combine_groups",
    "vq_gamma",
)


def _option(args: dict[str, Any], key: str) -> Any:
    value = args.get(key, FAIRSEQ_ARG_DEFAULTS[key])
    return FAIRSEQ_ARG_DEFAULTS[key] if value is None and key != "sample_distance" else value


def config_from_fairseq_args(args: dict[str, Any]) -> Wav2VecConfig:
    """The ``Wav2VecConfig`` (``VQWav2VecConfig`` when a quantiser is set) of a fairseq Namespace.

    Args:
        args: the checkpoint's ``args`` as a dict (``vars(namespace)``).

    Raises:
        CheckpointError: an option this port cannot reproduce (``encoder`` other than cnn, the GRU
            aggregator) or an invalid value.
    """
    encoder = _option(args, "encoder")
    if encoder != "cnn":
        raise CheckpointError(f"args.encoder={encoder!r}: only fairseq's 'cnn' encoder exists in wav2vec.")
    if _option(args, "aggregator") == "gru":
        raise CheckpointError(
            "args.aggregator='gru': fairseq's GRU aggregator feeds (batch, time, channels) to a non-batch-first "
            "nn.GRU, so its recurrence runs over the batch axis, not time; a faithful conversion is not "
            "possible. Build a Wav2VecConfig(aggregator='gru') model and train it instead."
        )
    options = {key: _option(args, key) for key in _SAME_NAME}
    options["conv_feature_layers"] = parse_python_literal(
        _option(args, "conv_feature_layers"), field="args.conv_feature_layers"
    )
    options["conv_aggregator_layers"] = parse_python_literal(
        _option(args, "conv_aggregator_layers"), field="args.conv_aggregator_layers"
    )
    options["vq_temp"] = parse_python_literal(_option(args, "vq_temp"), field="args.vq_temp")
    options["conv_bias"] = not _option(args, "no_conv_bias")
    offset = _option(args, "offset")
    options["offset"] = offset if offset == "auto" else int(offset)
    options["vq_type"] = options["vq_type"] or "none"
    options["sampling_rate"] = int(_option(args, "sample_rate"))
    options.update(_negatives(args))
    options.update(_loss_weights(args, options))
    config_class = Wav2VecConfig if options["vq_type"] == "none" else VQWav2VecConfig
    try:
        return config_class(**options)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"the checkpoint's args do not form a valid wav2vec config: {error}") from error


def _negatives(args: dict[str, Any]) -> dict[str, int]:
    """June-2019 checkpoints have a boolean ``cross_sample_negatives``: all negatives from the whole batch."""
    num_negatives = int(_option(args, "num_negatives"))
    cross = _option(args, "cross_sample_negatives")
    if isinstance(cross, bool):
        return (
            {"num_negatives": 0, "cross_sample_negatives": num_negatives}
            if cross
            else {
                "num_negatives": num_negatives,
                "cross_sample_negatives": 0,
            }
        )
    return {"num_negatives": num_negatives, "cross_sample_negatives": int(cross)}


def _loss_weights(args: dict[str, Any], options: dict[str, Any]) -> dict[str, float]:
    """fairseq adds ``w * (G V - prob_perplexity)`` (Gumbel) or ``w * kmeans_loss`` only when the
    criterion got ``--loss-weights``; our diversity term is divided by G V, so its weight is w G V."""
    raw = _option(args, "loss_weights")
    weights = parse_python_literal(raw, field="args.loss_weights") if raw is not None else []
    weights = [weights] if isinstance(weights, (int, float)) else list(weights)
    weight = float(weights[0]) if weights else 0.0
    if options["vq_type"] == "gumbel":
        return {
            "diversity_loss_weight": weight * options["vq_groups"] * options["vq_vars"],
            "kmeans_loss_weight": 0.0,
        }
    if options["vq_type"] == "kmeans":
        return {"diversity_loss_weight": 0.0, "kmeans_loss_weight": weight}
    return {"diversity_loss_weight": 0.0, "kmeans_loss_weight": 0.0}


# fairseq key pattern -> our key template. Patterns are matched in full; ``{n}`` rules are checked below.
_CONTEXT_RULES = (
    (r"conv_layers\.(\d+)\.1\.(weight|bias)", r"layers.\1.conv.\2"),
    (r"conv_layers\.(\d+)\.3\.(weight|bias)", r"layers.\1.norm.\2"),
    (r"residual_proj\.(\d+)\.weight", r"layers.\1.residual_projection.weight"),
)
KEY_TABLE = KeyTable(
    (
        (
            r"feature_extractor\.conv_layers\.(\d+)\.0\.weight",
            r"wav2vec.feature_extractor.conv_layers.\1.conv.weight",
        ),
        (
            r"feature_extractor\.conv_layers\.(\d+)\.2\.(weight|bias)",
            r"wav2vec.feature_extractor.conv_layers.\1.norm.\2",
        ),
        (r"vector_quantizer\.vars", "wav2vec.quantizer.codevectors"),
        (r"vector_quantizer\.weight_proj\.(weight|bias)", r"wav2vec.quantizer.logit_projection.\1"),
        (r"vector_quantizer\.weight_proj\.(\d+)\.0\.(weight|bias)", r"wav2vec.quantizer.hidden_layers.\1.\2"),
        (r"vector_quantizer\.weight_proj\.(\d+)\.(weight|bias)", r"wav2vec.quantizer.logit_projection.\2"),
        (r"vector_quantizer\.embedding", "wav2vec.quantizer.codebook"),
        (r"vector_quantizer\.projection\.0\.weight", "wav2vec.quantizer.projection.weight"),
        (r"vector_quantizer\.projection\.1\.(weight|bias)", r"wav2vec.quantizer.projection_norm.\1"),
        *(
            (rf"feature_aggregator\.{pattern}", rf"wav2vec.context_network.{target}")
            for pattern, target in _CONTEXT_RULES
        ),
        *(
            (rf"project_features\.{pattern}", rf"target_projection.{target}")
            for pattern, target in _CONTEXT_RULES
        ),
        (r"wav2vec_predictions\.project_to_steps\.(weight|bias)", r"step_projection.\1"),
    )
)


def rename_fairseq_key(key: str) -> str | None:
    """Our parameter name for a fairseq one, or None when no rule of ``KEY_TABLE`` matches."""
    return KEY_TABLE.rename(key)


def convert_state_dict(
    state: dict[str, torch.Tensor], config: Wav2VecConfig, target_state: dict[str, torch.Tensor], where: str
) -> dict[str, torch.Tensor]:
    """Rename a fairseq wav2vec state dict to ours and check it fills ``target_state`` (the model's
    ``state_dict()``) exactly (``key_mapping.map_state_dict``; ``where`` names the file in errors)."""
    state = _drop_shared_projection(state, config, where)
    # Only the last hidden layer of the Gumbel logit projection maps (``.N.weight``, not ``.N.0.weight``).
    last_hidden = config.vq_depth - 1
    other_layers = [
        key
        for key in state
        if (layer := re.fullmatch(r"vector_quantizer\.weight_proj\.(\d+)\.(weight|bias)", key))
        and int(layer.group(1)) != last_hidden
    ]
    renamed = map_state_dict(
        state, target_state, KEY_TABLE, path=where, family="wav2vec / vq-wav2vec", unknown=other_layers
    )
    require_complete(renamed, target_state, path=where)
    return renamed


def _drop_shared_projection(state: dict[str, torch.Tensor], config: Wav2VecConfig, where: str):
    """``project_features='same'`` registers the aggregator twice; its copies must be identical."""
    if config.project_features != "same":
        return state
    kept = {}
    for key, tensor in state.items():
        if key.startswith("project_features."):
            original = "feature_aggregator." + key.removeprefix("project_features.")
            if original not in state or not torch.equal(state[original], tensor):
                raise CheckpointError(
                    f"{where}: project_features='same' but {key} differs from {original} (or it is absent)."
                )
            continue
        kept[key] = tensor
    return kept


def convert_wav2vec1_checkpoint(checkpoint: FairseqCheckpoint) -> Wav2VecForPreTraining:
    """A ``Wav2VecForPreTraining`` (``VQWav2VecForPreTraining`` for vq-wav2vec) with the checkpoint's
    weights, in eval mode, the Gumbel temperature set for the checkpoint's update count.

    Raises:
        CheckpointError: no ``args``, an unsupported option, unknown or missing parameters, or shape mismatches.
    """
    if checkpoint.args is None:
        raise CheckpointError(
            f"{checkpoint.path}: no 'args' Namespace; wav2vec / vq-wav2vec checkpoints (2019/2020) carry one."
        )
    try:
        config = config_from_fairseq_args(checkpoint.args)
    except CheckpointError as error:
        raise CheckpointError(f"{checkpoint.path}: {error}") from error
    model_class: Callable[[Wav2VecConfig], Wav2VecForPreTraining] = (
        VQWav2VecForPreTraining if isinstance(config, VQWav2VecConfig) else Wav2VecForPreTraining
    )
    model = model_class(config)
    state = convert_state_dict(checkpoint.model, config, model.state_dict(), checkpoint.path)
    model.load_state_dict(state, strict=True)
    if config.vq_type == "gumbel":
        model.set_gumbel_temperature_for_step(checkpoint.num_updates)
    return model.eval()


__all__ = [
    "FAIRSEQ_ARG_DEFAULTS",
    "KEY_TABLE",
    "config_from_fairseq_args",
    "convert_state_dict",
    "convert_wav2vec1_checkpoint",
    "rename_fairseq_key",
]
