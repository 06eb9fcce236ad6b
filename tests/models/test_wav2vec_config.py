"""Wav2VecConfig / VQWav2VecConfig and the named presets."""

from __future__ import annotations

import pytest

from wav2vec_hf.models.wav2vec import VQWav2VecConfig, Wav2VecConfig
from wav2vec_hf.presets import get_preset, list_presets, register_preset

WAV2VEC_PRESETS = [
    "wav2vec-base",
    "wav2vec-large",
    "vq-wav2vec-gumbel",
    "vq-wav2vec-kmeans",
    "wav2vec-tiny",
    "vq-wav2vec-gumbel-tiny",
    "vq-wav2vec-kmeans-tiny",
]


def test_every_wav2vec_preset_is_listed_and_fresh():
    assert set(WAV2VEC_PRESETS) <= set(list_presets())
    first, second = get_preset("wav2vec-base"), get_preset("wav2vec-base")
    first.num_negatives = 99
    assert second.num_negatives == 10


def test_unknown_preset_names_the_known_ones():
    with pytest.raises(KeyError, match="wav2vec-base"):
        get_preset("wav2vec-huge")


def test_register_preset_refuses_a_taken_name():
    from wav2vec_hf.pretraining.training_recipes import PretrainingRecipe

    with pytest.raises(ValueError, match="already registered"):
        register_preset("wav2vec-base", Wav2VecConfig, recipe=PretrainingRecipe())


def test_paper_encoder_numbers():
    config = get_preset("wav2vec-base")
    assert config.receptive_field == 465  # ~30 ms at 16 kHz
    assert config.total_stride == 160  # 10 ms
    assert config.resolved_offset == 3  # ceil(465 / 160)
    assert config.frames_per_second == 100
    assert config.conv_aggregator_layers == ((512, 3, 1),) * 9
    # context receptive field: 9 layers of kernel 3 -> 19 frames; 465 + 18 * 160 samples = 210 ms
    assert config.min_input_length(19) / 16000 == pytest.approx(0.2091, abs=1e-4)
    assert (config.log_compression, config.skip_connections_agg, config.activation) == (False, False, "relu")


def test_wav2vec_large_preset_is_the_released_architecture():
    config = get_preset("wav2vec-large")
    assert [layer[1:] for layer in config.conv_feature_layers] == [
        (10, 5), (8, 4), (4, 2), (4, 2), (4, 2), (1, 1), (1, 1)
    ]  # fmt: skip
    assert [kernel for _, kernel, _ in config.conv_aggregator_layers] == list(range(2, 14))
    assert config.skip_connections_agg and config.log_compression and config.residual_scale == 0.5
    assert config.receptive_field == 465 and config.resolved_offset == 3


@pytest.mark.parametrize("name, vq_type", [("vq-wav2vec-gumbel", "gumbel"), ("vq-wav2vec-kmeans", "kmeans")])
def test_vq_wav2vec_presets(name, vq_type):
    config = get_preset(name)
    assert isinstance(config, VQWav2VecConfig) and config.model_type == "vq-wav2vec"
    assert config.vq_type == vq_type
    assert (config.vq_groups, config.vq_vars, config.combine_groups, config.vq_depth) == (2, 320, True, 2)
    assert config.num_codevector_combinations == 102_400
    assert len(config.conv_feature_layers) == 8 and config.activation == "gelu" and not config.log_compression
    assert config.vq_temp == (2.0, 0.5, 0.999995)
    assert config.kmeans_loss_weight == (1.0 if vq_type == "kmeans" else 0.0)


def test_config_survives_a_json_round_trip(tmp_path):
    config = get_preset("vq-wav2vec-kmeans-tiny")
    config.save_pretrained(tmp_path)
    again = VQWav2VecConfig.from_pretrained(tmp_path)
    assert again.to_dict() == config.to_dict()
    assert again.conv_feature_layers == config.conv_feature_layers  # tuples again, not JSON lists


def test_offset_can_be_an_int_or_auto():
    assert Wav2VecConfig(offset=5).resolved_offset == 5
    assert Wav2VecConfig(offset="7").resolved_offset == 7
    # 1x1 layers change neither the receptive field nor the hop
    assert Wav2VecConfig(conv_feature_layers=[(8, 10, 5), (8, 1, 1)]).resolved_offset == 2  # ceil(10 / 5)


def test_frame_counts_follow_the_conv_formula():
    config = get_preset("wav2vec-base")
    assert config.num_frames(464) == 0
    assert config.num_frames(465) == 1
    assert config.num_frames(16000) == 98  # fairseq's z_0 in the fixtures has 98 frames
    assert config.num_frames(12345) == 75
    for frames in (1, 2, 15, 98):
        assert config.num_frames(config.min_input_length(frames)) == frames
        assert config.num_frames(config.min_input_length(frames) - 1) == frames - 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"activation": "tanh"}, "activation"),
        ({"vq_type": "pq"}, "vq_type"),
        ({"conv_aggregator_layers": [(8, 3, 2)]}, "stride"),
        ({"conv_feature_layers": [(8, 10)]}, "triples"),
        ({"vq_type": "kmeans", "vq_dim": 256}, "vq_dim=0"),
        ({"vq_type": "gumbel", "vq_groups": 3}, "divisible"),
        ({"vq_temp": (2.0, 0.5)}, "start, end, decay"),
        ({"sample_distance": 0}, "sample_distance"),
    ],
)
def test_invalid_configs_are_refused_with_the_field_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Wav2VecConfig(**kwargs)


def test_vq_config_needs_a_quantiser():
    with pytest.raises(ValueError, match="needs a quantiser"):
        VQWav2VecConfig(vq_type="none")
