"""The wav2vec / vq-wav2vec converter: Namespace defaults of the time, key table, loud failures.

Sizes (channels, kernels, layer counts, codebook sizes, prediction steps) come from each fixture's
own ``config.json`` Namespace and state dict, never from literals, so the tests also pass on another
fairseq-made fixture set (``WAV2VEC_HF_FAIRSEQ_FIXTURES``) with other sizes.
"""

from __future__ import annotations

import ast
import dataclasses

import numpy as np
import pytest
import torch

from tests.helpers import fairseq_fixture_config, fairseq_layer_spec
from wav2vec_hf.convert.checkpoint import CheckpointError, load_fairseq_checkpoint
from wav2vec_hf.convert.wav2vec1 import (
    KEY_TABLE,
    config_from_fairseq_args,
    convert_wav2vec1_checkpoint,
    rename_fairseq_key,
)
from wav2vec_hf.models.wav2vec import VQWav2VecConfig, VQWav2VecForPreTraining, Wav2VecConfig


@pytest.fixture(scope="module")
def wav2vec_checkpoint(fairseq_fixtures_dir):
    return load_fairseq_checkpoint(fairseq_fixtures_dir / "wav2vec" / "model.pt")


@pytest.fixture(scope="module")
def gumbel_checkpoint(fairseq_fixtures_dir):
    return load_fairseq_checkpoint(fairseq_fixtures_dir / "vq_wav2vec_gumbel" / "model.pt")


@pytest.fixture(scope="module")
def wav2vec_namespace(fairseq_fixtures_dir) -> dict:
    """The wav2vec fixture's exact fairseq Namespace (config.json): the expected sizes."""
    return fairseq_fixture_config(fairseq_fixtures_dir / "wav2vec")["namespace"]


@pytest.fixture(scope="module")
def gumbel_config(fairseq_fixtures_dir) -> dict:
    """The vq_wav2vec_gumbel fixture's config.json (Namespace under ``namespace``, ``num_updates``)."""
    return fairseq_fixture_config(fairseq_fixtures_dir / "vq_wav2vec_gumbel")


def _variant(checkpoint, *, args=None, model=None, num_updates=None):
    return dataclasses.replace(
        checkpoint,
        args=dict(checkpoint.args) if args is None else args,
        model=dict(checkpoint.model) if model is None else model,
        num_updates=checkpoint.num_updates if num_updates is None else num_updates,
    )


def test_june_2019_namespace_gets_the_defaults_of_its_time(
    wav2vec_checkpoint, wav2vec_namespace, fairseq_fixtures_dir
):
    args = wav2vec_checkpoint.args
    assert "activation" not in args and "vq_type" not in args  # the 2019 key set
    config = config_from_fairseq_args(args)
    assert type(config) is Wav2VecConfig
    assert (config.activation, config.vq_type, config.combine_groups) == ("relu", "none", False)
    assert config.log_compression and config.skip_connections_agg  # read from args, not defaulted
    # The layer specs are the Namespace's expression strings, evaluated (with the 1x1 layers).
    assert config.conv_feature_layers == tuple(fairseq_layer_spec(wav2vec_namespace["conv_feature_layers"]))
    assert config.conv_aggregator_layers == tuple(
        fairseq_layer_spec(wav2vec_namespace["conv_aggregator_layers"])
    )
    # 2019: cross_sample_negatives is a bool; False keeps num_negatives and draws none across the batch.
    assert wav2vec_namespace["cross_sample_negatives"] is False
    assert (config.num_negatives, config.cross_sample_negatives, config.prediction_steps) == (
        wav2vec_namespace["num_negatives"],
        0,
        wav2vec_namespace["prediction_steps"],
    )
    with np.load(fairseq_fixtures_dir / "wav2vec" / "expected.npz") as expected:
        fairseq_offset = int(expected["offset"])  # what fairseq resolved "auto" to
    assert config.offset == "auto" and config.resolved_offset == fairseq_offset
    assert config.diversity_loss_weight == 0 and config.kmeans_loss_weight == 0


def test_an_almost_empty_namespace_uses_base_wav2vec_architecture():
    config = config_from_fairseq_args({"arch": "wav2vec"})
    assert len(config.conv_feature_layers) == 5 and config.conv_feature_layers[0] == (512, 10, 5)
    assert config.conv_aggregator_layers == ((512, 3, 1),) * 9
    # fairseq's 2019/2020 defaults, NOT today's dataclass defaults (True for both)
    assert config.log_compression is False and config.skip_connections_agg is False
    assert config.num_negatives == 1 and config.activation == "relu" and config.conv_bias


