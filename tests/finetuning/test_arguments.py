"""Command-line options of fine-tuning: the recipe's defaults and transformers' options passed through."""

from __future__ import annotations

import pytest

from wav2vec_hf.finetuning.arguments import parse_args

REQUIRED = ["--model", "folder", "--train", "train.tsv", "--output_dir", "out"]


def test_defaults_are_the_recipe():
    model, data, recipe, training = parse_args(REQUIRED)
    assert (recipe.head_steps, recipe.head_learning_rate) == (200, 1e-2)
    assert recipe.tri_stage().ratios == (0.1, 0.4, 0.5) and recipe.group_by_length
    assert training.learning_rate == 0.0  # chosen from the model size at run time
    assert training.metric_for_best_model == "wer" and training.greater_is_better is False
    assert training.load_best_model_at_end
    options = model.options()
    assert options.freeze_feature_encoder is None  # decided per model: see the next test
    assert options.freeze_pretrained and options.ctc_zero_infinity
    assert (options.mask_time_prob, options.layerdrop) == (0.05, 0.05)
    assert data.normalizer().case == "upper"


def test_the_feature_encoder_is_frozen_only_when_its_weights_are_pretrained(tmp_path):
    def frozen(*arguments: str, model: str = str(tmp_path)) -> bool:
        options, *_ = parse_args(["--model", model, "--train", "t.tsv", "--output_dir", "o", *arguments])
        return options.options().resolved(model).freeze_feature_encoder

    assert frozen()  # a pretrained folder: the paper's recipe
    assert not frozen("--from_scratch")  # random conv features must learn
    assert not frozen(model="wav2vec2-tiny")  # a preset name means random weights
    assert frozen("--from_scratch", "--freeze_feature_encoder", "true")  # an explicit choice stands
    assert not frozen("--freeze_feature_encoder", "false")


def test_transformers_options_pass_through():
    _, _, _, training = parse_args(
        [*REQUIRED, "--push_to_hub", "--hub_model_id", "me/wav2vec2-digits", "--learning_rate", "3e-5"]
    )
    assert training.push_to_hub and training.hub_model_id == "me/wav2vec2-digits"
    assert training.learning_rate == 3e-5


def test_head_layers_are_read_safely():
    model, *_ = parse_args([*REQUIRED, "--head_layers", "[(256, 5)] * 3", "--head_activation", "glu"])
    assert model.options().head_layers == [(256, 5)] * 3
    model, *_ = parse_args([*REQUIRED, "--head_layers", "__import__('os').system('true')"])
    with pytest.raises(ValueError, match="head_layers"):
        model.options()


def test_without_checkpoints_the_last_model_is_kept():
    *_, training = parse_args([*REQUIRED, "--save_strategy", "no"])
    assert not training.load_best_model_at_end