def test_boolean_cross_sample_negatives_of_2019_draw_all_negatives_from_the_batch():
    config = config_from_fairseq_args({"num_negatives": 10, "cross_sample_negatives": True})
    assert (config.num_negatives, config.cross_sample_negatives) == (0, 10)
    config = config_from_fairseq_args({"num_negatives": 10, "cross_sample_negatives": 3})
    assert (config.num_negatives, config.cross_sample_negatives) == (10, 3)


def test_vq_options_and_loss_weights(gumbel_checkpoint, gumbel_config):
    namespace = gumbel_config["namespace"]
    groups, per_group = namespace["vq_groups"], namespace["vq_vars"]
    config = config_from_fairseq_args(gumbel_checkpoint.args)
    assert isinstance(config, VQWav2VecConfig)
    assert (config.vq_type, config.vq_groups, config.vq_vars, config.vq_depth) == (
        "gumbel",
        groups,
        per_group,
        namespace["vq_depth"],
    )
    assert config.vq_temp == ast.literal_eval(namespace["vq_temp"]) and config.combine_groups
    assert config.diversity_loss_weight == 0  # the README's Gumbel command set no --loss-weights
    weighted = config_from_fairseq_args(gumbel_checkpoint.args | {"loss_weights": "[0.5]"})
    assert weighted.diversity_loss_weight == 0.5 * groups * per_group  # fairseq's term is not divided by G V
    kmeans = config_from_fairseq_args(gumbel_checkpoint.args | {"vq_type": "kmeans", "loss_weights": "[1]"})
    assert (kmeans.kmeans_loss_weight, kmeans.diversity_loss_weight) == (1.0, 0.0)


def test_converted_model_type_and_temperature(gumbel_checkpoint, gumbel_config):
    start, end, decay = ast.literal_eval(gumbel_config["namespace"]["vq_temp"])
    model = convert_wav2vec1_checkpoint(gumbel_checkpoint)
    assert isinstance(model, VQWav2VecForPreTraining) and not model.training
    # fairseq's schedule after the checkpoint's updates (400k in the public set: the floor, 0.5)
    expected = max(end, start * decay ** gumbel_config["num_updates"])
    assert model.wav2vec.quantizer.temperature == pytest.approx(expected)
    early = convert_wav2vec1_checkpoint(_variant(gumbel_checkpoint, num_updates=1000))
    assert early.wav2vec.quantizer.temperature == pytest.approx(max(end, start * decay**1000))


def test_every_fixture_key_has_a_rule(wav2vec_checkpoint, gumbel_checkpoint):
    assert (
        rename_fairseq_key("feature_extractor.conv_layers.3.2.bias")
        == "wav2vec.feature_extractor.conv_layers.3.norm.bias"
    )
    assert (
        rename_fairseq_key("vector_quantizer.weight_proj.0.0.weight")
        == "wav2vec.quantizer.hidden_layers.0.weight"
    )
    assert (
        rename_fairseq_key("vector_quantizer.weight_proj.weight")
        == "wav2vec.quantizer.logit_projection.weight"
    )
    assert rename_fairseq_key("wav2vec_predictions.project_to_steps.bias") == "step_projection.bias"
    assert rename_fairseq_key("feature_aggregator.residual_proj.4.weight") == (
        "wav2vec.context_network.layers.4.residual_projection.weight"
    )
    assert rename_fairseq_key("decoder.weight") is None
    for checkpoint in (wav2vec_checkpoint, gumbel_checkpoint):
        assert all(rename_fairseq_key(key) for key in checkpoint.model)
    assert len(KEY_TABLE) > 10


def test_unknown_keys_are_an_error_that_lists_them(wav2vec_checkpoint):
    model = dict(wav2vec_checkpoint.model) | {
        "mystery.weight": torch.zeros(3),
        "feature_aggregator.extra": torch.zeros(1),
    }
    with pytest.raises(
        CheckpointError, match=r"unknown fairseq keys: \['feature_aggregator\.extra', 'mystery\.weight'\]"
    ):
        convert_wav2vec1_checkpoint(_variant(wav2vec_checkpoint, model=model))


def test_missing_keys_are_an_error_that_lists_them(wav2vec_checkpoint, wav2vec_namespace):
    last = len(fairseq_layer_spec(wav2vec_namespace["conv_aggregator_layers"])) - 1
    model = dict(wav2vec_checkpoint.model)
    del model[f"feature_aggregator.conv_layers.{last}.3.bias"]
    with pytest.raises(
        CheckpointError,
        match=rf"no weights for these parameters: \['wav2vec\.context_network\.layers\.{last}\.norm\.bias'\]",
    ):
        convert_wav2vec1_checkpoint(_variant(wav2vec_checkpoint, model=model))


def test_keys_of_a_different_architecture_are_an_error(wav2vec_checkpoint, wav2vec_namespace):
    # the args say n aggregator layers, the weights say n + 1 (one more, with a kernel one longer)
    n = len(fairseq_layer_spec(wav2vec_namespace["conv_aggregator_layers"]))
    model = dict(wav2vec_checkpoint.model)
    channels, _, kernel = model[f"feature_aggregator.conv_layers.{n - 1}.1.weight"].shape
    model[f"feature_aggregator.conv_layers.{n}.1.weight"] = torch.zeros(channels, channels, kernel + 1)
    with pytest.raises(
        CheckpointError,
        match=rf"-> wav2vec\.context_network\.layers\.{n}\.conv\.weight, which the model lacks",
    ):
        convert_wav2vec1_checkpoint(_variant(wav2vec_checkpoint, model=model))


def test_shape_mismatches_are_an_error(wav2vec_checkpoint):
    model = dict(wav2vec_checkpoint.model)
    # (C_agg, C, 1, prediction_steps) with one step fewer
    *leading, steps = model["wav2vec_predictions.project_to_steps.weight"].shape
    model["wav2vec_predictions.project_to_steps.weight"] = torch.zeros(*leading, steps - 1)
    with pytest.raises(CheckpointError, match=r"shape mismatches.*project_to_steps|step_projection\.weight"):
        convert_wav2vec1_checkpoint(_variant(wav2vec_checkpoint, model=model))


def test_a_deeper_weight_proj_index_than_the_args_say_is_refused(gumbel_checkpoint, gumbel_config):
    depth = gumbel_config["namespace"]["vq_depth"]  # weight_proj.0 ... weight_proj.{depth - 1}
    assert depth >= 2, "this test needs the README's vq_depth 2 (indexed weight_proj keys)"
    model = dict(gumbel_checkpoint.model)
    model[f"vector_quantizer.weight_proj.{depth}.weight"] = model.pop(
        f"vector_quantizer.weight_proj.{depth - 1}.weight"
    )
    with pytest.raises(CheckpointError, match=rf"weight_proj\.{depth}\.weight"):
        convert_wav2vec1_checkpoint(_variant(gumbel_checkpoint, model=model))


@pytest.mark.parametrize(
    "args, message",
    [
        ({"aggregator": "gru"}, "batch axis"),
        ({"encoder": "lstm"}, "cnn"),
        ({"conv_feature_layers": "__import__('os').system('true')"}, "does not allow"),
        ({"activation": "swish"}, "activation"),
    ],
)
def test_unsupported_options_are_refused(args, message):
    with pytest.raises(CheckpointError, match=message):
        config_from_fairseq_args(args)


def test_project_features_same_drops_the_identical_copy(wav2vec_checkpoint):
    args = dict(wav2vec_checkpoint.args) | {"project_features": "same"}
    copies = {
        key.replace("feature_aggregator.", "project_features.", 1): value
        for key, value in wav2vec_checkpoint.model.items()
        if key.startswith("feature_aggregator.")
    }
    model = convert_wav2vec1_checkpoint(
        _variant(wav2vec_checkpoint, args=args, model=wav2vec_checkpoint.model | copies)
    )
    assert model.target_projection is None and model.config.project_features == "same"
    broken = dict(copies)
    first = next(iter(broken))
    broken[first] = broken[first] + 1
    with pytest.raises(CheckpointError, match="differs"):
        convert_wav2vec1_checkpoint(
            _variant(wav2vec_checkpoint, args=args, model=wav2vec_checkpoint.model | broken)
        )


def test_checkpoint_without_args_is_refused(wav2vec_checkpoint):
    with pytest.raises(CheckpointError, match="no 'args'"):
        convert_wav2vec1_checkpoint(dataclasses.replace(wav2vec_checkpoint, args=None, cfg={"model": {}}))
